"""Crash safety (contract §4): `kill -9` of a real `voice-monitor ingest` at random moments.

After every kill the lake must read cleanly (no half-written file outside .tmp/), every event of
every ingest that exited 0 (acknowledged) must be there, and re-ingesting the files whose ingest
was killed must give every event exactly once after de-duplication — in the lake and in the
real-time counters.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import ts
from faultkit import assert_readable, deduplicated_ids

from voice_monitor.counters import realtime_metrics
from voice_monitor.lake import Lake
from voice_monitor.landing import land_records

NOW = datetime(2026, 2, 16, 14, 30, tzinfo=UTC)
EVENTS_PER_FILE = 1000
GARBAGE_PER_FILE = 20
INGEST = [sys.executable, "-c", "from voice_monitor.cli import main; main()", "ingest"]


def write_input(path: Path, index: int) -> list[str]:
    """An input file: events spread over 6 hours (6 partitions) plus a few bad lines."""
    rng = random.Random(index)
    ids, lines = [], []
    for n in range(EVENTS_PER_FILE):
        event_id = f"f{index}-e{n}"
        at = NOW - timedelta(minutes=rng.randrange(6 * 60))
        ids.append(event_id)
        lines.append(json.dumps({"event_id": event_id, "event_type": "artifact_received",
                                 "timestamp": ts(at), "organization_id": f"org-{n % 7}"}))
    lines += [f"garbage {index}-{n}" for n in range(GARBAGE_PER_FILE)]
    rng.shuffle(lines)
    path.write_text("\n".join(lines) + "\n")
    return ids


def ingest(lake: Lake, path: Path) -> subprocess.Popen:
    return subprocess.Popen([*INGEST, str(path), "--lake", str(lake.root), "--now", ts(NOW)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def run_kills(tmp_path: Path, iterations: int, seed: int) -> int:
    lake = Lake(tmp_path / "lake")
    rng = random.Random(seed)
    inputs = {}
    for i in range(iterations):
        path = tmp_path / f"in-{i}.jsonl"
        inputs[path] = write_input(path, i)

    # how long one ingest takes here, so the kills fall across its whole life
    warm = tmp_path / "warm.jsonl"
    write_input(warm, 10_000)
    started = time.monotonic()
    ingest(Lake(tmp_path / "warm-lake"), warm).wait()
    duration = time.monotonic() - started

    acknowledged, killed = set(), []
    for path in inputs:
        proc = ingest(lake, path)
        try:
            proc.wait(timeout=rng.uniform(0.1, 1.1) * duration)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.returncode == 0:
            acknowledged.add(path)
        else:
            assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
            killed.append(path)
        proc.stderr.close()
        assert_readable(lake)
        _, ids = deduplicated_ids(lake)
        for done in acknowledged:
            assert set(inputs[done]) <= ids, f"acknowledged events of {done.name} lost"

    for path in killed:  # recovery: land again what was not acknowledged
        assert ingest(lake, path).wait() == 0
    assert_readable(lake)
    every = [i for ids in inputs.values() for i in ids]
    rows, ids = deduplicated_ids(lake)
    assert rows == len(every) and ids == set(every)  # exactly once after de-duplication
    # the counters agree: every event is an artifact_received within 6 h of NOW; the window
    # holds those from 13:31:00 to 14:30:00 inclusive
    in_window = sum(
        1 for path in inputs for line in path.read_text().splitlines() if line.startswith("{")
        and datetime(2026, 2, 16, 13, 31, tzinfo=UTC)
        <= datetime.fromisoformat(json.loads(line)["timestamp"]) <= NOW
    )
    assert realtime_metrics(lake, now=NOW)["artifacts_received"] == in_window
    # what killed writers left in .tmp/ was removed by the landings after them (the re-ingests)
    assert [p for p in lake.tmp_dir.rglob("*") if p.is_file()] == []
    return len(killed)


def test_kill_during_ingest_quick(tmp_path):
    # the slow run of many kills, with every check of this one, is in test_faults_crash.py
    run_kills(tmp_path, iterations=2, seed=1)


def test_orphan_temp_file_is_never_read(lake):
    # a crashed writer leaves a half-written file in .tmp/: nothing may read it
    orphan = lake.temp_path()
    orphan.write_bytes(b"PAR1\x00\x00 half a parquet file")
    at = NOW - timedelta(minutes=2)
    land_records(lake, [{"event_id": "a", "event_type": "artifact_received", "timestamp": ts(at)}],
                 now=NOW)
    assert_readable(lake)
    assert deduplicated_ids(lake) == (1, {"a"})
    assert lake.event_hours() == [datetime(2026, 2, 16, 14, tzinfo=UTC)]
    assert realtime_metrics(lake, now=NOW)["artifacts_received"] == 1
    # fresh orphans may belong to a live writer; old ones go
    assert lake.clean_tmp() == 0 and orphan.exists()
    old = time.time() - 7200
    os.utime(orphan, (old, old))
    assert lake.clean_tmp() == 1 and not orphan.exists()


def window_counts_read_directly(lake: Path) -> tuple[int, int]:
    """(artifact_received, *_failed) among the lake's events of the window 13:31-14:30 of
    2026-02-16, each event_id once, read from the Parquet files with pyarrow."""
    import pyarrow.parquet as pq

    seen: dict[str, str] = {}
    for path in sorted((lake / "events").rglob("*.parquet")):
        for row in pq.read_table(path, columns=["event_id", "event_type", "timestamp"]).to_pylist():
            if NOW - timedelta(minutes=59) <= row["timestamp"] <= NOW:
                seen.setdefault(row["event_id"], row["event_type"])
    types = list(seen.values())
    return types.count("artifact_received"), sum(t.endswith("_failed") for t in types)


def test_an_ingest_killed_between_its_files_and_their_count_is_counted_later(tmp_path):
    # `kill -9` of an ingest whose Parquet file is in place but not yet counted: the lake holds
    # the events, the counters did not count them, and nobody may send them again. The note the
    # landing made before placing its file has the next read count them (uncounted.py). The
    # kill is timed without a hook: the test holds the counter store's write lock, so the
    # ingest waits at its count once its file is placed
    import sqlite3

    from faultkit import cli

    lake = tmp_path / "lake"
    at = ("--lake", str(lake), "--now", ts(NOW))
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_text("".join(json.dumps({"event_id": f"first-{i}", "event_type": "artifact_received",
                                         "timestamp": f"2026-02-16T14:0{i}:00Z"}) + "\n"
                             for i in range(10)))
    # 200 events at 14:00-14:19: every fourth a transcription_failed (50), the rest (150)
    # artifact_received
    second.write_text("".join(json.dumps({
        "event_id": f"second-{i}",
        "event_type": "transcription_failed" if i % 4 == 0 else "artifact_received",
        "timestamp": f"2026-02-16T14:{i % 20:02d}:00Z", "organization_id": f"org-{i % 3}"}) + "\n"
        for i in range(200)))
    assert cli("ingest", str(first), *at).code == 0

    def realtime() -> tuple[int, int]:
        run = cli("metrics", "realtime", "--json", *at)
        assert run.code == 0, run.err
        answer = json.loads(run.out)
        return answer["artifacts_received"], answer["failures"]

    assert realtime() == (10, 0)
    notes = lake / "state" / "uncounted"
    files = sorted((lake / "events").rglob("*.parquet"))
    lock = sqlite3.connect(lake / "state" / "counters.sqlite", isolation_level=None)
    lock.execute("begin immediate")  # the ingest's count waits for it (SQLite's busy timeout)
    try:
        proc = subprocess.Popen([*INGEST, str(second), *at], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while sorted((lake / "events").rglob("*.parquet")) == files:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the ingest placed no file"
            time.sleep(0.02)
        # placed, not counted (the lock): a read leaves a live landing's note alone
        assert realtime() == (10, 0) and len(os.listdir(notes)) == 1
        proc.kill()
        assert proc.wait() == -signal.SIGKILL
    finally:
        lock.execute("rollback")
        lock.close()
    # first's 10 receipts and second's 150 receipts, 50 failures: all in the lake
    assert window_counts_read_directly(lake) == (160, 50)
    assert realtime() == (160, 50)  # counted by this read, from the lake's files
    assert os.listdir(notes) == []
    assert cli("ingest", str(first), *at).code == 0  # a later landing: each counted once
    assert realtime() == (160, 50)


def test_the_spool_of_an_ingest_killed_while_reading_a_pipe_is_removed_by_the_next(tmp_path):
    # `ingest -` reads standard input whole into a folder in TMPDIR first: killed (-9, the OOM
    # killer) it left the folder, a whole copy of its input, for ever, one per kill
    spools = tmp_path / "tmp"
    spools.mkdir()
    env = {**os.environ, "TMPDIR": str(spools)}
    lake = tmp_path / "lake"
    record = json.dumps({"event_id": "e-1", "event_type": "artifact_received",
                         "timestamp": ts(NOW)}) + "\n"

    def reading() -> tuple[subprocess.Popen, Path]:
        """An `ingest -` blocked reading its pipe, and its spool folder (made, its file open)."""
        before = set(spools.iterdir())
        proc = subprocess.Popen([*INGEST, "-", "--lake", str(lake), "--now", ts(NOW)],
                                stdin=subprocess.PIPE, env=env, stdout=subprocess.DEVNULL)
        proc.stdin.write(record.encode())
        proc.stdin.flush()
        deadline = time.monotonic() + 120
        while not (made := [f for f in set(spools.iterdir()) - before if any(f.iterdir())]):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        return proc, made[0]

    (killed, gone), (live, kept) = reading(), reading()
    killed.kill()
    killed.wait()
    run = subprocess.run([*INGEST, "-", "--lake", str(lake), "--now", ts(NOW)], input=record,
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert not gone.exists()  # the killed one's: removed
    assert kept.exists()  # the live one's: kept
    live.stdin.close()  # its input ends: it lands and removes its own
    assert live.wait(timeout=300) == 0
    assert list(spools.iterdir()) == []
