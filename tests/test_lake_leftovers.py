"""Crash leftovers are cleaned by the next landing; duplicate counts are true under concurrency.

Temp files live in one folder per writing process (`.tmp/w-<host>-<pid>-<start>/`). The next
landing removes the folder of a process that is gone (or whose pid now belongs to a newer
process) and nothing of a live one, whatever its age up to an hour.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import NOW, event

from voice_monitor.lake import Lake
from voice_monitor.landing import land_lines, land_records
from voice_monitor.temp_files import writer_name

# a writer that starts a temp file, says so, then either dies (kill -9 itself) or waits
WRITER = """
import os, signal, sys, time
from voice_monitor.lake import Lake
path = Lake(sys.argv[1]).temp_path()
path.write_bytes(b"PAR1 half written")
print(path, flush=True)
if sys.argv[2] == "die":
    os.kill(os.getpid(), signal.SIGKILL)
time.sleep(60)
"""


def start_writer(lake: Lake, mode: str) -> tuple[subprocess.Popen, Path]:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(lake.root), mode],
                            stdout=subprocess.PIPE, text=True)
    return proc, Path(proc.stdout.readline().strip())


def temp_files(lake: Lake) -> list[Path]:
    return sorted(p for p in lake.tmp_dir.rglob("*") if p.is_file())


def land_one(lake: Lake) -> None:
    land_records(lake, [event("artifact_received", NOW)], now=NOW)


@pytest.mark.slow
def test_a_killed_writers_files_go_with_the_next_landing_a_live_ones_stay(lake):
    dead, dead_file = start_writer(lake, "die")
    dead.wait()
    live, live_file = start_writer(lake, "wait")
    try:
        assert temp_files(lake) == sorted([dead_file, live_file])
        land_one(lake)
        assert temp_files(lake) == [live_file]  # still being written: kept
        assert not dead_file.parent.exists()
        live.send_signal(signal.SIGKILL)
        live.wait()
        land_one(lake)
        assert temp_files(lake) == []
    finally:
        live.kill()
        live.wait()


def test_a_reused_pid_does_not_keep_a_dead_writers_folder(lake):
    # this process's pid with another start time: the writer that named it is gone
    host, pid, start = writer_name()[2:].rsplit("-", 2)
    assert int(pid) == os.getpid()
    stale = lake.tmp_dir / f"w-{host}-{pid}-{int(start) + 1}"
    stale.mkdir(parents=True)
    (stale / "x.parquet").write_bytes(b"PAR1")
    land_one(lake)
    assert not stale.exists()


def test_other_hosts_and_loose_files_go_only_after_an_hour(lake):
    other = lake.tmp_dir / "w-otherhost-12-34"
    other.mkdir(parents=True)
    fresh, old = other / "fresh.parquet", other / "old.parquet"
    loose = lake.tmp_dir / "legacy.parquet"
    for path in (fresh, old, loose):
        path.write_bytes(b"PAR1")
    hour_ago = time.time() - 3601
    for path in (old, loose):
        os.utime(path, (hour_ago, hour_ago))
    land_one(lake)
    assert temp_files(lake) == [fresh]


def test_concurrent_landings_of_the_same_events_count_every_copy(lake):
    # 1,000 distinct events over 3 hours, landed by 3 threads at once: 3,000 accepted, of
    # which 2,000 are copies of an event landed before (whichever landing came first)
    records = [event("artifact_received", NOW.replace(hour=11 + i % 3, minute=i % 60),
                     event_id=f"e-{i}") for i in range(1000)]
    lines = [json.dumps(r) for r in records]
    start = threading.Barrier(3)

    def land() -> dict:
        start.wait()
        return land_lines(lake, lines, "test", now=NOW).as_dict()

    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda _: land(), range(3)))
    assert sorted(r["duplicates"] for r in results) == [0, 1000, 1000]
    assert sum(r["accepted"] for r in results) == 3000
