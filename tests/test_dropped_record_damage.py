"""A damaged line in retention's record of dropped periods (`state/dropped_*.txt`).

Retention writes whole UTC stamps only, one a line, before it deletes. A line that holds no
time is damage: which period it held cannot be told. It was skipped, so that period looked never
dropped, and a daily rollup rebuilt the hour's kept snapshot from its (dropped) events: zeros,
and the day's row lost the hour. Now every rollup fails with one line naming the file, the line
and the fix; a line cut short at the end (a crash while it was written) is still skipped.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from conftest import NOW, assert_one_line_error, event, run_main

from voice_monitor.lake import DamagedRecordError, dropped_periods, record_dropped
from voice_monitor.landing import land_records
from voice_monitor.retention import run_retention
from voice_monitor.rollups import run_daily, run_hourly

DAY = datetime(2026, 2, 15, tzinfo=UTC)
LATER = NOW + timedelta(days=2)  # 2026-02-18T14:30Z: every event hour of DAY is past 48 h


def platform_event_count(lake, table: str, period: datetime) -> int:
    frame = pl.read_parquet(lake.snapshot_partition(table, period))
    return frame.filter(pl.col("organization_id").is_null())["event_count"].item()


@pytest.fixture
def dropped(lake):
    """DAY with 2 events at 01:xx and 3 at 02:xx, rolled up, then its events dropped by
    retention (hourly and daily snapshots kept: 7 d and 90 d)."""
    at = [DAY + timedelta(hours=1, minutes=m) for m in (5, 6)] + [
        DAY + timedelta(hours=2, minutes=m) for m in (5, 6, 7)]
    land_records(lake, [event("artifact_received", t) for t in at], now=NOW)
    for h in range(24):
        run_hourly(lake, NOW, hour=DAY + timedelta(hours=h))
    run_daily(lake, NOW, day=DAY)
    run_retention(lake, LATER)
    assert not (lake.root / "events" / "date=2026-02-15").exists()
    return lake


def test_the_lake_as_built_holds_the_hand_counted_rows(dropped):
    assert platform_event_count(dropped, "pipeline_hourly", DAY + timedelta(hours=2)) == 3
    assert platform_event_count(dropped, "pipeline_daily", DAY) == 2 + 3


def test_a_damaged_line_fails_the_rollup_naming_it_and_the_snapshots_stay(dropped, capsys):
    record = dropped.root / "state" / "dropped_event_hours.txt"
    lines = record.read_bytes().split(b"\n")
    number = lines.index(b"2026-02-15T02:00:00Z") + 1
    lines[number - 1] = b"2026-02-15T02:00:0\xffZ"  # one byte changed
    record.write_bytes(b"\n".join(lines))
    code, _, err = run_main(capsys, "rollup", "daily", "--day", "2026-02-15",
                            "--lake", str(dropped.root), "--now", "2026-02-18T14:30:00Z")
    assert_one_line_error(code, err)
    assert f"{record} is damaged at line {number}" in err
    assert "write the UTC time that line held" in err
    # kept as they were: 3 events in 02:00, 5 in the day
    assert platform_event_count(dropped, "pipeline_hourly", DAY + timedelta(hours=2)) == 3
    assert platform_event_count(dropped, "pipeline_daily", DAY) == 5


def test_a_line_cut_short_at_the_end_is_skipped_and_the_next_line_read(tmp_path):
    from voice_monitor.lake import Lake

    lake = Lake(tmp_path)
    first, last = DAY, DAY + timedelta(hours=7)
    record_dropped(lake, "event_hours", [first])
    record = tmp_path / "state" / "dropped_event_hours.txt"
    with open(record, "ab") as f:
        f.write(b"2026-02-15T0")  # a crash while writing; its partitions were never deleted
    assert dropped_periods(lake, "event_hours") == {first}
    record_dropped(lake, "event_hours", [last])  # appended right after the cut-short text
    assert dropped_periods(lake, "event_hours") == {first, last}


@pytest.mark.parametrize("damage", [b"\xff\xfe damaged", b"2026-13-45T99:00:00+00:00"])
def test_a_whole_line_that_is_no_time_is_named(tmp_path, damage):
    from voice_monitor.lake import Lake

    lake = Lake(tmp_path)
    record_dropped(lake, "event_hours", [DAY])
    record = tmp_path / "state" / "dropped_event_hours.txt"
    with open(record, "ab") as f:
        f.write(damage + b"\n")
    record_dropped(lake, "event_hours", [DAY + timedelta(hours=1)])
    with pytest.raises(DamagedRecordError, match=r"dropped_event_hours\.txt is damaged at line 2"):
        dropped_periods(lake, "event_hours")


@pytest.mark.parametrize("where", ["local", "store"])
def test_the_record_is_read_once_per_version_and_again_once_it_changes(lake, tmp_path,
                                                                      monkeypatch, where):
    """A rollup asks for the dropped periods once per hour it builds: the record was read (on
    a store: one object fetched per retention run) every time. Now once per version; a new
    record (the next retention run) or one mended by hand is read again."""
    import os

    from voice_monitor import lake as layout
    from voice_monitor.lake import Lake

    if where == "store":
        lake = Lake.create(f"memory://dropped-{os.getpid()}-{tmp_path.name}")
    reads = []
    parse = layout._parse_dropped
    monkeypatch.setattr(layout, "_parse_dropped", lambda w, d: reads.append(str(w)) or parse(w, d))
    first, second = DAY, DAY + timedelta(hours=1)
    record_dropped(lake, "event_hours", [first])
    for _ in range(3):
        assert dropped_periods(lake, "event_hours") == {first}
    assert len(reads) == 1
    record_dropped(lake, "event_hours", [second])  # the next run: appended, or a new object
    assert dropped_periods(lake, "event_hours") == {first, second}
    assert dropped_periods(lake, "event_hours") == {first, second}
    assert len(reads) == 2  # the appended file once more, or the new object only
    if where == "local":  # mended by hand (an editor writes a new file): the same size
        path = lake.state_dir / "dropped_event_hours.txt"
        (tmp_path / "mended.txt").write_text(path.read_text().replace("01:00:00", "05:00:00"))
        os.replace(tmp_path / "mended.txt", path)
        assert dropped_periods(lake, "event_hours") == {first, DAY + timedelta(hours=5)}
