"""The lake layout (contract §4): exact paths, atomic files, temp clean-up, UTC whatever the TZ."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pytest

from voice_monitor.demo.run import MARKER as DEMO_MARKER
from voice_monitor.demo.run import prepare_lake
from voice_monitor.lake import (
    LAKE_MARKER,
    Lake,
    NoLakeError,
    connect,
    contents,
    dropped_periods,
    floor_day,
    floor_hour,
    parquet_files,
    record_dropped,
)

NEW_YORK = timezone(timedelta(hours=-5))  # EST, fixed, so the test needs no tz database


def test_paths_are_pinned(tmp_path):
    lake = Lake(tmp_path)
    at = datetime(2026, 2, 16, 9, 59, 59, 999_999, tzinfo=UTC)
    assert lake.event_partition(at) == tmp_path / "events" / "date=2026-02-16" / "hour=09"
    # 23:30 in New York (UTC-5) on the 15th is 04:30 UTC on the 16th
    local = datetime(2026, 2, 15, 23, 30, tzinfo=NEW_YORK)
    assert lake.event_partition(local) == tmp_path / "events" / "date=2026-02-16" / "hour=04"
    assert lake.quarantine_partition(date(2026, 2, 16)) == tmp_path / "quarantine" / "date=2026-02-16"
    assert lake.snapshot_partition("pipeline_hourly", at) == (
        tmp_path / "snapshots" / "pipeline_hourly" / "date=2026-02-16" / "hour=09")
    assert lake.snapshot_partition("stage_daily", local) == (
        tmp_path / "snapshots" / "stage_daily" / "date=2026-02-16")
    assert lake.organizations_file == tmp_path / "dimensions" / "organizations.parquet"
    assert lake.state_dir == tmp_path / "state"
    assert lake.alerts_dir == tmp_path / "alerts"
    assert lake.tmp_dir == tmp_path / ".tmp"


def test_unknown_snapshot_table(tmp_path):
    with pytest.raises(ValueError, match="unknown snapshot table 'pipeline_weekly'"):
        Lake(tmp_path).snapshot_partition("pipeline_weekly", datetime(2026, 2, 16, tzinfo=UTC))


def test_floors_are_utc():
    local = datetime(2026, 2, 15, 23, 30, tzinfo=NEW_YORK)
    assert floor_hour(local) == datetime(2026, 2, 16, 4, tzinfo=UTC)
    assert floor_day(local) == datetime(2026, 2, 16, tzinfo=UTC)


def _table(n: int = 3) -> pa.Table:
    return pa.table({"x": list(range(n))})


def test_write_file_is_atomic_and_ordered(tmp_path):
    lake = Lake(tmp_path)
    folder = lake.event_partition(datetime(2026, 2, 16, 14, tzinfo=UTC))
    first = lake.write_file(_table(), folder)
    second = lake.write_file(_table(5), folder)
    assert first.parent == folder and first.suffix == ".parquet"
    assert parquet_files(folder) == [first, second]  # names sort in landing order
    assert [p for p in lake.tmp_dir.rglob("*") if p.is_file()] == []  # nothing left behind
    con = connect()
    assert con.execute("select count(*) from read_parquet($f)", {"f": [str(first), str(second)]}
                       ).fetchall() == [(8,)]


def test_replace_partition_keeps_one_file(tmp_path):
    lake = Lake(tmp_path)
    folder = lake.snapshot_partition("pipeline_daily", datetime(2026, 2, 16, tzinfo=UTC))
    lake.write_file(_table(), folder)  # a stray file from an earlier layout
    dest = lake.replace_partition(_table(2), folder)
    lake.replace_partition(_table(4), folder)
    assert parquet_files(folder) == [dest] and dest.name == "part-0.parquet"
    con = connect()
    assert con.execute("select count(*) from read_parquet($f)", {"f": str(dest)}).fetchall() == [(4,)]


def test_drop_partition_removes_empty_parents(tmp_path):
    lake = Lake(tmp_path)
    h9 = lake.event_partition(datetime(2026, 2, 16, 9, tzinfo=UTC))
    h10 = lake.event_partition(datetime(2026, 2, 16, 10, tzinfo=UTC))
    lake.write_file(_table(), h9)
    lake.write_file(_table(), h10)
    lake.drop_partition(h9)
    assert not h9.exists() and h10.exists()
    lake.drop_partition(h10)
    assert not (tmp_path / "events").exists()


def test_event_hours_lists_hours_with_files(tmp_path):
    lake = Lake(tmp_path)
    lake.write_file(_table(), lake.event_partition(datetime(2026, 2, 16, 23, tzinfo=UTC)))
    lake.write_file(_table(), lake.event_partition(datetime(2026, 2, 15, 1, tzinfo=UTC)))
    lake.event_partition(datetime(2026, 2, 16, 5, tzinfo=UTC)).mkdir(parents=True)  # empty
    assert lake.event_hours() == [datetime(2026, 2, 15, 1, tzinfo=UTC),
                                  datetime(2026, 2, 16, 23, tzinfo=UTC)]


def test_clean_tmp_removes_only_old_orphans(tmp_path):
    lake = Lake(tmp_path)
    old = lake.temp_path()
    old.write_bytes(b"PAR1 half written")
    hour_ago = time.time() - 3601
    os.utime(old, (hour_ago, hour_ago))
    fresh = lake.temp_path()
    fresh.write_bytes(b"being written right now")
    assert lake.clean_tmp() == 1
    assert not old.exists() and fresh.exists()
    assert lake.clean_tmp(older_than=timedelta(0)) == 1
    assert [p for p in lake.tmp_dir.rglob("*") if p.is_file()] == []
    assert Lake(tmp_path / "missing").clean_tmp() == 0


def test_tombstones_round_trip(tmp_path):
    lake = Lake(tmp_path)
    assert dropped_periods(lake, "event_hours") == set()
    hours = [datetime(2026, 2, 14, 3, tzinfo=UTC), datetime(2026, 2, 15, 3, tzinfo=NEW_YORK)]
    record_dropped(lake, "event_hours", hours)
    record_dropped(lake, "event_hours", [])
    assert dropped_periods(lake, "event_hours") == {
        datetime(2026, 2, 14, 3, tzinfo=UTC), datetime(2026, 2, 15, 8, tzinfo=UTC)}


def test_tombstones_and_the_lake_marker_say_utc_with_z_and_old_plus_zero_lines_still_read(
        tmp_path):
    """The tombstones and the lake marker's created_at were written '2026-02-14T03:00:00+00:00'
    where every other time the lake writes ends in Z. New lines say Z; a record written before
    (+00:00) still counts, beside the new lines, and a line cut short by a crash before a Z line
    is still skipped."""
    lake = Lake.create(tmp_path / "lake")
    created = json.loads((lake.root / LAKE_MARKER).read_text())["created_at"]
    assert created.endswith("Z") and "+" not in created
    record = lake.state_dir / "dropped_event_hours.txt"
    record.write_text("2026-02-14T03:00:00+00:00\n2026-02-14T04:00:00.5+00:00\n2026-02-0")
    record_dropped(lake, "event_hours", [datetime(2026, 2, 15, 3, tzinfo=NEW_YORK)])
    assert record.read_text().endswith("2026-02-0" + "2026-02-15T08:00:00Z\n")
    assert dropped_periods(lake, "event_hours") == {
        datetime(2026, 2, 14, 3, tzinfo=UTC), datetime(2026, 2, 14, 4, 0, 0, 500000, tzinfo=UTC),
        datetime(2026, 2, 15, 8, tzinfo=UTC)}


def test_a_tombstone_line_cut_short_by_a_crash_is_skipped_and_the_next_one_read(tmp_path,
                                                                               monkeypatch):
    # a retention killed inside its append (before deleting anything: the record comes first)
    # left "2026-02-0"; every rollup then failed on "Invalid isoformat string: '2026-02-0'",
    # and the next run's line, appended to the fragment, was lost with it
    lake = Lake(tmp_path)
    kept = datetime(2026, 2, 1, tzinfo=UTC)
    record_dropped(lake, "event_hours", [kept])
    with open(tmp_path / "state" / "dropped_event_hours.txt", "a") as f:
        f.write("2026-02-0")
    later = datetime(2026, 2, 3, 7, tzinfo=UTC)
    record_dropped(lake, "event_hours", [later])
    assert dropped_periods(lake, "event_hours") == {kept, later}

    # a short write (a full disk) is finished, not left torn with the partitions deleted
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, bytes(data[:5])))
    last = datetime(2026, 2, 4, 9, tzinfo=UTC)
    record_dropped(lake, "event_hours", [last, last + timedelta(hours=1)])
    monkeypatch.undo()
    assert dropped_periods(lake, "event_hours") == {kept, later, last, last + timedelta(hours=1)}


def test_damaged_tombstone_bytes_and_a_stamp_that_is_no_time_are_named(tmp_path):
    # bytes that are not UTF-8 and a stamp-shaped "2026-13-45T99" (damage: retention writes
    # neither) made every rollup fail on "'utf-8' codec can't decode byte 0xff" or "month must
    # be in 1..12", naming no file; then they were skipped, and the period such a line held
    # looked never dropped (tests/test_dropped_record_damage.py): now named, with the line
    lake = Lake(tmp_path)
    first, last = datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 2, 3, 7, tzinfo=UTC)
    record_dropped(lake, "event_hours", [first])
    with open(tmp_path / "state" / "dropped_event_hours.txt", "ab") as f:
        f.write(b"\xff\xfe damaged\n2026-13-45T99:00:00+00:00\n")
    record_dropped(lake, "event_hours", [last])
    with pytest.raises(ValueError, match=r"dropped_event_hours\.txt is damaged at line 2 "):
        dropped_periods(lake, "event_hours")


def test_a_folder_in_place_of_the_tombstone_record_is_named_with_the_fix(tmp_path):
    # every rollup failed with a bare "[Errno 21] Is a directory"; skipping it would rebuild
    # periods retention dropped, and retention cannot record there either
    lake = Lake(tmp_path)
    record = tmp_path / "state" / "dropped_event_hours.txt"
    record.mkdir(parents=True)
    with pytest.raises(NoLakeError) as refused:
        dropped_periods(lake, "event_hours")
    assert str(refused.value) == (
        f"lake file '{record}' is a folder, not a file; move it out of the lake "
        f"(mv {record} {record}.moved) and run the command again")


def test_connect_works_in_utc():
    con = connect()
    assert con.execute("select current_setting('TimeZone')").fetchall() == [("UTC",)]
    # the hour of an instant is its UTC hour, whatever the process's TZ
    assert con.execute(
        "select hour(TIMESTAMPTZ '2026-02-15 23:30:00-05:00')").fetchall() == [(4,)]


def test_a_connection_beside_another_shares_its_database_and_works_in_utc():
    first = connect()
    first.execute("SET TimeZone = 'Asia/Tokyo'")  # a session's setting: not handed on
    first.execute("create table shared as select 7 as n")
    second = connect(beside=first)
    assert second.execute("select current_setting('TimeZone')").fetchall() == [("UTC",)]
    assert second.execute("select n from shared").fetchall() == [(7,)]
    second.close()
    assert first.execute("select n from shared").fetchall() == [(7,)]  # still open
    first.close()


def test_layout_is_the_same_under_another_tz(tmp_path):
    # a fresh interpreter with a far-from-UTC TZ lands an event and reports where it went
    script = (
        "import sys\n"
        "from datetime import datetime, UTC\n"
        "from voice_monitor.lake import Lake\n"
        "from voice_monitor.landing import land_records\n"
        "lake = Lake(sys.argv[1])\n"
        "now = datetime(2026, 2, 16, 4, 30, tzinfo=UTC)\n"
        "r = land_records(lake, [{'event_id': 'a', 'event_type': 'artifact_received',"
        " 'timestamp': '2026-02-15T23:10:00-05:00'}, {'bad': 1}], now=now)\n"
        "print(r.partitions[0], sorted(p.name for p in lake.quarantine_dir.iterdir())[0])\n"
    )
    env = {**os.environ, "TZ": "America/New_York"}
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "lake")], env=env,
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == ["events/date=2026-02-16/hour=04", "date=2026-02-16"]
    assert Path(tmp_path / "lake" / out[0]).is_dir()


def test_a_new_lake_has_no_contents_beyond_its_marker_and_reserve(tmp_path):
    # Lake.create makes the marker and state/reserve: no content; anything else is, the
    # outermost entry that holds it (a folder holding the reserve is looked into)
    lake = Lake.create(tmp_path / "lake")
    assert sorted(p.name for p in lake.root.iterdir()) == [".voice-monitor-lake", "state"]
    assert contents(lake.root) == []
    (lake.root / "README.md").write_text("the default lake")
    assert contents(lake.root) == [lake.root / "README.md"]
    assert contents(lake.root, keep=["README.md"]) == []
    (lake.state_dir / "counters.sqlite").write_text("x")
    (lake.events_dir / "date=2026-02-16").mkdir(parents=True)
    assert sorted(contents(lake.root, keep=["README.md"])) == [
        lake.events_dir, lake.state_dir / "counters.sqlite"]


def test_a_rebuilt_demo_lake_keeps_its_reserve(tmp_path):
    # the demo empties the lake it made before; it deleted state/ whole, reserve and all, and
    # Lake.create makes the reserve only with the marker, which stays: the rebuilt lake had none
    lake = Lake.create(tmp_path / "demo")
    reserve = (lake.state_dir / "reserve").read_bytes()
    (lake.root / DEMO_MARKER).write_text("{}")
    (lake.state_dir / "counters.sqlite").write_text("x")
    (lake.events_dir / "date=2026-02-16" / "hour=14").mkdir(parents=True)
    prepare_lake(lake)
    assert sorted(str(p.relative_to(lake.root)) for p in lake.root.rglob("*")) == [
        ".voice-monitor-lake", "state", "state/reserve"]
    assert len(reserve) == 64 * 1024 and (lake.state_dir / "reserve").read_bytes() == reserve
