"""A retention run killed (kill -9) between its drops and their bookkeeping: the next run
finishes the bookkeeping too.

A run renames each expired partition out of the lake, then removes the hours' copy logs
(`state/copies/<hour>.log`), the dropped snapshots' manifests (`state/rollups/…`) and the
emptied date folders. Killed in between, the next run found no expired partition left, so those
stayed for good: a copy log per dropped hour, a manifest per dropped snapshot period, an empty
`date=` folder.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

from conftest import NOW, event

from voice_monitor.lake import Lake
from voice_monitor.landing import land_lines
from voice_monitor.retention import run_retention
from voice_monitor.rollups import run_hourly

DAY_START = NOW.replace(hour=0, minute=0)  # 2026-02-16T00:00Z
HOURS = [DAY_START + timedelta(hours=k) for k in (1, 2, 3)]
# every hour of 2026-02-16 is past the 48 h events cut-off and the 7 d hourly-snapshot one
LATER = NOW + timedelta(days=9)

# retention in its own process, killed (SIGKILL, by itself) as it renames its `n`-th partition
# out of the lake: the partitions before it are gone, their bookkeeping not done
KILLED_RETENTION = """
import os, signal, sys
from datetime import datetime
from voice_monitor.lake import Lake
from voice_monitor.retention import run_retention
renames, rename = [0], os.rename
def dying_rename(src, dst):
    renames[0] += 1
    if renames[0] == int(sys.argv[3]):
        os.kill(os.getpid(), signal.SIGKILL)
    rename(src, dst)
os.rename = dying_rename
run_retention(Lake(sys.argv[1]), datetime.fromisoformat(sys.argv[2]))
"""


def kill_retention_at_rename(lake: Lake, n: int) -> None:
    run = subprocess.run([sys.executable, "-c", KILLED_RETENTION, str(lake.root),
                          LATER.isoformat(), str(n)], capture_output=True, text=True)
    assert run.returncode == -9, run.stderr


def built_lake(lake: Lake) -> Lake:
    lines = [json.dumps(event("artifact_received", h + timedelta(minutes=5))) for h in HOURS]
    land_lines(lake, lines + lines[:1], "test", now=NOW)  # a copy: the first hour's log has a line
    for h in HOURS:
        run_hourly(lake, now=NOW, hour=h)
    return lake


def leftovers(lake: Lake) -> dict[str, list[str]]:
    def names(folder):
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    return {
        "copy logs": names(lake.root / "state" / "copies"),
        "hourly manifests": names(lake.root / "state" / "rollups" / "hourly"),
        "events days": names(lake.root / "events"),
        "snapshot days": names(lake.root / "snapshots" / "pipeline_hourly"),
    }


def test_the_lake_as_built_has_what_the_test_looks_for(lake):
    found = leftovers(built_lake(lake))
    assert found["copy logs"] == ["2026-02-16T01.log", "2026-02-16T02.log", "2026-02-16T03.log"]
    assert found["hourly manifests"] == ["2026-02-16T01.json", "2026-02-16T02.json",
                                         "2026-02-16T03.json"]
    assert found["events days"] == found["snapshot days"] == ["date=2026-02-16"]


def test_a_run_killed_after_dropping_an_event_hour_leaves_nothing_for_the_next_run(lake):
    built_lake(lake)
    kill_retention_at_rename(lake, 2)  # the first event hour is out, the other two in place
    assert sorted(p.name for p in (lake.root / "events" / "date=2026-02-16").iterdir()) == [
        "hour=02", "hour=03"]
    run_retention(lake, LATER)
    assert leftovers(lake) == {"copy logs": [], "hourly manifests": [], "events days": [],
                               "snapshot days": []}


def test_a_run_killed_after_dropping_every_partition_leaves_nothing_for_the_next_run(lake):
    built_lake(lake)
    # 3 event hours, then 3 hours of each of the two hourly snapshot tables: killed at the last
    kill_retention_at_rename(lake, 9)
    run_retention(lake, LATER)
    assert leftovers(lake) == {"copy logs": [], "hourly manifests": [], "events days": [],
                               "snapshot days": []}


def test_on_an_object_store_the_next_run_forgets_the_manifests_of_what_was_dropped(tmp_path):
    """On a store a partition is dropped by deleting its prefix, then its manifest is removed:
    a run killed in between left the manifests of the dropped snapshot hours for good, since
    the sweep that finishes a killed run's bookkeeping was skipped on a store. The kill is
    made by hand (memory:// lives in this process): the snapshot prefixes deleted, the
    manifests left, as such a run leaves them."""
    import os

    lake = built_lake(Lake.create(f"memory://killed-{os.getpid()}-{tmp_path.name}"))
    manifests = lake.root / "state" / "rollups" / "hourly"
    assert sorted(p.name for p in manifests.iterdir()) == [
        "2026-02-16T01.json", "2026-02-16T02.json", "2026-02-16T03.json"]
    for table in ("pipeline_hourly", "stage_hourly"):
        for hour in HOURS:
            lake.drop_partition(lake.snapshot_partition(table, hour))
    run_retention(lake, LATER)
    assert not manifests.exists() or list(manifests.iterdir()) == []
    assert lake.event_hours() == []


def test_a_run_killed_in_an_hour_holding_a_file_not_its_own_leaves_that_file_in_place(lake):
    """An expired hour holding a file retention does not own (a note): the whole partition was
    renamed into the run's trash and the note put back after; killed in between, the note
    stayed in the dead run's .tmp/ folder, which the next landing deletes. Now only the hour's
    own files leave it, and the note never moves."""
    built_lake(lake)
    hour = lake.event_partition(HOURS[0])
    (hour / "notes.txt").write_text("keep me\n")
    for n in (1, 2):  # at the first rename, then at the second
        kill_retention_at_rename(lake, n)
        land_lines(lake, [json.dumps(event("artifact_received", NOW))], "test", now=NOW)
        assert (hour / "notes.txt").read_text() == "keep me\n"
    run_retention(lake, LATER)
    assert [p.name for p in hour.iterdir()] == ["notes.txt"]
