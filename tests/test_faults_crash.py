"""Fault suite, crashes (contract §4, §11): `kill -9` of `voice-monitor ingest` and of a durable
Producer process at random moments (seeded), each followed by re-ingest or a producer restart.

After every kill the lake reads whole (pyarrow and DuckDB; for ingest, every visible file is
Parquet) and nothing acknowledged is missing (an ingest that exited 0; an event whose durable
`emit()` returned). Killed ingests are recovered by ingesting their files again (one alone, the
others in one run; this is also tests/test_crash.py's slow case). At the end every event is
counted exactly once, also after DuckDB de-duplication:
distinct ids in the files, `count(*)` of the `events` view, the real-time counters and the
hourly snapshots, each against counts worked out here; and no temp file is left after the next
landing. Figures go to stdout as `FIGURES` lines for docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from faultkit import (
    NOW_TEXT,
    assert_readable,
    cli,
    deduplicated_ids,
    event_ids,
    temp_files,
    unreadable,
)

NOW = datetime(2026, 2, 16, 14, 30, tzinfo=UTC)
WINDOW_START = datetime(2026, 2, 16, 13, 31, tzinfo=UTC)
INGEST = [sys.executable, "-c", "from voice_monitor.cli import main; main()", "ingest"]
PRODUCER = """
import sys, time
from datetime import datetime
from voice_monitor.producer import Producer
sys.path.insert(0, sys.argv[5])
from test_faults_crash import producer_event
lake, name, start, end = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
pause = float(sys.argv[6])  # an application emits as it works, not all at once
p = Producer(lake, durable=True, name=name, batch_size=300, flush_interval=0.05,
             now=datetime.fromisoformat("2026-02-16T14:30:00+00:00"))
print("ready", flush=True)  # leftovers of a killed predecessor are landing from here on
for i in range(start, end):
    p.emit(producer_event(i))
    if (i + 1) % 25 == 0 or i + 1 == end:
        print(i + 1, flush=True)  # every event before i + 1 is acknowledged (in the spool)
        time.sleep(pause)
