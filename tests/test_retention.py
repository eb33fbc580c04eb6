"""Retention (contract §7): whole partitions, cut-offs at their boundaries, catch-up, dry run."""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import NOW, event
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voice_monitor.counters import open_counters, realtime_metrics
from voice_monitor.lake import Lake, dropped_periods
from voice_monitor.landing import land_records
from voice_monitor.retention import RetentionConfig, run_retention

H = timedelta(hours=1)
D = timedelta(days=1)
BASE = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday, 00:00 UTC


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """One small real Parquet file, copied into partitions (retention never reads rows). It
    has an events file's required columns: retention leaves another table's file in an event
    hour where it is (a file of only `x` was one)."""
    path = tmp_path_factory.mktemp("template") / "part-0.parquet"
    pq.write_table(pa.table({"event_id": ["e"], "event_type": ["artifact_received"],
                             "timestamp": pa.array([datetime(2026, 1, 1, tzinfo=UTC)],
                                                   pa.timestamp("us", tz="UTC"))}), path)
    return path


def put(template: Path, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, folder / "part-0.parquet")


def all_files(lake: Lake) -> set[str]:
    """Every data file (state/ holds the tombstones and counters, not partitions)."""
    files = {p.relative_to(lake.root).as_posix() for p in lake.root.rglob("*") if p.is_file()}
    return {f for f in files if not f.startswith("state/") and f != ".voice-monitor-lake"}


def hour_path(prefix: str, start: datetime) -> str:
    return f"{prefix}/date={start:%Y-%m-%d}/hour={start:%H}"


# -- boundaries ---------------------------------------------------------------------------------

def test_event_hour_ending_exactly_at_cutoff_is_deleted_the_next_is_kept(lake, template):
    now = datetime(2026, 2, 16, 14, 0, tzinfo=UTC)
    # now - 48 h = 2026-02-14T14:00: the 13:00 hour ends exactly there; the 14:00 hour an hour later
    for start in (datetime(2026, 2, 14, 13, tzinfo=UTC), datetime(2026, 2, 14, 14, tzinfo=UTC)):
        put(template, lake.event_partition(start))
    report = run_retention(lake, now, only="events")
    assert report.deleted == ["events/date=2026-02-14/hour=13"]
    assert all_files(lake) == {"events/date=2026-02-14/hour=14/part-0.parquet"}


def test_event_hour_boundary_with_now_inside_an_hour(lake, template):
    # now - 48 h = 2026-02-14T14:30: hour 13 (ends 14:00) is past it, hour 14 (ends 15:00) is not
    for start in (datetime(2026, 2, 14, 13, tzinfo=UTC), datetime(2026, 2, 14, 14, tzinfo=UTC)):
        put(template, lake.event_partition(start))
    assert run_retention(lake, NOW, only="events").deleted == ["events/date=2026-02-14/hour=13"]


def test_snapshot_boundaries(lake, template):
    now = datetime(2026, 5, 1, 0, 0, tzinfo=UTC)
    week_ago = now - 7 * D          # 2026-04-24T00: starts exactly at the cut-off, kept
    ninety_ago = now - 90 * D       # 2026-01-31: starts exactly at the cut-off, kept
    for table in ("pipeline_hourly", "stage_hourly"):
        put(template, lake.snapshot_partition(table, week_ago))
        put(template, lake.snapshot_partition(table, week_ago - H))  # starts before: deleted
    for table in ("pipeline_daily", "stage_daily"):
        put(template, lake.snapshot_partition(table, ninety_ago))
        put(template, lake.snapshot_partition(table, ninety_ago - D))
    report = run_retention(lake, now, only="snapshots")
    assert report.deleted == [
        "snapshots/pipeline_hourly/date=2026-04-23/hour=23",
        "snapshots/stage_hourly/date=2026-04-23/hour=23",
        "snapshots/pipeline_daily/date=2026-01-30",
        "snapshots/stage_daily/date=2026-01-30",
    ]
    assert report.counts() == {"snapshots/pipeline_hourly": 1, "snapshots/stage_hourly": 1,
                               "snapshots/pipeline_daily": 1, "snapshots/stage_daily": 1}
    assert all_files(lake) == {
        "snapshots/pipeline_hourly/date=2026-04-24/hour=00/part-0.parquet",
        "snapshots/stage_hourly/date=2026-04-24/hour=00/part-0.parquet",
        "snapshots/pipeline_daily/date=2026-01-31/part-0.parquet",
        "snapshots/stage_daily/date=2026-01-31/part-0.parquet",
    }
    # one tombstone per dropped hour, though two tables had it
    assert dropped_periods(lake, "snapshot_hours") == {week_ago - H}


