"""Input read in batches: the same records, in the same order, as reading the whole file,
whatever the batch size; and landing batch by batch gives the totals of one landing."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from faultgen import NOW
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voice_monitor.lake import Lake
from voice_monitor.landing import InputFileError, ingest_file, land_lines
from voice_monitor.records import split_file
from voice_monitor.streaming import ahead, read_batches

# pieces of JSON text that stress the cutting: strings holding brackets, commas, quotes,
# backslashes and newlines (escaped), nesting, blanks, CRLF, empty elements
PIECES = [b'{"a": 1}', b'{"s": "x,]}\\"[{"}', b'{"s": "\\\\"}', b'{"n": [1, {"b": [2]}]}', b'"str"',
          b"12", b"[]", b"{}", b"", b" ", b"\t", b"\r", b"{\"a\": \"\\n\"}", b"nul\x00", b"\xff\xfe",
          b'{"x": "\xc3\xa9"}']
SEPARATORS = [b"\n", b"\r\n", b"\n\n", b" \n", b"\n  \t\n"]


def _records(path: Path, batch_bytes: int) -> list[bytes]:
    found = []
    for batch in read_batches(path, batch_bytes):
        records = batch.to_pylist()
        if getattr(batch, "joined", None) is not None:  # the file's text of them, given as is
            assert batch.joined.to_pybytes() == b"".join(r + b"\n" for r in records)
        found += records
    return found


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(st.tuples(st.sampled_from(PIECES), st.sampled_from(SEPARATORS)), max_size=12),
       bom=st.booleans(), tail=st.booleans(), batch=st.integers(1, 40))
def test_json_lines_in_batches_are_the_whole_file(tmp_path, parts, bom, tail, batch):
    data = (b"\xef\xbb\xbf" if bom else b"") + b"".join(p + s for p, s in parts)
    if parts and not tail:
        data = data.rstrip(b"\r\n")
    if data.lstrip()[:1] == b"[":
        data = b"{}\n" + data  # an array is the other test's
    path = tmp_path / "in.jsonl"
    path.write_bytes(data)
    assert _records(path, batch) == split_file(data).to_pylist()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(elements=st.lists(st.sampled_from(PIECES), max_size=10),
       blanks=st.lists(st.sampled_from([b"", b" ", b"\n", b"\r\n\t"]), min_size=12, max_size=12),
       breakage=st.sampled_from([b"", b"", b"", b"]", b"x", b"[", b"{", b'"', b"}"]),
       batch=st.integers(1, 40))
def test_json_arrays_in_batches_are_the_whole_file(tmp_path, elements, blanks, breakage, batch):
    body = b",".join(blanks[i] + e + blanks[i + 1] for i, e in enumerate(elements))
    data = blanks[-1] + b"[" + body + b"]" + blanks[-2] + breakage
    path = tmp_path / "in.json"
    path.write_bytes(data)
    assert _records(path, batch) == split_file(data).to_pylist()


def test_an_array_with_an_unbalanced_string_is_one_record(tmp_path):
    data = b'[{"a": 1}, {"b": "never ends}]\n'
    path = tmp_path / "in.json"
    path.write_bytes(data)
    assert _records(path, 4) == [data]


def _event(i: int, minute: int) -> dict:
    return {"eventId": f"e-{i}", "eventType": "artifact_received",
            "timestamp": f"2026-02-16T{10 + minute // 60:02d}:{minute % 60:02d}:00Z"}


def test_batches_land_like_one_landing(tmp_path):
    # 40 events over two hours; e-3 and e-30 come again later in the file (the same hour: a
    # duplicate each), e-5 again at another hour (not a copy: a copy is the same id in the same
    # hour), plus two bad lines
    events = [_event(i, i * 3) for i in range(40)]
    lines = [json.dumps(e) for e in events]
    lines += [json.dumps(_event(3, 9)), "not json", json.dumps(_event(30, 90)),
              json.dumps(_event(5, 100)), '{"eventId": "x"}']
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n")
    small, whole = Lake(tmp_path / "small"), Lake(tmp_path / "whole")
    by_batch = ingest_file(small, path, now=NOW, batch_bytes=300)  # several lines per batch
    at_once = ingest_file(whole, path, now=NOW)
    assert (by_batch.accepted, by_batch.duplicates, by_batch.quarantined) == (43, 2, 2)
    assert by_batch.as_dict() == at_once.as_dict()
    assert by_batch.reasons == at_once.reasons
    assert len(list(small.events_dir.rglob("*.parquet"))) > 2  # it did land in several batches


def test_parquet_is_read_a_row_batch_at_a_time(tmp_path):
    table = pa.table({"eventId": [f"p-{i}" for i in range(25)],
                      "eventType": ["artifact_received"] * 25,
                      "timestamp": pa.array([1771236000000 + i for i in range(25)], pa.int64())})
    path = tmp_path / "in.parquet"
    pq.write_table(table, path, row_group_size=10)
    batches = list(read_batches(path))
    assert sum(len(b) for b in batches) == 25
    result = ingest_file(Lake(tmp_path / "lake"), path, now=NOW)
    assert (result.accepted, result.quarantined) == (25, 0)


def test_an_unreadable_file_fails_before_anything_lands(tmp_path):
    lake = Lake(tmp_path / "lake")
    with pytest.raises(InputFileError, match="cannot read .*missing.jsonl"):
        ingest_file(lake, tmp_path / "missing.jsonl", now=NOW)
    assert not list(lake.root.rglob("*.parquet"))


def test_hour_files_dictionary_encode_only_the_few_valued_columns(tmp_path):
    records = [json.dumps({"eventId": f"d-{i}", "eventType": "transcription_failed",
                           "timestamp": "2026-02-16T13:00:00Z", "organizationId": "org-1",
                           "errorCode": "E_TIMEOUT", "errorMessage": "timed out"}) for i in range(100)]
    lake = Lake(tmp_path / "lake")
    assert land_lines(lake, records, "t", NOW).accepted == 100
    [path] = list(lake.events_dir.rglob("*.parquet"))
    meta = pq.ParquetFile(path).metadata
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    dictionary = {name for i, name in enumerate(names)
                  if any("DICTIONARY" in e for e in meta.row_group(0).column(i).encodings)}
    assert {"event_type", "organization_id", "error_code", "error_message"} <= dictionary
    assert not {"event_id", "timestamp", "ingested_at"} & dictionary
    assert pq.read_table(path).column("event_id").to_pylist() == [f"d-{i}" for i in range(100)]


def test_ahead_keeps_order_and_at_most_two_in_memory():
    made, taken = [], []

    def items():
        for i in range(6):
            made.append(i)
            yield i

    for item in ahead(items()):
        time.sleep(0.05)  # time for the thread to run ahead, were it allowed to
        # while the caller holds item i, only i + 1 may have been made
        assert max(made) <= item + 1
        taken.append(item)
    assert taken == list(range(6))


def test_ahead_raises_the_error_in_place_and_stops_when_the_caller_does():
    def failing():
        yield 1
        raise OSError("disk gone")

    got = []
    with pytest.raises(OSError, match="disk gone"):
        for item in ahead(failing()):
            got.append(item)
    assert got == [1]

    closed = threading.Event()

    def endless():
        try:
            n = 0
            while True:
                n += 1
                yield n
        finally:
            closed.set()

    before = threading.active_count()
    for item in ahead(endless()):
        if item == 3:
            break
    assert closed.wait(5)  # the generator was closed, on its thread
    assert threading.active_count() == before


def test_a_file_ingested_ahead_lands_as_its_batches_would_one_by_one(tmp_path):
    # batches of ~200 bytes: validation runs ahead of the landing of the batch before; copies
    # in later batches are still duplicates of earlier ones, quarantine keeps file order
    lines = [json.dumps({"event_id": f"e{i % 40}", "event_type": "artifact_received",
                         "timestamp": "2026-02-16T14:00:00Z"}) for i in range(60)]
    lines[7] = '{"event_id": "bad", "event_type": "nope", "timestamp": "2026-02-16T14:00:00Z"}'
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines))
    lake = Lake.create(tmp_path / "lake")
    result = ingest_file(lake, path, now=NOW, batch_bytes=200)
    # lines 40-59 copy e0..e19: duplicates, except e7 (its first line is the bad one)
    assert (result.accepted, result.duplicates, result.quarantined) == (59, 19, 1)
