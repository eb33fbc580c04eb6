"""An unreadable file in a lake on an object store (contract §4 and §13: "every command and flow
works on it"), on fsspec's in-process `memory://` store (fast); the same story as
test_lake_integrity.py tells for a folder.

On a store, a truncated file failed every read with DuckDB's raw 'No magic bytes found', no
`lake_file_unreadable` alert was raised, and `lake check` refused the lake ("reads local lakes
only"): the fix the errors of a local lake name did not exist for a store.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import pytest
from conftest import NOW, event, run_main

from voice_monitor import storage
from voice_monitor.lake import Lake
from voice_monitor.landing import land_records
from voice_monitor.queries import EventFilesUnreadableWarning, recent_events

NOW_ARG = "2026-02-16T14:30:00Z"


def at(hour: int, minute: int = 5) -> datetime:
    return datetime(2026, 2, 16, hour, minute, tzinfo=UTC)


@pytest.fixture
def broken(tmp_path, monkeypatch) -> tuple[Lake, str]:
    """A store lake with 11:00 (2 events), 12:00 (3 + a truncated second file of 4) and 13:00
    (1); and the truncated file's path relative to the lake."""
    monkeypatch.setenv(storage.STATE_DIR_ENV, str(tmp_path / "state"))
    lake = Lake.create(f"memory://integrity-{os.getpid()}-{tmp_path.name}/lake")
    for hour, counts in {11: (2,), 12: (3, 4), 13: (1,)}.items():
        for landing, count in enumerate(counts):
            land_records(lake, [event("artifact_received", at(hour, 10 * landing + i))
                                for i in range(count)], now=NOW)
    bad = lake.event_files(at(12))[1]
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    yield lake, "events/date=2026-02-16/hour=12/" + bad.name
    storage.remove_tree(lake.root)


def test_reads_name_the_file_and_the_command_that_moves_it(broken, capsys):
    lake, bad = broken
    # a page of recent events leaves the hour out, naming the file (test_event_log_unreadable)
    with pytest.warns(EventFilesUnreadableWarning, match="hour=12") as caught:
        page = recent_events(lake)
    assert f"unreadable lake file {bad} (" in str(caught[0].message)
    assert sorted(t.hour for t in page.rows["timestamp"]) == [11, 11, 13]
    code, _, err = run_main(capsys, "events", "recent", "--lake", str(lake.root))
    (line,) = err.strip().splitlines()
    assert code == 0 and bad in line and "lake check --move-aside --lake" in line
    code, _, err = run_main(capsys, "sql", "select count(*) from events", "--lake",
                            str(lake.root))
    (line,) = err.strip().splitlines()
    assert code == 1 and bad in line and "lake check --move-aside --lake" in line


def test_the_rollup_builds_the_other_hours_and_the_alert_is_raised(broken, capsys):
    lake, bad = broken
    root = ["--lake", str(lake.root)]
    code, out, err = run_main(capsys, "rollup", "hourly", *root, "--now", NOW_ARG)
    assert code == 1 and bad in err
    assert "built 2 hour(s): 2026-02-16T11:00Z, 2026-02-16T13:00Z" in out
    code, out, _ = run_main(capsys, "alerts", "check", *root, "--now", NOW_ARG, "--json")
    (raised,) = [a for a in json.loads(out)["raised"] if a["alert_type"] == "lake_file_unreadable"]
    assert bad in raised["message"]


def test_lake_check_lists_moves_aside_and_the_hour_builds_again(broken, capsys):
    lake, bad = broken
    root = ["--lake", str(lake.root)]
    code, out, err = run_main(capsys, "lake", "check", *root)
    assert code == 1, err
    assert out.splitlines()[0].startswith(f"unreadable {bad}: ")
    assert out.splitlines()[-1] == "checked 4 file(s): 1 unreadable"
    code, out, err = run_main(capsys, "lake", "check", "--move-aside", *root)
    assert code == 0, err
    target = lake.root / "corrupt" / bad
    assert target.exists() and not (lake.root / bad).exists()
    note = json.loads((lake.root / "corrupt" / (bad + ".json")).read_text())
    assert note["original_path"] == bad and "moved_at" in note
    code, out, _ = run_main(capsys, "lake", "check", *root)
    assert (code, out.strip()) == (0, "checked 3 file(s): 0 unreadable")
    code, out, err = run_main(capsys, "rollup", "hourly", "--hour", "2026-02-16T12", *root)
    assert code == 0, err
    assert [e for e in recent_events(lake, limit=500).rows["timestamp"]
            if e.hour == 12].__len__() == 3  # the first landing of 12:00


def test_retention_keeps_the_expired_partition_holding_the_file(broken, capsys):
    lake, bad = broken
    code, _, err = run_main(capsys, "retention", "--lake", str(lake.root),
                            "--now", "2026-02-19T14:30:00Z")
    assert code == 1 and bad in err
    assert lake.event_hours() == [at(12, 0)]
    assert len(lake.event_files(at(12))) == 2