def test_only_selects_the_flow_and_quarantine_goes_with_either(lake, template):
    put(template, lake.event_partition(NOW - 10 * D))
    put(template, lake.snapshot_partition("pipeline_hourly", NOW - 10 * D))
    put(template, lake.quarantine_partition(NOW - 40 * D))
    events = run_retention(lake, NOW, only="events", dry_run=True).deleted
    snapshots = run_retention(lake, NOW, only="snapshots", dry_run=True).deleted
    assert events == ["events/date=2026-02-06/hour=14", "quarantine/date=2026-01-07"]
    assert snapshots == ["snapshots/pipeline_hourly/date=2026-02-06/hour=14",
                         "quarantine/date=2026-01-07"]
    with pytest.raises(ValueError, match="unknown retention scope 'alerts'"):
        run_retention(lake, NOW, only="alerts")


# -- the real lake: landing, tombstones, counter state -----------------------------------------

def test_landed_lake_events_quarantine_and_tombstones(lake):
    old, recent = NOW - 50 * H, NOW - 47 * H      # 12:30 two days ago (ends 13:00) / 15:30
    land_records(lake, [event("artifact_received", old), event("artifact_received", recent)], now=NOW)
    # quarantine is partitioned by day of receipt: 31 days ago is past 30 d, 29 days is not
    land_records(lake, [{"event_type": "bad"}], now=NOW - 31 * D)
    land_records(lake, [{"event_type": "bad"}], now=NOW - 29 * D)
    report = run_retention(lake, NOW)
    assert report.deleted == ["events/date=2026-02-14/hour=12", "quarantine/date=2026-01-16"]
    assert dropped_periods(lake, "event_hours") == {datetime(2026, 2, 14, 12, tzinfo=UTC)}
    assert lake.event_hours() == [datetime(2026, 2, 14, 15, tzinfo=UTC)]
    assert lake.quarantine_days() == [datetime(2026, 1, 18, tzinfo=UTC)]
    assert not (lake.events_dir / "date=2026-02-14" / "hour=12").exists()


def test_counter_state_older_than_two_hours_is_pruned(lake):
    minute = timedelta(minutes=1)
    land_records(lake, [event("artifact_received", NOW - 5 * minute),
                        event("artifact_received", NOW - 4 * minute)], now=NOW)
    # 50 minutes later the state is under 1 h old: nothing to prune, the window (from 14:21)
    # still counts both
    later = NOW + 50 * minute
    assert run_retention(lake, later).counter_rows == 0
    assert realtime_metrics(lake, now=later)["artifacts_received"] == 2
    # three hours later all is older than 2 h: 2 `seen` rows (one per event) + 2 platform
    # minute buckets (14:25 and 14:26; no organization, so no organization buckets)
    assert run_retention(lake, NOW + 3 * H).counter_rows == 4
    store = open_counters(lake)
    try:
        assert store.db.execute("select count(*) from seen").fetchall() == [(0,)]
    finally:
        store.close()


def test_dry_run_does_not_create_the_counter_store(lake, template):
    put(template, lake.event_partition(NOW - 10 * D))
    run_retention(lake, NOW, dry_run=True)
    assert not (lake.state_dir / "counters.sqlite").exists()


# -- configuration ------------------------------------------------------------------------------

def test_event_retention_shorter_than_the_rollup_look_back_is_refused():
    with pytest.raises(ValueError, match=r"event retention 24 h .* at least 25 h"):
        RetentionConfig(events=24 * H)
    assert RetentionConfig(events=25 * H).events == 25 * H


@pytest.mark.parametrize(("field", "value", "message"), [
    ("hourly_snapshots", 1 * D, r"hourly snapshot retention 24 h .* at least 48 h"),
    ("counter_state", 30 * timedelta(minutes=1), r"counter state retention 0.5 h"),
    ("quarantine", timedelta(0), r"^retention quarantine 0 h keeps nothing; keep it longer "
                                 r"than 0 h \(the default is 30 d\)$"),
    # a cut-off 10**6 days before now is before year 1: OverflowError from run_retention
    ("daily_snapshots", 10**6 * D, r"retention daily_snapshots of 1,000,000 days is longer "
                                   r"than 36,500 days \(100 years\), the most it takes"),
])
def test_other_unsafe_configs_are_refused(field, value, message):
    with pytest.raises(ValueError, match=message):
        RetentionConfig(**{field: value})


def test_configured_cutoffs_apply(lake, template):
    put(template, lake.quarantine_partition(NOW - 3 * D))   # ends 2 days + 9.5 h before NOW
    config = RetentionConfig(quarantine=2 * D)
    assert run_retention(lake, NOW, config).deleted == ["quarantine/date=2026-02-13"]


# -- properties ---------------------------------------------------------------------------------

