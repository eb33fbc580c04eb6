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


def test_a_pretty_printed_object_in_batches_is_one_record_as_in_one_body(tmp_path):
    pretty = b'{\n  "a": 1,\n  "s": "x,]}",\n  "n": {\n    "b": [2]\n  }\n}'
    one = [b'{\n  "a": 1,\n  "s": "x,]}",\n  "n": {\n    "b": [2]\n  }\n}']
    path = tmp_path / "in.jsonl"
    cases = {
        pretty: one,
        b"\xef\xbb\xbf \n\r\n" + pretty + b"\n\n": one,  # a BOM, blank lines around it
        b'{\n{"a": 1}\n': [b"{", b'{"a": 1}'],  # a broken first line: JSON Lines
        pretty + b"\n" + pretty: pretty.split(b"\n") * 2,  # two objects are not one
    }
    for data, expected in cases.items():
        path.write_bytes(data)
        assert split_file(data).to_pylist() == expected
        for batch in (1, 7, 1 << 20):
            assert _records(path, batch) == expected


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


def _quarantined(lake: Lake) -> list[tuple[str, str, str]]:
    import duckdb

    return duckdb.connect().execute(
        "select raw, reason, reason_category from read_parquet($f) order by reason",
        {"f": str(lake.quarantine_dir / "*" / "*.parquet")}).fetchall()


def test_a_line_longer_than_a_batch_is_read_whole_and_one_over_the_cap_from_its_head(
        tmp_path, monkeypatch):
    # a line longer than a batch was gathered by copying all of it again at each read
    # (quadratic) and held whole however long (100 MB without a newline: all in memory). Up to
    # MAX_LINE_BYTES (the collector's body cap) it is still read whole and quarantined raw as it
    # is; a longer one is quarantined from its first 64 KiB, with its size and place
    monkeypatch.setattr("voice_monitor.streaming.MAX_LINE_BYTES", 300_000)
    long = json.dumps({**_event(1, 1), "pad": "a" * 200_000})  # 200,0xx bytes: under the cap
    huge = '{"eventId": "h", "pad": "' + "é" * 500_000 + '"}'  # 1,000,027 bytes: over
    tail = '{"eventId": "t", "pad": "' + "b" * 400_000  # the last line, no newline, over
    lines = [json.dumps(_event(0, 0)), long, huge, " " * 400_000, json.dumps(_event(2, 2)), tail]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines))
    lake = Lake(tmp_path / "lake")
    result = ingest_file(lake, path, now=NOW, batch_bytes=1 << 16)
    assert (result.accepted, result.quarantined) == (2, 3)  # the blank line is no record
    start_of = {name: len("\n".join(lines[:i]).encode()) + 1 for i, name in ((2, "huge"), (5, "tail"))}
    head = huge.encode()[:65_535].decode()  # 25 bytes, then 32,755 two-byte é (1 byte cut off)
    assert _quarantined(lake) == sorted([
        (long, f"record is {len(long):,} bytes, over the limit of 65,536 bytes (64 KiB)",
         "too_large"),
        (head, "record is 1,000,027 bytes, over the limit of 65,536 bytes (64 KiB); longer "
               "than 300,000 bytes, the most a line is read whole, so raw keeps its first "
               f"65,535 bytes; the line starts at byte {start_of['huge']:,} of the input",
         "too_large"),
        (tail[:65_536], f"record is {len(tail):,} bytes, over the limit of 65,536 bytes (64 KiB);"
                        " longer than 300,000 bytes, the most a line is read whole, so raw keeps "
                        f"its first 65,536 bytes; the line starts at byte {start_of['tail']:,} of "
                        "the input", "too_large")], key=lambda row: row[1])


def test_a_line_of_100_mb_without_a_newline_is_never_held_whole(tmp_path):
    import tracemalloc

    from voice_monitor.streaming import MAX_LINE_BYTES

    path = tmp_path / "one.jsonl"
    with path.open("wb") as f:
        f.write(b'{"eventId": "x", "pad": "')
        for _ in range(100):
            f.write(b"z" * 1_000_000)
    pieces = []
    tracemalloc.start()
    try:
        for batch in read_batches(path, batch_bytes=1 << 20):
            pieces.append(batch)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    (rejected,) = [r for batch in pieces for r in (batch if isinstance(batch, list) else
                                                   batch.to_pylist())]
    assert rejected.raw == '{"eventId": "x", "pad": "' + "z" * (65_536 - 25)
    assert rejected.reason.startswith("record is 100,000,025 bytes, over the limit of 65,536 bytes")
    # held up to MAX_LINE_BYTES (16 MiB) while it might still end, then only its head: not
    # 100 MB and its copies (the reads joined again at each one: over 200 MB)
    assert peak < MAX_LINE_BYTES + 8_000_000