p.close()
print("closed", flush=True)
"""


def event_time(kind: str, i: int) -> datetime:
    """Six hours before NOW, spread evenly and deterministically."""
    return NOW - timedelta(seconds=(i * 7919) % (6 * 3600))


def producer_event(i: int) -> dict:
    at = event_time("p", i)
    return {"eventId": f"p-{i}", "eventType": "artifact_received",
            "timestamp": at.isoformat().replace("+00:00", "Z"), "organizationId": f"org-{i % 3}"}


def write_input(path: Path, index: int, n: int) -> list[str]:
    ids, lines = [], []
    for k in range(n):
        i = index * n + k
        ids.append(f"f-{i}")
        lines.append(json.dumps({"event_id": f"f-{i}", "event_type": "artifact_received",
                                 "timestamp": event_time("f", i).isoformat()}))
    lines += [f"garbage line {index}-{k}" for k in range(10)]
    random.Random(index).shuffle(lines)
    path.write_text("\n".join(lines) + "\n")
    return ids


def check_exactly_once(lake: Path, every: list[str]) -> dict:
    """The lake holds every id, counted once by the view, the counters and the snapshots."""
    assert unreadable(lake) == []
    stored = event_ids(lake)
    assert set(stored) == set(every), f"lost {len(set(every) - set(stored))}"
    run = cli("sql", "select count(*) as n, count(distinct event_id) as d from events", "--json",
              "--lake", str(lake))
    assert run.code == 0, run.err
    assert json.loads(run.out)[0] == {"n": len(every), "d": len(every)}
    times = {i: event_time(i[0], int(i.split("-")[1])) for i in every}
    in_window = sum(1 for t in times.values() if WINDOW_START <= t <= NOW)
    from voice_monitor import Lake, realtime_metrics
    assert realtime_metrics(Lake(lake), now=NOW)["artifacts_received"] == in_window
    run = cli("backfill", "--start", "2026-02-16T08:00:00Z", "--end", "2026-02-16T14:00:00Z",
              "--lake", str(lake), "--now", NOW_TEXT)
    assert run.code == 0, run.err
    per_hour = Counter(t.replace(minute=0, second=0, microsecond=0) for t in times.values()
                       if t < NOW.replace(minute=0))  # the current hour is not complete
    run = cli("sql", "select period_start, event_count from pipeline_hourly "
              "where organization_id is null and event_count > 0", "--json", "--lake", str(lake))
    got = {datetime.fromisoformat(r["period_start"].replace("Z", "+00:00")): r["event_count"]
           for r in json.loads(run.out)}
    assert got == dict(per_hour)
    return {"copies": len(stored) - len(every)}


def kill_ingests(tmp_path: Path, kills: int, seed: int) -> dict:
    from voice_monitor import Lake, realtime_metrics

    lake, rng = tmp_path / "lake", random.Random(seed)
    per_file = 3000
    inputs = {tmp_path / f"in-{i}.jsonl": None for i in range(kills)}
    for i, path in enumerate(inputs):
        inputs[path] = write_input(path, i, per_file)
    # how long an ingest takes here: its start-up, and the whole of it
    tiny, warm = tmp_path / "tiny.jsonl", tmp_path / "warm.jsonl"
    write_input(tiny, 10_000, 1)
    write_input(warm, 10_001, per_file)
    timings = []  # the first run only warms up (a session's first start fills its bytecode cache)
    for path in (tiny, tiny, warm):
        started = time.monotonic()
        subprocess.run([*INGEST, str(path), "--lake", str(tmp_path / "warm-lake"), "--now",
                        NOW_TEXT], capture_output=True, check=True)
        timings.append(time.monotonic() - started)
    timings = timings[1:]
    acknowledged, killed = [], []
    read_by_pyarrow, read_by_duckdb, ids_by_file = set(), set(), {}
    for path in inputs:
        proc = subprocess.Popen([*INGEST, str(path), "--lake", str(lake), "--now", NOW_TEXT],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            proc.wait(timeout=rng.uniform(0.8 * timings[0], 1.05 * timings[1]))
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        err = proc.stderr.read().decode()
        proc.stderr.close()
        if proc.returncode == 0:
            acknowledged.append(path)
        else:
            assert proc.returncode == -signal.SIGKILL, err
            killed.append(path)
        # read whole by pyarrow and by DuckDB (files read whole after an earlier kill and not
        # written since are not read again; the checks after recovery read everything)
        assert unreadable(lake, read=read_by_pyarrow) == []
        if lake.exists():
            assert_readable(Lake(lake), read=read_by_duckdb)
        stored = set(event_ids(lake, known=ids_by_file)) if lake.exists() else set()
        for done in acknowledged:
            assert set(inputs[done]) <= stored, f"acknowledged events of {done.name} lost"
    # recovery: land again what was not acknowledged, the last killed file alone, then the
    # others in one ingest
    for again in [killed[-1:], killed[:-1]] if killed else []:
        run = subprocess.run([*INGEST, *map(str, again), "--lake", str(lake), "--now", NOW_TEXT],
                             capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
    assert temp_files(lake) == [], "temp files left after the next landing"
    every = [i for ids in inputs.values() for i in ids]
    # exactly once after de-duplication, read by DuckDB; the counters against the input files
    assert_readable(Lake(lake))
    assert deduplicated_ids(Lake(lake)) == (len(every), set(every))
    sent = [json.loads(x)["timestamp"] for p in inputs for x in p.read_text().splitlines()
            if x.startswith("{")]
    in_window = sum(WINDOW_START <= datetime.fromisoformat(t) <= NOW for t in sent)
    assert realtime_metrics(Lake(lake), now=NOW)["artifacts_received"] == in_window
    facts = check_exactly_once(lake, every)
    return {"test": "kill -9 ingest", "kills_tried": kills, "killed": len(killed),
            "events": len(every), "lost": 0, "crashed_lake": 0, **facts}


def kill_producers(tmp_path: Path, kills: int, seed: int, total: int) -> dict:
    lake, rng = tmp_path / "plake", random.Random(seed)
    here = str(Path(__file__).parent)

    def start(first: int, pause: float = 0.05) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", PRODUCER, str(lake), "crash", str(first),
                                 str(total), here, str(pause)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    acked, killed = 0, 0
    for n in range(kills):
        proc = start(acked)
        first = proc.stdout.readline()  # Python start-up is not an interesting place to die
        time.sleep(rng.uniform(0.0, 1.0))
        os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        out = first + out
        if proc.returncode == -signal.SIGKILL:
            killed += 1
        else:
            assert proc.returncode == 0, err
        numbers = [int(x) for x in out.split() if x.isdigit()]
        acked = max([acked, *numbers])
        if n % 10 == 9:
            assert unreadable(lake) == []
    proc = start(acked, pause=0)
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0 and out.strip().endswith("closed"), err
    spool = lake / "state" / "spool" / "crash"
    assert not list(spool.glob("*.jsonl")), "spool segments left after a clean close"
    assert temp_files(lake) == [], "temp files left after the next landing"
    every = [f"p-{i}" for i in range(total)]
    facts = check_exactly_once(lake, every)
    return {"test": "kill -9 durable producer", "kills_tried": kills, "killed": killed,
            "events": total, "lost": 0, "crashed_lake": 0, **facts}


@pytest.mark.slow
def test_kill_ingest_at_random_points(tmp_path):
    figures = kill_ingests(tmp_path, kills=int(os.environ.get("FAULTS_INGEST_KILLS", 30)), seed=9)
    print("FIGURES", json.dumps(figures))
    assert figures["killed"] > 0


@pytest.mark.slow
def test_kill_durable_producer_at_random_points(tmp_path):
    # 12 kills by default (each costs a Python start-up): well under a minute on 2 idle cores;
    # FAULTS_PRODUCER_KILLS=70 gives the figures of docs/reliability.md
    figures = kill_producers(tmp_path, kills=int(os.environ.get("FAULTS_PRODUCER_KILLS", 12)),
                             seed=10, total=5_000)
    print("FIGURES", json.dumps(figures))
    assert figures["killed"] > 0
