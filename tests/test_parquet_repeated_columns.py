"""A Parquet input file whose schema names a column twice is a record with a repeated
top-level key in every row, and is quarantined as a JSON record with one is (contract §3: a
repeated top-level key is rejected with its reason, never stored altered).

pyarrow (and other writers) let a file name `event_id` twice. Its rows used to land with the
first column's value, the second dropped unsaid: a row holding "dup1" and "dupx" as its two
event_ids was stored as "dup1".
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
from conftest import run_main

TS = pa.array([1771247400000] * 2, pa.int64())  # 2026-02-16T13:10:00Z, epoch milliseconds


def _ingest(capsys, lake, path) -> dict:
    code, out, err = run_main(capsys, "ingest", str(path), "--lake", str(lake.root),
                              "--now", "2026-02-16T14:30:00Z", "--json")
    assert code == 0, err
    return json.loads(out)


def _rows(lake, table: str, columns=None) -> list[dict]:
    files = sorted((lake.root / table).rglob("*.parquet"))
    return [r for f in files for r in pq.read_table(f, columns=columns).to_pylist()]


def _write(path, columns: list[pa.Array], names: list[str]) -> None:
    pq.write_table(pa.Table.from_arrays(columns, names=names), path)


def test_a_column_named_twice_quarantines_every_row_naming_the_key(capsys, lake, tmp_path):
    path = tmp_path / "twice.parquet"
    _write(path, [pa.array(["dup1", "dup2"]), pa.array(["dupx", "dup2"]),
                  pa.array(["artifact_received"] * 2), TS],
           ["event_id", "event_id", "event_type", "timestamp"])
    result = _ingest(capsys, lake, path)
    assert (result["accepted"], result["quarantined"]) == (0, 2)
    assert _rows(lake, "events") == []
    quarantined = sorted(_rows(lake, "quarantine", ["raw", "reason"]), key=lambda r: r["raw"])
    assert [r["reason"] for r in quarantined] == ['record repeats the top-level key "event_id"'] * 2
    # the raw text keeps both values, in the file's column order
    assert quarantined[0]["raw"].startswith('{"event_id":"dup1","event_id":"dupx",')
    assert quarantined[1]["raw"].startswith('{"event_id":"dup2","event_id":"dup2",')


def test_an_unknown_column_named_twice_is_a_repeated_key_too(capsys, lake, tmp_path):
    # as in JSON, where {"note": 1, "note": 2} is refused though `note` is no known field
    path = tmp_path / "note.parquet"
    _write(path, [pa.array(["n1", "n2"]), pa.array(["artifact_received"] * 2), TS,
                  pa.array([1, 2]), pa.array([3, 4])],
           ["event_id", "event_type", "timestamp", "note", "note"])
    result = _ingest(capsys, lake, path)
    assert (result["accepted"], result["quarantined"]) == (0, 2)
    reasons = {r["reason"] for r in _rows(lake, "quarantine", ["reason"])}
    assert reasons == {'record repeats the top-level key "note"'}


def test_distinct_columns_still_land(capsys, lake, tmp_path):
    path = tmp_path / "once.parquet"
    _write(path, [pa.array(["o1", "o2"]), pa.array(["artifact_received"] * 2), TS],
           ["event_id", "event_type", "timestamp"])
    assert _ingest(capsys, lake, path)["accepted"] == 2
    assert sorted(r["event_id"] for r in _rows(lake, "events")) == ["o1", "o2"]


def test_a_metadata_struct_naming_a_field_twice_is_a_repeated_key(capsys, lake, tmp_path):
    # {"claim_count": 1, "claim_count": 3} in JSON; it landed with claim_count and metadata
    # both null: neither value kept, nothing said
    path = tmp_path / "struct.parquet"
    metadata = pa.StructArray.from_arrays([pa.array([1, 2]), pa.array([3, 2])],
                                          names=["claim_count", "claim_count"])
    _write(path, [pa.array(["s1", "s2"]), pa.array(["claims_extracted"] * 2), TS, metadata],
           ["event_id", "event_type", "timestamp", "metadata"])
    result = _ingest(capsys, lake, path)
    assert (result["accepted"], result["quarantined"]) == (0, 2)
    quarantined = sorted(_rows(lake, "quarantine", ["raw", "reason"]), key=lambda r: r["raw"])
    assert [r["reason"] for r in quarantined] == [
        'metadata {"claim_count":1,"claim_count":3} repeats a key',
        'metadata {"claim_count":2,"claim_count":2} repeats a key']


def test_a_metadata_map_repeating_a_key_is_quarantined_alone(capsys, lake, tmp_path):
    # a map may hold a key twice in a row; DuckDB refuses such a map, which failed the whole
    # file ("Arrow map contains duplicate key") and landed none of its rows
    path = tmp_path / "map.parquet"
    metadata = pa.array([[("source_channel", "app"), ("source_channel", "web")],
                         [("source_channel", "app")]], pa.map_(pa.string(), pa.string()))
    _write(path, [pa.array(["m1", "m2"]), pa.array(["artifact_received"] * 2), TS, metadata],
           ["event_id", "event_type", "timestamp", "metadata"])
    result = _ingest(capsys, lake, path)
    assert (result["accepted"], result["quarantined"]) == (1, 1)
    assert [(r["event_id"], r["source_channel"]) for r in _rows(lake, "events")] == [("m2", "app")]
    assert [r["reason"] for r in _rows(lake, "quarantine", ["reason"])] == [
        'metadata {"source_channel":"app","source_channel":"web"} repeats a key']