WEEK_HOURS = 7 * 24


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    event_hours=st.sets(st.integers(0, 12 * WEEK_HOURS), max_size=25),
    snapshot_hours=st.sets(st.integers(0, 12 * WEEK_HOURS), max_size=15),
    daily_days=st.sets(st.integers(0, 200), max_size=10),
    quarantine_days=st.sets(st.integers(0, 200), max_size=10),
    runs=st.lists(st.tuples(st.integers(0, 30), st.integers(0, 59)), min_size=1, max_size=4),
)
def test_retention_never_deletes_newer_than_cutoff_and_catches_up(
        template, event_hours, snapshot_hours, daily_days, quarantine_days, runs):
    """Runs after 0-30 skipped weeks; checked with whole-minute arithmetic from BASE."""
    with tempfile.TemporaryDirectory() as tmp:
        lake = Lake(tmp)
        for h in event_hours:
            put(template, lake.event_partition(BASE + h * H))
        for h in snapshot_hours:
            put(template, lake.snapshot_partition("pipeline_hourly", BASE + h * H))
        for d in daily_days:
            put(template, lake.snapshot_partition("stage_daily", BASE + d * D))
        for d in quarantine_days:
            put(template, lake.quarantine_partition(BASE + d * D))

        minute = 0  # minutes since BASE
        gone: set[str] = set()
        for weeks, extra_minutes in runs:
            minute += weeks * WEEK_HOURS * 60 + extra_minutes
            now = BASE + timedelta(minutes=minute)
            planned = run_retention(lake, now, dry_run=True).deleted
            report = run_retention(lake, now)
            assert report.deleted == planned  # the dry run listed exactly this run's deletions

            # expired iff the partition's deciding time is at or past the cut-off (in minutes)
            expect = set()
            expect |= {hour_path("events", BASE + h * H) for h in event_hours
                       if (h + 1) * 60 <= minute - 48 * 60}
            expect |= {hour_path("snapshots/pipeline_hourly", BASE + h * H) for h in snapshot_hours
                       if h * 60 < minute - 7 * 24 * 60}
            expect |= {f"snapshots/stage_daily/date={BASE + d * D:%Y-%m-%d}" for d in daily_days
                       if d * 1440 < minute - 90 * 1440}
            expect |= {f"quarantine/date={BASE + d * D:%Y-%m-%d}" for d in quarantine_days
                       if (d + 1) * 1440 <= minute - 30 * 1440}
            assert set(report.deleted) == expect - gone  # nothing newer, everything expired
            gone |= expect
            remaining = {f.rsplit("/", 1)[0] for f in all_files(lake) if f.endswith(".parquet")}
            assert remaining.isdisjoint(gone)
            assert len(remaining) == (len(event_hours) + len(snapshot_hours) + len(daily_days)
                                      + len(quarantine_days) - len(gone))
        assert dropped_periods(lake, "event_hours") == {
            BASE + h * H for h in event_hours if (h + 1) * 60 <= minute - 48 * 60}


def test_dry_run_deletes_nothing_and_lists_what_a_real_run_deletes(lake, template):
    for h in range(0, 24 * 100, 7):  # 100 days of scattered partitions of every kind
        put(template, lake.event_partition(BASE + h * H))
        put(template, lake.snapshot_partition("stage_hourly", BASE + h * H))
        put(template, lake.snapshot_partition("pipeline_daily", BASE + h * H))
        put(template, lake.quarantine_partition(BASE + h * H))
    now = BASE + 99 * D
    before = all_files(lake)
    planned = run_retention(lake, now, dry_run=True)
    assert all_files(lake) == before
    assert not (lake.state_dir / "dropped_event_hours.txt").exists()
    real = run_retention(lake, now)
    assert real.deleted == planned.deleted and planned.deleted
    assert {f.rsplit("/", 1)[0] for f in before - all_files(lake)} == set(real.deleted)
    assert run_retention(lake, now).deleted == []  # a second run finds nothing left


def test_alerts_older_than_90_days_go_through_the_alert_store(lake):
    from voice_monitor.health.alerts import alert_history, run_checks

    opened, closed = NOW - 20 * timedelta(minutes=1), NOW + 10 * timedelta(minutes=1)
    # an artifact received keeps the inactivity check quiet: one alert only
    land_records(lake, [event("circuit_breaker_opened", opened),
                        event("artifact_received", opened)], now=NOW)
    assert [a.alert_type for a in run_checks(lake, NOW).raised] == ["circuit_breaker_open"]
    land_records(lake, [event("circuit_breaker_closed", closed)], now=closed)
    assert len(run_checks(lake, closed).resolved) == 1
    # 89 days on, the alert (raised and resolved on 2026-02-16) is kept; 91 days on it is gone
    assert run_retention(lake, NOW + 89 * D, only="events").counts().get("alerts") is None
    report = run_retention(lake, NOW + 91 * D, only="events")
    assert [p for p in report.deleted if p.startswith("alerts/")] == ["alerts/date=2026-02-16"]
    assert alert_history(lake).alerts == []


