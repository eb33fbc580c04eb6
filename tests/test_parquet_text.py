"""Text in a Parquet input file is landed as the text it is, and text that is not UTF-8 is
quarantined record by record, as in a JSON file (contract §3: input that is not valid UTF-8 is
rejected with its reason, never stored altered; one record never takes others down with it).

A BYTE_ARRAY column without the UTF-8 annotation (pyarrow's `binary`, what several writers use
for text) used to be stored as DuckDB's escaped form of its bytes: "café" as "caf\\xC3\\xA9".
A string column holding bytes that are not UTF-8 failed the whole file with a bare
"'utf-8' codec can't decode byte 0xff" and landed nothing.
"""

from __future__ import annotations

import codecs
import json

import pyarrow as pa
import pyarrow.parquet as pq
from conftest import run_main

TS = 1771247400000  # 2026-02-16T13:10:00Z, epoch milliseconds


def _ingest(capsys, lake, path) -> dict:
    code, out, err = run_main(capsys, "ingest", str(path), "--lake", str(lake.root),
                              "--now", "2026-02-16T14:30:00Z", "--json")
    assert code == 0, err
    return json.loads(out)


def _stored(lake) -> dict:
    files = sorted((lake.root / "events").rglob("*.parquet"))
    rows = [r for f in files for r in pq.read_table(f).to_pylist()]
    return {r["event_id"]: r for r in rows}


def _quarantined(lake) -> list[dict]:
    files = sorted((lake.root / "quarantine").rglob("*.parquet"))
    return [r for f in files for r in pq.read_table(f).select(["raw", "reason"]).to_pylist()]


def test_text_in_binary_columns_is_stored_as_that_text(capsys, lake, tmp_path):
    path = tmp_path / "binary.parquet"
    pq.write_table(pa.table({
        "event_id": pa.array([b"caf\xc3\xa9", b'a"b\\c']),
        "event_type": pa.array([b"transcription_failed"] * 2),
        "timestamp": [TS, TS],
        "organization_id": pa.array([b"org-\xe2\x82\xac", None]),
        "error_message": pa.array([b"line one\nline two", b"\xe6\x97\xa5\xe6\x9c\xac"]),
    }), path)
    assert _ingest(capsys, lake, path)["accepted"] == 2
    stored = _stored(lake)
    assert sorted(stored) == ["a\"b\\c", "café"]
    assert stored["café"]["organization_id"] == "org-€"
    assert stored["café"]["error_message"] == "line one\nline two"
    assert stored["café"]["pipeline_stage"] == "transcription"
    assert stored['a"b\\c']["organization_id"] is None
    assert stored['a"b\\c']["error_message"] == "日本"


def test_bytes_that_are_not_utf8_are_quarantined_alone(capsys, lake, tmp_path):
    path = tmp_path / "not_utf8.parquet"
    # a string column whose writer put bytes that are not UTF-8 in it, and a binary column
    ids = pa.array([b"ok-1", b"bad\xff\xfe", b"ok-2", b"ok-3"]).view(pa.string())
    pq.write_table(pa.table({
        "event_id": ids,
        "event_type": ["artifact_received"] * 4,
        "timestamp": [TS] * 4,
        "artifact_id": pa.array([b"a1", b"a2", b"a\"\\\x01\xc3", None]),
    }), path)
    result = _ingest(capsys, lake, path)
    assert (result["accepted"], result["quarantined"]) == (2, 2)
    assert sorted(_stored(lake)) == ["ok-1", "ok-3"]
    rejects = {}
    for reject in _quarantined(lake):
        assert reject["reason"].startswith("record is not valid UTF-8 (byte 0x"), reject
        # raw keeps the record's bytes (\xNN, backslashes doubled): they come back exactly
        record = json.loads(codecs.escape_decode(reject["raw"].encode())[0]
                            .decode("utf-8", "surrogateescape"))
        rejects[record["event_id"].encode("utf-8", "surrogateescape")] = record
    assert sorted(rejects) == [b"bad\xff\xfe", b"ok-2"]
    assert rejects[b"ok-2"]["artifact_id"].encode("utf-8", "surrogateescape") == b'a"\\\x01\xc3'
    assert rejects[b"ok-2"]["timestamp"] == TS


def test_text_inside_a_metadata_map_is_treated_as_at_top_level(capsys, lake, tmp_path):
    # metadata as map<string, binary>: 'café' was stored as 'caf\xC3\xA9' and 'a"b' as 'a\x22b'
    # (the struct's children were looked at, a map's values were not); a map<string, string>
    # value that is not UTF-8 was quarantined as "record is not valid JSON" with an empty raw,
    # the bytes lost, instead of "not valid UTF-8" with them kept, as a top-level column is
    path = tmp_path / "map.parquet"
    binary = pa.array([[("ai_model", "café".encode()), ("note", b'a"b')]],
                      pa.map_(pa.string(), pa.binary()))
    pq.write_table(pa.table({"event_id": ["m-text"], "event_type": ["artifact_received"],
                             "timestamp": [TS], "metadata": binary}), path)
    assert _ingest(capsys, lake, path)["accepted"] == 1
    stored = _stored(lake)["m-text"]
    assert stored["ai_model"] == "café"
    assert json.loads(stored["metadata"]) == {"note": 'a"b'}

    path = tmp_path / "map_bad.parquet"
    items = pa.array([b"gpt", b"g\xffpt"]).view(pa.string())  # a writer broke the annotation
    strings = pa.MapArray.from_arrays(pa.array([0, 1, 2], pa.int32()),
                                      pa.array(["ai_model", "ai_model"]), items)
    pq.write_table(pa.table({"event_id": ["m-ok", "m-bad"], "event_type": ["artifact_received"] * 2,
                             "timestamp": [TS] * 2, "metadata": strings}), path)
    result = _ingest(capsys, lake, path)
    assert (result["accepted"], result["quarantined"]) == (1, 1)
    assert _stored(lake)["m-ok"]["ai_model"] == "gpt"
    [reject] = _quarantined(lake)
    assert reject["reason"].startswith("record is not valid UTF-8 (byte 0x"), reject
    record = json.loads(codecs.escape_decode(reject["raw"].encode())[0]
                        .decode("utf-8", "surrogateescape"))
    assert record["event_id"] == "m-bad"
    assert record["metadata"]["ai_model"].encode("utf-8", "surrogateescape") == b"g\xffpt"
