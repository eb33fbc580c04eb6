"""The embedded counter store's blocks and in-memory hashes (sqlite_counters.py, seen_index.py):
the stable hash against a plain-Python reference, ids sharing a hash both counted, two open
stores on one file seeing each other's events, a producer's counts against a DuckDB
query over the Parquet it landed, blocks of a minute read at a past `now`, and the in-memory
hashes against a plain dictionary."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest
from conftest import counted_table, event

from voice_monitor import Producer
from voice_monitor.counters import COUNTERS_ENV, METRICS, STATE_TTL, open_counters, realtime_metrics
from voice_monitor.lake import connect
from voice_monitor.seen_index import first_copies, stable_hashes

AT = datetime(2026, 2, 16, 14, 30, 20, 500_000, tzinfo=UTC)
M64 = 2**64


@pytest.fixture(autouse=True)
def embedded_store(monkeypatch):
    monkeypatch.delenv(COUNTERS_ENV, raising=False)


def reference_hash(text: str) -> int:
    """The documented hash, one byte at a time in plain Python integers."""
    data = text.encode()
    h = 0
    for byte in data:
        h = (h * 0x100000001B3 + byte + 1) % M64
    h ^= (len(data) * 0x9E3779B97F4A7C15) % M64
    for multiplier in (0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53):
        h ^= h >> 33
        h = (h * multiplier) % M64
    h ^= h >> 33
    return h - M64 if h >= 2**63 else h


def test_stable_hash_matches_a_plain_python_reference():
    rng = random.Random(3)
    alphabet = "abcXYZ019-_:é€😀"
    ids = ["", "e1", "a" * 300] + ["".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 40)))
                                   for _ in range(300)]
    array = pa.array(ids)
    assert stable_hashes(array).tolist() == [reference_hash(i) for i in ids]
    # a slice (non-zero offset) and a chunked column hash the same ids the same way
    assert stable_hashes(array.slice(5, 20)).tolist() == [reference_hash(i) for i in ids[5:25]]
    chunked = pa.chunked_array([ids[:100], ids[100:]])
    assert stable_hashes(chunked).tolist() == [reference_hash(i) for i in ids]


def test_stable_hash_is_the_same_in_another_process():
    code = ("import pyarrow as pa; from voice_monitor.seen_index import stable_hashes; "
            "print(stable_hashes(pa.array(['e1', 'org-7/x'])).tolist())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONHASHSEED": "12345"}).stdout
    assert out.strip() == str([reference_hash("e1"), reference_hash("org-7/x")])


def thue_morse(n: int, letters: str) -> str:
    return "".join(letters[bin(i).count("1") % 2] for i in range(n))


# Thue-Morse strings of 2**11 letters and their complements have equal polynomial hashes
# modulo 2**64 for every odd multiplier: a real collision of the store's 64-bit hash
A, B = thue_morse(2048, "ab"), thue_morse(2048, "ba")


def test_two_ids_with_the_same_hash_are_both_counted(lake):
    assert A != B and stable_hashes(pa.array([A, B])).tolist() == [reference_hash(A)] * 2
    # in one batch the first copy of each id stays, the hash tie broken by comparing ids
    assert first_copies(pa.array([A, B, A, "x", B]), stable_hashes(pa.array([A, B, A, "x", B]))
                        ).tolist() == [0, 1, 3]
    at = AT - timedelta(minutes=5)
    store = open_counters(lake)
    try:
        assert store.record(counted_table([A], at), AT) == 1
        assert store.record(counted_table([B, A], at), AT) == 1  # B is new although its hash is known
        assert store.record(counted_table([A, B], at), AT) == 0
    finally:
        store.close()
    other = open_counters(lake)  # a fresh process's view, rebuilt from the blocks
    try:
        assert other.record(counted_table([B, A, "c"], at), AT) == 1
    finally:
        other.close()
    assert realtime_metrics(lake, now=AT)["artifacts_received"] == 3


def test_two_open_stores_on_one_file_count_each_event_once(lake):
    first, second = open_counters(lake), open_counters(lake)
    at = AT - timedelta(minutes=1)
    try:
        assert first.record(counted_table(["e1", "e2"], at, org="org-1"), AT) == 2
        # the second store already holds hashes of its own: it still learns the first's
        assert second.record(counted_table(["e3"], at), AT) == 1
        assert second.record(counted_table(["e1", "e3", "e4"], at), AT) == 1
        assert first.record(counted_table(["e4", "e2", "e5"], at, org="org-1"), AT) == 1
        # the same id an hour later is another (event_id, hour): counted again
        assert first.record(counted_table(["e1"], at + timedelta(hours=1)), AT + timedelta(hours=1)) == 1
    finally:
        first.close()
        second.close()
    assert realtime_metrics(lake, now=AT)["artifacts_received"] == 5  # e1 .. e5
    assert realtime_metrics(lake, "org-1", now=AT)["artifacts_received"] == 3  # e1, e2, e5
    # an hour later only the second e1 (15:29:20) is in the window
    assert realtime_metrics(lake, now=AT + timedelta(hours=1))["artifacts_received"] == 1


def test_events_after_now_in_its_minute_wait_for_their_moment(lake):
    store = open_counters(lake)
    try:
        # 14:30:20.4 (before now), 14:30:20.6 and 14:30:59.9 (after now, same minute)
        store.record(pa.concat_tables([
            counted_table(["a"], AT - timedelta(milliseconds=100), "artifact_failed", "org-1"),
            counted_table(["b"], AT + timedelta(milliseconds=100), "artifact_failed", "org-1"),
            counted_table(["c"], AT + timedelta(seconds=39, milliseconds=400), "artifact_failed")]), AT)
        assert store.window_counts("org-1", AT - timedelta(minutes=59), AT)["failures"] == 1
        assert store.window_counts(None, AT - timedelta(minutes=59), AT)["failures"] == 1
        later = AT + timedelta(seconds=39, milliseconds=400)
        assert store.window_counts(None, AT - timedelta(minutes=59), later)["failures"] == 3
        assert store.window_counts("org-1", AT - timedelta(minutes=59), later)["failures"] == 2
    finally:
        store.close()


def test_a_read_is_one_snapshot_while_another_writer_commits(lake):
    """A read sums the minute rows, then subtracts the current minute's events stamped after
    `now`, in two statements: a batch another process committed in between (here at the
    moment SQLite starts the second, by its trace hook) was subtracted without having been
    added, and the count went below what landed (here 0 instead of 1; -1 with nothing else)."""
    reader, writer = open_counters(lake), open_counters(lake)
    try:
        writer.record(counted_table(["before"], AT - timedelta(seconds=10)), AT)
        committed = []

        def between(statement: str) -> None:
            if "from seen_blocks where second" in statement and not committed:
                # stamped 10 s after the read's `now`, in its minute: never in its window
                committed.append(writer.record(counted_table(["after"], AT + timedelta(seconds=10)),
                                               AT))

        reader.db.set_trace_callback(between)
        counts = reader.window_counts(None, AT - timedelta(minutes=59), AT)
        assert committed == [1]  # the writer did commit while the read ran
        assert counts["artifacts_received"] == 1  # "before" only, as at any moment of the read
    finally:
        reader.close()
        writer.close()


def test_a_producer_counts_what_duckdb_finds_in_its_parquet(lake):
    rng = random.Random(5)
    types = ["artifact_received", "artifact_failed", "transcription_failed", "claims_extracted",
             "transcription_started", "entity_needs_disambiguation"]
    now = AT
    records = []
    for _ in range(3000):
        n = rng.randrange(2200)  # about a quarter are copies (same id, same fields)
        records.append(event(types[n % len(types)], now - timedelta(seconds=n * 1.7),
                             event_id=f"p-{n}", organization_id=[None, "org-1", "org-2"][n // 7 % 3]))
    with Producer(lake, batch_size=700, now=now) as producer:
        for record in records:
            producer.emit(record)
    files = [str(p) for p in lake.events_dir.rglob("*.parquet")]
    con = connect()
    try:
        # each (event_id, hour) once, stamped in the window: floor_minute(now) - 59 min .. now
        found = con.execute("""
            with firsts as (
                select distinct event_id, date_trunc('hour', "timestamp") as hour, event_type,
                       organization_id
                from read_parquet($files)
                where "timestamp" between $start and $now)
            select organization_id, event_type, count(*) from firsts group by all""",
            {"files": files, "start": datetime(2026, 2, 16, 13, 31, tzinfo=UTC), "now": now}).fetchall()
    finally:
        con.close()
    metric = {"artifact_received": ["artifacts_received"],
              "artifact_failed": ["artifacts_failed", "failures"],
              "transcription_failed": ["failures"], "claims_extracted": ["claims_extracted"],
              "entity_needs_disambiguation": ["entities_resolved"], "transcription_started": []}
    for org in (None, "org-1"):
        expected = dict.fromkeys(METRICS, 0)
        for organization, event_type, n in found:
            if org is None or organization == org:
                for m in metric[event_type]:
                    expected[m] += n
        got = realtime_metrics(lake, org, now=now)
        assert {m: got[m] for m in METRICS} == expected
        assert min(expected[m] for m in ("artifacts_received", "failures", "entities_resolved")) > 30


def test_events_before_the_landing_s_second_share_a_block_per_minute(lake):
    """A landing's events stamped before its second are kept one block per minute (no read at
    or after that second subtracts them); a read at a past `now` inside that minute still
    subtracts the ones after it, and the block goes only when its latest event is too old."""
    store = open_counters(lake)
    minute = datetime(2026, 2, 16, 14, 10, tzinfo=UTC)
    try:
        # 14:10:05, 14:10:40 (org-1) and 14:10:59.9, landed at 14:30:20.5
        assert store.record(pa.concat_tables([
            counted_table(["a"], minute + timedelta(seconds=5), "artifact_failed"),
            counted_table(["b"], minute + timedelta(seconds=40), "artifact_failed", "org-1"),
            counted_table(["c"], minute + timedelta(seconds=59.9), "artifact_failed")]), AT) == 3
        # and 14:30:10 (before the landing's second), 14:30:20.7 and 14:30:45 (after it)
        assert store.record(pa.concat_tables([
            counted_table(["d"], AT - timedelta(seconds=10.5)),
            counted_table(["e"], AT + timedelta(seconds=0.2)),
            counted_table(["f"], AT + timedelta(seconds=24.5))]), AT) == 3
        start = minute - timedelta(minutes=59)
        assert store.window_counts(None, start, minute + timedelta(seconds=20))["failures"] == 1
        assert store.window_counts(None, start, minute + timedelta(seconds=40))["failures"] == 2
        assert store.window_counts("org-1", start, minute + timedelta(seconds=40))["failures"] == 1
        assert store.window_counts(None, start, minute + timedelta(seconds=59.9))["failures"] == 3
        assert store.window_counts(None, AT - timedelta(minutes=59), AT)["artifacts_received"] == 1
        later = AT + timedelta(seconds=24.5)
        assert store.window_counts(None, AT - timedelta(minutes=59), later)["artifacts_received"] == 3
        # a cut-off of 14:10:30: a, in one block with b and c, stays known while they are kept
        store.prune(minute + STATE_TTL + timedelta(seconds=30))
        assert store.record(counted_table(["a"], minute + timedelta(seconds=5), "artifact_failed"),
                            minute + STATE_TTL) == 0
    finally:
        store.close()
    db = sqlite3.connect(lake.state_dir / "counters.sqlite")
    try:
        # one block for 14:10 (its latest second), one for 14:30:10, one per later second
        blocks = db.execute("select second % 3600, n from seen_blocks order by id").fetchall()
        assert blocks == [(659, 3), (1810, 1), (1820, 1), (1845, 1)]
    finally:
        db.close()


def test_hour_keys_find_exactly_the_known_hashes_and_their_blocks():
    """Candidates against a plain dictionary, over several merged levels, with one hash held
    by two blocks and queries in no order."""
    from voice_monitor.seen_index import HourKeys

    rng = random.Random(8)
    keys, held = HourKeys(), {}
    for block in range(1, 40):
        hashes = [rng.randrange(-2**63, 2**63) for _ in range(rng.randrange(1, 60))]
        if block % 7 == 0:  # a hash another block holds too
            hashes.append(rng.choice(list(held)))
        for h in hashes:
            held.setdefault(h, set()).add(block)
        keys.add(np.array(hashes, np.int64), np.full(len(hashes), block, np.int64))
    queries = rng.sample(list(held), 50) + [rng.randrange(-2**63, 2**63) for _ in range(50)]
    rng.shuffle(queries)
    hit, blocks = keys.candidates(np.array(queries, np.int64))
    assert hit.tolist() == [q in held for q in queries]
    assert blocks == set().union(*(held[q] for q in queries if q in held))
    assert sum(len(b) > 1 for b in held.values()) >= 5


def test_the_seen_view_holds_each_counted_event_as_landed(lake):
    """The blocks' JSON (written by Arrow kernels, or by orjson when an id or organization
    needs escaping) reads back through SQLite's own JSON functions as the events landed."""
    store = open_counters(lake)
    at = datetime(2026, 2, 16, 14, 20, 7, 250_000, tzinfo=UTC)
    us = 1_771_251_607_250_000  # `at` in microseconds since the epoch (20,500 days + 14:20:07.25)
    plain = ["p-1", "p-2 é日本"]
    odd = ['q"1', "q\\2", "q/3"]
    try:
        assert store.record(pa.concat_tables([
            counted_table(plain[:1], at, "artifact_received", "org-1"),
            counted_table(plain[1:], at, "transcription_failed")]), AT) == 2
        assert store.record(pa.concat_tables([
            counted_table(odd[:2], at, "artifact_completed", 'org "x"'),
            counted_table(odd[2:], at, "entity_needs_disambiguation", "org\\y")]), AT) == 3
    finally:
        store.close()
    db = sqlite3.connect(lake.state_dir / "counters.sqlite")
    try:
        rows = set(db.execute("select hour, event_id, ts_us, scope, metrics from seen").fetchall())
    finally:
        db.close()
    bits = {m: 1 << METRICS.index(m) for m in METRICS}
    hour = us // 3_600_000_000
    assert rows == {
        (hour, "p-1", us, "o:org-1", bits["artifacts_received"]),
        (hour, "p-2 é日本", us, "", bits["failures"]),
        (hour, 'q"1', us, 'o:org "x"', bits["artifacts_completed"]),
        (hour, "q\\2", us, 'o:org "x"', bits["artifacts_completed"]),
        (hour, "q/3", us, "o:org\\y", bits["entities_resolved"]),
    }


def test_stable_hash_across_chunks_of_ids(monkeypatch):
    # ids are hashed in chunks of bytes: every boundary (and an id longer than a chunk) hashes
    # as the plain-Python reference does
    from voice_monitor import seen_index

    monkeypatch.setattr(seen_index, "_CHUNK_BYTES", 7)
    ids = ["", "abc", "defgh", "x" * 20, "", "é€😀", "k" * 7, "l" * 6, "m"]
    assert stable_hashes(pa.array(ids)).tolist() == [reference_hash(i) for i in ids]
    assert stable_hashes(pa.array(ids[1:], pa.large_string())).tolist() == [
        reference_hash(i) for i in ids[1:]]