def test_dropping_snapshots_forgets_what_they_were_built_from(lake):
    from voice_monitor.rollups import manifest_path, run_daily, run_hourly

    day = datetime(2026, 2, 1, tzinfo=UTC)
    land_records(lake, [event("artifact_received", day + timedelta(hours=3))], now=day + timedelta(hours=4))
    run_hourly(lake, day + timedelta(hours=4, minutes=30), hour=day + timedelta(hours=3))
    run_daily(lake, day + timedelta(days=1, hours=1, minutes=30), day=day.date())
    hourly = manifest_path(lake, "hourly", day + timedelta(hours=3))
    daily = manifest_path(lake, "daily", day)
    assert hourly.exists() and daily.exists()
    # 8 days later: the hourly snapshot (7 d) is expired, the daily one (90 d) is not
    run_retention(lake, day + timedelta(days=8, hours=4))
    assert not hourly.exists()
    assert daily.exists()
    # 91 days later the daily one goes too
    run_retention(lake, day + timedelta(days=91, hours=1))
    assert not daily.exists()


def _a_lake_retention_stops_in(folder):
    """A lake in `folder` (nobody's) with events and hourly snapshots of 12:00 and 13:00 of
    2026-02-16, whose stage_hourly day folder is root's: retention run as nobody 8 days on drops
    the event hours and the pipeline_hourly hours, then fails on the stage_hourly ones.
    (lake, that day folder)."""
    from conftest import give_to_nobody

    from voice_monitor.rollups import run_hourly

    lake = Lake.create(folder / "lake")
    land_records(lake, [event("artifact_received", datetime(2026, 2, 16, h, 5, tzinfo=UTC))
                        for h in (12, 13)], now=NOW)
    run_hourly(lake, NOW)
    give_to_nobody(folder)
    closed = lake.root / "snapshots" / "stage_hourly" / "date=2026-02-16"
    shutil.chown(closed, "root")  # nobody may not rename the hours in it
    return lake, closed


def test_retention_stopped_by_a_folder_it_may_not_write_lists_only_what_it_dropped(
        nobodys_folder):
    """Run as nobody, with one hourly snapshot day folder root's: the event hours and the
    pipeline_hourly hours were dropped, then the stage_hourly hour failed ("permission denied
    in the lake ...") and nothing said what was gone. Now those four are listed, and only
    those (the stage_hourly hours are still there)."""
    from conftest import as_nobody

    lake, closed = _a_lake_retention_stops_in(nobodys_folder)
    # 8 days on: the event hours (48 h) and the hourly snapshots (7 d) have all expired
    done = as_nobody("retention", "--lake", str(lake.root), "--now", "2026-02-24T14:30:00Z")
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        "deleted 4 partition(s), then failed (below)",
        "  events                     2",
        "  snapshots/pipeline_hourly  2",
        "  events/date=2026-02-16/hour=12",
        "  events/date=2026-02-16/hour=13",
        "  snapshots/pipeline_hourly/date=2026-02-16/hour=12",
        "  snapshots/pipeline_hourly/date=2026-02-16/hour=13"]
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"voice-monitor: error: permission denied in the lake {lake.root} "
                           f"({closed / 'hour=12'}): "), line
    assert sorted(p.name for p in closed.iterdir()) == ["hour=12", "hour=13"]


def test_retention_json_stopped_part_way_says_it_is_incomplete_and_why(nobodys_folder):
    """The same stop with --json printed the four dropped partitions with "counter_rows": 0
    and nothing saying the run had stopped: a script reading the JSON took it for a whole run
    that pruned no counter row (only the exit code said otherwise). Now "complete": false and
    "error" (the line on stderr); a whole run says "complete": true, "error": null."""
    from conftest import as_nobody

    lake, closed = _a_lake_retention_stops_in(nobodys_folder)
    done = as_nobody("retention", "--json", "--lake", str(lake.root),
                     "--now", "2026-02-24T14:30:00Z")
    assert done.returncode == 1
    said = json.loads(done.stdout)
    assert said["counts"] == {"events": 2, "snapshots/pipeline_hourly": 2}
    assert said["complete"] is False
    (line,) = done.stderr.strip().splitlines()
    assert said["error"] == line.removeprefix("voice-monitor: error: ")
    assert said["error"].startswith(f"permission denied in the lake {lake.root} ")
    # once the folder is nobody's again, the run goes to its end
    shutil.chown(closed, "nobody")
    done = as_nobody("retention", "--json", "--lake", str(lake.root),
                     "--now", "2026-02-24T14:30:00Z")
    assert done.returncode == 0, done.stderr
    said = json.loads(done.stdout)
    assert said["counts"] == {"snapshots/stage_hourly": 2}
    assert (said["complete"], said["error"]) == (True, None)
