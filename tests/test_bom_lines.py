"""A byte-order mark at the start of a later line of JSON Lines is ignored, as the first is.

`cat a.jsonl b.jsonl` of two files a Windows tool wrote, each with a BOM: the second file's
first record was quarantined as "record is not valid JSON" (its BOM not named). Contract §3
ignores a leading BOM; a concatenation of files holds several. The same in `ingest`, the
collector and the Python API (`land_lines`). A BOM anywhere else (after a space, inside a
string) is no line's start and is kept as it is: after a space it is no JSON, quarantined raw
with a reason naming the mark.
"""

from __future__ import annotations

import json

import httpx
import pytest
from server_process import INGEST, ServerProcess

from voice_monitor.lake import Lake, connect
from voice_monitor.landing import ingest_file, land_lines

BOM = b"\xef\xbb\xbf"
T = "2026-02-16T14:00:00Z"


def record(event_id: str) -> bytes:
    return json.dumps({"event_id": event_id, "event_type": "artifact_received",
                       "timestamp": T}).encode()


# two files, each with a BOM, one with \r\n line ends, concatenated; then a line whose BOM
# follows a space (quarantined raw: no line's start), and one whose string holds a BOM (data)
A = BOM + record("a1") + b"\n" + record("a2") + b"\n"
B = BOM + record("b1") + b"\r\n" + record("b2") + b"\r\n"
AFTER_SPACE = b" " + BOM + record("x1")
IN_STRING = record("s1").replace(b'"s1"', b'"s1' + BOM + b'"')
CONCATENATED = A + B + BOM + b"\n" + AFTER_SPACE + b"\n" + IN_STRING + b"\n"
STORED = sorted(["a1", "a2", "b1", "b2", "s1\ufeff"])
# named: it was quarantined as "record is not valid JSON", the mark nowhere in the reason (and
# invisible in most viewers of the raw text)
QUARANTINED = [(AFTER_SPACE.decode(), "record is not valid JSON: it starts with a byte-order mark "
                "(U+FEFF) after blanks or after another mark, where JSON allows none (remove the "
                "mark: one is ignored only as the very first character of a line)")]


def lake_rows(lake: Lake) -> tuple[list[str], list[tuple[str, str]]]:
    con = connect()
    try:
        ids = [r[0] for r in con.execute(
            "select event_id from read_parquet($f) order by event_id",
            {"f": str(lake.events_dir) + "/*/*/*.parquet"}).fetchall()]
        rejects = con.execute("select raw, reason from read_parquet($f) order by raw",
                              {"f": str(lake.quarantine_dir) + "/*/*.parquet"}).fetchall()
    finally:
        con.close()
    return ids, rejects


@pytest.mark.parametrize("batch_bytes", [1 << 20, 64])  # 64: a batch starts at a BOM line
def test_ingest_reads_a_concatenation_of_files_with_a_bom_each(tmp_path, batch_bytes):
    path = tmp_path / "both.jsonl"
    path.write_bytes(CONCATENATED)
    lake = Lake.create(tmp_path / "lake")
    result = ingest_file(lake, path, batch_bytes=batch_bytes)
    assert (result.accepted, result.quarantined) == (5, 1)
    assert lake_rows(lake) == (STORED, QUARANTINED)


def test_land_lines_ignores_a_bom_at_a_records_start(tmp_path):
    lake = Lake.create(tmp_path / "lake")
    lines = [BOM + record("a1"), (BOM + record("a2")).decode(), record("b1"), BOM + record("b2"),
             AFTER_SPACE, IN_STRING.decode()]
    result = land_lines(lake, lines, "test")
    assert (result.accepted, result.quarantined) == (5, 1)
    assert lake_rows(lake) == (STORED, QUARANTINED)


@pytest.mark.slow
def test_the_collector_reads_a_concatenation_of_files_with_a_bom_each(tmp_path):
    with ServerProcess(tmp_path / "lake", log=tmp_path / "server.log") as server:
        answer = httpx.post(server.url + "/v1/events", content=CONCATENATED, headers={
            "Authorization": f"Bearer {INGEST}", "Content-Type": "application/x-ndjson"})
    assert answer.json() == {"accepted": 5, "duplicates": 0, "quarantined": 1}
    assert lake_rows(Lake(tmp_path / "lake")) == (STORED, QUARANTINED)
