"""Compaction killed (kill -9) while it deletes the files it merged: the first copy of an event
landed still wins (contract §3, §4: compaction never changes query results).

The hour: file 1 holds event a as artifact_received, file 2 (landed later) a copy of a as
artifact_failed. Compaction publishes `<file 2>~compacted.parquet` (both rows, in landing order),
then deletes files 1 and 2. It deleted file 1 first: killed right after, the hour was file 2,
then the compacted file, and the later copy in file 2 sorted first and won (a failed, not
received) in every read and rollup until the next compaction. Now the newest goes first.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pyarrow.parquet as pq
from conftest import NOW, event

from voice_monitor.compaction import MARK
from voice_monitor.landing import land_records
from voice_monitor.rollups import run_hourly

H = datetime(2026, 2, 16, 12, tzinfo=UTC)

# compaction of H in its own process, killed (SIGKILL, by itself) right after it deleted its
# first merged file
KILLED_COMPACTION = """
import os, pathlib, signal, sys
from datetime import datetime
from voice_monitor.compaction import compact_hour
from voice_monitor.lake import Lake
unlink = pathlib.Path.unlink
def dying_unlink(self, missing_ok=False):
    unlink(self, missing_ok=missing_ok)
    if self.suffix == ".parquet" and "events" in self.parts:
        os.kill(os.getpid(), signal.SIGKILL)
pathlib.Path.unlink = dying_unlink
compact_hour(Lake(sys.argv[1]), datetime.fromisoformat(sys.argv[2]))
"""


def test_a_compaction_killed_between_its_deletions_keeps_the_first_copy_first(lake):
    land_records(lake, [event("artifact_received", H.replace(minute=5), event_id="a")], now=NOW)
    land_records(lake, [event("artifact_failed", H.replace(minute=6), event_id="a")], now=NOW)
    first, second = lake.event_files(H)

    run = subprocess.run([sys.executable, "-c", KILLED_COMPACTION, str(lake.root),
                          H.isoformat()], capture_output=True, text=True)
    assert run.returncode == -9, run.stderr
    left = [f.name for f in lake.event_files(H)]
    assert len(left) == 2 and left[1] == f"{second.stem}{MARK}.parquet"  # one merged file left

    run_hourly(lake, NOW, hour=H)
    (file,) = lake.snapshot_partition("pipeline_hourly", H).glob("*.parquet")
    row = next(r for r in pq.read_table(file).to_pylist() if r["organization_id"] is None)
    # a once, as first landed: received
    assert (row["event_count"], row["artifacts_received"], row["artifacts_failed"]) == (1, 1, 0)