def test_a_line_over_the_cap_is_cut_to_its_head_also_when_each_read_holds_a_newline(
        tmp_path, monkeypatch):
    # the cap was applied only to a line that passed a whole read without a newline: with the
    # default sizes (cap = batch = 16 MiB) a 20 MiB line that began in one read and ended in the
    # next was held whole and kept whole as raw. Here: reads of 100,000 bytes, a cap of 120,000;
    # the 130,000-byte line runs from byte 60,000 (in read 1) to 190,000 (in read 2)
    monkeypatch.setattr("voice_monitor.streaming.MAX_LINE_BYTES", 120_000)
    first = json.dumps({**_event(0, 0), "pad": ""})
    first = first[:-1] + " " * (59_999 - len(first)) + "}"  # 59,999 bytes, then its newline
    over = '{"eventId": "o", "pad": "' + "c" * (130_000 - 27) + '"}'
    lines = [first, over, json.dumps(_event(2, 2))]
    assert (len(first), len(over)) == (59_999, 130_000)
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n")
    lake = Lake(tmp_path / "lake")
    result = ingest_file(lake, path, now=NOW, batch_bytes=100_000)
    assert (result.accepted, result.quarantined) == (2, 1)
    assert _quarantined(lake) == [
        (over[:65_536], "record is 130,000 bytes, over the limit of 65,536 bytes (64 KiB); longer "
                        "than 120,000 bytes, the most a line is read whole, so raw keeps its "
                        "first 65,536 bytes; the line starts at byte 60,000 of the input",
         "too_large")]


def test_an_array_element_longer_than_a_batch_is_read_whole_and_one_over_the_cap_from_its_head(
        tmp_path, monkeypatch):
    # an element longer than a batch was gathered by copying all of it again at each read and
    # scanning it all again (quadratic), and held whole however long; as a line is (574dd65),
    # it is read whole up to MAX_LINE_BYTES and quarantined raw as it is, and a longer one is
    # quarantined from its first 64 KiB, with its size and where it starts
    monkeypatch.setattr("voice_monitor.streaming.MAX_LINE_BYTES", 300_000)
    long = json.dumps({**_event(1, 1), "pad": "a" * 200_000})  # 200,0xx bytes: under the cap
    huge = '{"eventId": "h", "pad": "' + "é" * 500_000 + '"}'  # 1,000,027 bytes: over
    tail = '{"eventId": "t", "pad": "' + "b" * 400_000 + '"}'  # the last element, over
    elements = [json.dumps(_event(0, 0)), long, huge, " " * 400_000 + json.dumps(_event(2, 2)),
                tail]
    data = ("[\n  " + ",\n  ".join(elements) + "\n]\n").encode()
    path = tmp_path / "in.json"
    path.write_bytes(data)
    lake = Lake(tmp_path / "lake")
    result = ingest_file(lake, path, now=NOW, batch_bytes=1 << 16)
    assert (result.accepted, result.quarantined) == (2, 3)  # 400,000 blanks before e-2: no record
    start_of = {name: data.index(text.encode()) for name, text in (("huge", huge), ("tail", tail))}
    head = huge.encode()[:65_535].decode()  # 25 bytes, then 32,755 two-byte é (1 byte cut off)
    assert _quarantined(lake) == sorted([
        (long, f"record is {len(long):,} bytes, over the limit of 65,536 bytes (64 KiB)",
         "too_large"),
        (head, "record is 1,000,027 bytes, over the limit of 65,536 bytes (64 KiB); longer "
               "than 300,000 bytes, the most an array element is read whole, so raw keeps its "
               f"first 65,535 bytes; the element starts at byte {start_of['huge']:,} of the input",
         "too_large"),
        (tail[:65_536], "record is 400,027 bytes, over the limit of 65,536 bytes (64 KiB); longer "
                        "than 300,000 bytes, the most an array element is read whole, so raw "
                        "keeps its first 65,536 bytes; the element starts at byte "
                        f"{start_of['tail']:,} of the input", "too_large")], key=lambda row: row[1])


def test_an_array_element_of_100_mb_is_never_held_whole(tmp_path):
    import tracemalloc

    from voice_monitor.streaming import MAX_LINE_BYTES

    path = tmp_path / "one.json"
    with path.open("wb") as f:
        f.write(b'[{"eventId": "x", "pad": "')
        for _ in range(100):
            f.write(b"z" * 1_000_000)
        f.write(b'"}, {}]')
    found = []
    tracemalloc.start()
    try:
        for batch in read_batches(path, batch_bytes=1 << 20):
            found += batch if isinstance(batch, list) else batch.to_pylist()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    rejected, after = found
    assert rejected.raw == '{"eventId": "x", "pad": "' + "z" * (65_536 - 25)
    assert rejected.reason.startswith("record is 100,000,027 bytes, over the limit of 65,536 bytes")
    assert rejected.reason.endswith("the element starts at byte 1 of the input")
    assert after == b"{}"
    # held up to MAX_LINE_BYTES (16 MiB) while it might still end, then only its head
    assert peak < MAX_LINE_BYTES + 8_000_000


def test_an_array_that_does_not_balance_over_the_cap_is_quarantined_from_its_head(
        tmp_path, monkeypatch):
    # such an array is one raw record: it was read whole however long, and quarantined whole
    monkeypatch.setattr("voice_monitor.streaming.MAX_LINE_BYTES", 300_000)
    data = b'\xef\xbb\xbf  [{"eventId": "u", "pad": "' + b"c" * 400_000 + b'"}'  # no closing ]
    path = tmp_path / "in.json"
    path.write_bytes(data)
    lake = Lake(tmp_path / "lake")
    result = ingest_file(lake, path, now=NOW, batch_bytes=1 << 16)
    assert (result.accepted, result.quarantined) == (0, 1)
    # 400,030 bytes after the byte-order mark (3 bytes): 2 blanks, then the array's 400,028
    assert _quarantined(lake) == [
        ('  [{"eventId": "u", "pad": "' + "c" * (65_536 - 28),
         "record is 400,030 bytes, over the limit of 65,536 bytes (64 KiB); longer than 300,000 "
         "bytes, the most an array that does not balance (one record) is read whole, so raw "
         "keeps its first 65,536 bytes; the array starts at byte 3 of the input", "too_large")]
