"""Rollups respect retention and completeness (contract §6, §7): which periods are built, what
is refused and why. Expected periods and counts are worked out by hand in the comments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from conftest import NOW, event

from voice_monitor.lake import dropped_periods, record_dropped
from voice_monitor.landing import land_records
from voice_monitor.retention import RetentionConfig, run_retention
from voice_monitor.rollups import RefusedError, days_to_build, hours_to_build, run_daily, run_hourly

H = timedelta(hours=1)
D = datetime(2026, 2, 15, tzinfo=UTC)  # the day before NOW's day
# a short hourly-snapshot retention keeps the number of hours these tests build small
TWO_DAYS = RetentionConfig(hourly_snapshots=timedelta(days=2))
SUNDAY = datetime(2026, 2, 15, 4, 30, tzinfo=UTC)  # snapshot retention's slot: Sundays 04:30


def hours(first: datetime, last: datetime) -> list[datetime]:
    return [first + k * H for k in range(int((last - first) / H) + 1)]


def platform(lake, table: str, period: datetime) -> dict:
    frame = pl.read_parquet(lake.snapshot_partition(table, period))
    return frame.filter(pl.col("organization_id").is_null()).row(0, named=True)


def test_hourly_run_never_rebuilds_what_snapshot_retention_dropped(lake):
    # cut-off at SUNDAY with 2 days: 2026-02-13T04:30; hours starting before it are expired
    c, a, b = (datetime(2026, 2, 13, h, tzinfo=UTC) for h in (2, 3, 5))
    land_records(lake, [event("artifact_received", t + 10 * timedelta(minutes=1))
                        for t in (c, a, b)], now=SUNDAY)
    run_hourly(lake, SUNDAY, hour=a)
    run_hourly(lake, SUNDAY, hour=b)
    report = run_retention(lake, SUNDAY, TWO_DAYS, only="snapshots")
    assert report.counts() == {"snapshots/pipeline_hourly": 1, "snapshots/stage_hourly": 1}
    assert dropped_periods(lake, "snapshot_hours") == {a}
    # a late event for the dropped hour (its events are still retained) changes nothing
    land_records(lake, [event("artifact_received", a + 20 * timedelta(minutes=1))], now=SUNDAY)
    # retention with another configuration dropped 2026-02-14T10:00, which now gets events
    tombstoned = datetime(2026, 2, 14, 10, tzinfo=UTC)
    record_dropped(lake, "snapshot_hours", [tombstoned])
    land_records(lake, [event("artifact_received", tombstoned)], now=SUNDAY)

    plan = hours_to_build(lake, SUNDAY, TWO_DAYS.hourly_snapshots)
    # not a (dropped by retention), not c nor 04:00 (before the cut-off, never built), not b
    # (built, unchanged), not the tombstoned hour: every other hour from 06:00 on the 13th to
    # the previous hour, 03:00 on the 15th
    expected = [h for h in hours(b + H, SUNDAY.replace(minute=0) - H) if h != tombstoned]
    assert plan == expected
    assert run_hourly(lake, SUNDAY, retention=TWO_DAYS).periods == expected
    assert lake.snapshot_periods("pipeline_hourly") == [b] + expected
    # an explicit hour is still built on request: its events are there
    assert run_hourly(lake, SUNDAY, hour=a).periods == [a]


def test_daily_runs_after_snapshot_retention_refuse_nothing(lake):
    boundary = datetime(2026, 2, 13, tzinfo=UTC)
    land_records(lake, [event("artifact_received", boundary + 10 * H)], now=SUNDAY)
    run_daily(lake, boundary + timedelta(days=1, hours=1, minutes=30), day=boundary)
    assert platform(lake, "pipeline_daily", boundary)["artifacts_received"] == 1
    # Sunday 04:30: the boundary day's hours 00:00-04:00 start before 2026-02-13T04:30
    run_retention(lake, SUNDAY, TWO_DAYS, only="snapshots")
    assert dropped_periods(lake, "snapshot_hours") == set(hours(boundary, boundary + 4 * H))
    # the daily runs of the following days do not see the boundary day as changed, so they
    # neither rebuild nor refuse it (they build only the previous day)
    for days_later in range(2, 9):
        now = boundary + timedelta(days=days_later, hours=1, minutes=30)
        assert days_to_build(lake, now) == [now.replace(hour=0, minute=0) - timedelta(days=1)]
    # rebuilding it on request is refused: five of its hourly snapshots are gone
    with pytest.raises(RefusedError, match="hourly snapshot hour 2026-02-13T00:00"):
        run_daily(lake, SUNDAY, day=boundary)
    assert platform(lake, "pipeline_daily", boundary)["artifacts_received"] == 1
    # a real change to a remaining hour makes it changed again (and then refused, rightly)
    land_records(lake, [event("artifact_received", boundary + 10 * H)], now=SUNDAY)
    run_hourly(lake, SUNDAY, hour=boundary + 10 * H)
    assert boundary in days_to_build(lake, SUNDAY)


def land_day(lake) -> int:
    """Hour h of D gets (h % 3) + 1 receipts: 8 × (1 + 2 + 3) = 48 in all."""
    records = [event("artifact_received", D + h * H + k * timedelta(minutes=1))
               for h in range(24) for k in range(h % 3 + 1)]
    land_records(lake, records, now=NOW)
    return len(records)


def test_daily_builds_missing_and_changed_hours_first(lake):
    assert land_day(lake) == 48
    missing = [D + h * H for h in (3, 7, 11, 15, 19, 23)]  # 1+2+3+1+2+3 = 12 receipts
    for h in hours(D, D + 23 * H):
        if h not in missing:
            run_hourly(lake, NOW, hour=h)
    report = run_daily(lake, NOW, day=D)
    assert report.hours == missing and report.periods == [D]
    assert platform(lake, "pipeline_daily", D)["artifacts_received"] == 48  # not 48 - 12
    # a late event in 05:00 after its hour was built: the daily rebuilds that hour first
    land_records(lake, [event("artifact_received", D + 5 * H + 30 * timedelta(minutes=1))],
                 now=NOW)
    report = run_daily(lake, NOW, day=D)
    assert report.hours == [D + 5 * H]
    assert platform(lake, "pipeline_hourly", D + 5 * H)["artifacts_received"] == 3 + 1
    assert platform(lake, "pipeline_daily", D)["artifacts_received"] == 49
    # nothing changed since: the day is rebuilt from its hourly rows alone
    assert run_daily(lake, NOW, day=D).hours == []


def test_daily_refuses_a_day_whose_missing_hours_lost_their_events(lake):
    land_day(lake)
    lost = [D + 2 * H, D + 3 * H]  # 3 + 1 receipts
    for h in hours(D, D + 23 * H):
        if h not in lost:
            run_hourly(lake, NOW, hour=h)
    # what event retention does: remember the hours, then delete them
    record_dropped(lake, "event_hours", lost)
    for h in lost:
        lake.drop_partition(lake.event_partition(h))
    message = (r"refusing to build the daily snapshot of 2026-02-15: 2 of its 24 hourly "
               r"snapshots are missing \(02:00, 03:00\) and cannot be built .* dropped by "
               r"retention; the existing daily snapshot is kept\. Use force=True to build")
    with pytest.raises(RefusedError, match=message):
        run_daily(lake, NOW, day=D)
    assert lake.snapshot_periods("pipeline_daily") == []
    automatic = run_daily(lake, D + timedelta(days=1, hours=1, minutes=30))
    assert automatic.periods == [] and [p for p, _ in automatic.refused] == [D]
    assert "\n" not in automatic.refused[0][1]  # one line
    # --force builds the day from the hourly rows there are
    assert run_daily(lake, NOW, day=D, force=True).periods == [D]
    assert platform(lake, "pipeline_daily", D)["artifacts_received"] == 48 - 4


def test_daily_refuses_a_day_that_is_not_over(lake):
    today = NOW.replace(hour=0, minute=30)
    with pytest.raises(RefusedError, match=r"daily snapshot of 2026-02-16: the day is not over "
                                           r"at now 2026-02-16T14:30:00Z, so its hourly rows are "
                                           r"incomplete; build it at or after 2026-02-17T00:00:00Z"):
        run_daily(lake, NOW, day=today)
    assert lake.snapshot_periods("pipeline_hourly") == []
