"""`voice-monitor rollup|backfill|retention`: the real console script, in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from conftest import NOW, event

from voice_monitor.landing import land_records

SCRIPT = Path(sys.executable).parent / "voice-monitor"
H = timedelta(hours=1)


def cli(lake, *args: str, now: str = "2026-02-16T14:30:00Z",
        env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**{k: v for k, v in os.environ.items() if k != "VOICE_MONITOR_LAKE"}, **(env or {})}
    return subprocess.run([str(SCRIPT), *args, "--lake", str(lake.root), "--now", now],
                          capture_output=True, text=True, env=env, timeout=120)


def ok_json(lake, *args: str, now: str = "2026-02-16T14:30:00Z"):
    done = cli(lake, *args, "--json", now=now)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_rollup_hourly_explicit_hour_and_automatic(lake):
    land_records(lake, [event("artifact_received", NOW - 80 * timedelta(minutes=1),  # 13:10
                              organization_id="org-1"),
                        event("artifact_received", NOW - 3 * H)], now=NOW)          # 11:30
    facts = ok_json(lake, "rollup", "hourly", "--hour", "2026-02-16T13")
    assert facts["periods"] == ["2026-02-16T13:00:00Z"]
    assert facts["partitions"] == ["snapshots/pipeline_hourly/date=2026-02-16/hour=13",
                                   "snapshots/stage_hourly/date=2026-02-16/hour=13"]
    assert facts["rows"]["pipeline_hourly"] == 2  # the platform row and org-1's
    table = pq.read_table(lake.snapshot_partition("pipeline_hourly", NOW - H) / "part-0.parquet")
    assert sorted(table.column("artifacts_received").to_pylist()) == [1, 1]

    # without --hour: the previous complete hour (13:00, always) and the hours since the first
    # event that have no snapshot yet, 11:00 and 12:00 (empty: a zero-filled platform row)
    done = cli(lake, "rollup", "hourly")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == (
        "built 3 hour(s): 2026-02-16T11:00Z, 2026-02-16T12:00Z, 2026-02-16T13:00Z")


def test_refused_hour_exits_1_naming_the_period_and_force(lake):
    dropped = datetime(2026, 2, 14, 12, tzinfo=UTC)
    land_records(lake, [event("artifact_received", dropped + 10 * timedelta(minutes=1))], now=NOW)
    assert ok_json(lake, "retention", "--only", "events")["deleted"] == [
        "events/date=2026-02-14/hour=12"]
    # an old event for the dropped hour lands again: the hour is still refused
    land_records(lake, [event("artifact_received", dropped + 20 * timedelta(minutes=1))], now=NOW)
    done = cli(lake, "rollup", "hourly", "--hour", "2026-02-14T12")
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1
    assert "2026-02-14T12:00" in done.stderr and "--force" in done.stderr
    assert lake.snapshot_periods("pipeline_hourly") == []
    forced = ok_json(lake, "rollup", "hourly", "--hour", "2026-02-14T12", "--force")
    assert forced["periods"] == ["2026-02-14T12:00:00Z"]


def test_an_hour_after_now_is_refused_naming_it_and_the_fix(lake):
    # at now 14:30, 15:00 has not begun: a snapshot of it would be a row of zeros for a period
    # that has not happened; 14:00 (begun) is built from the events so far, as before
    done = cli(lake, "rollup", "hourly", "--hour", "2026-02-16T15")
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert "2026-02-16T15:00" in line and "has not begun" in line and "14:30" in line
    assert "at or after 2026-02-16T16:00" in line and "--force" in line
    assert "(or pass a later --now)" in line and "force=True" not in line  # the CLI's options
    assert lake.snapshot_periods("pipeline_hourly") == []
    assert ok_json(lake, "rollup", "hourly", "--hour", "2026-02-16T14")["periods"] == [
        "2026-02-16T14:00:00Z"]
    # a day after now is refused the same way (the day is not over)
    done = cli(lake, "rollup", "daily", "--day", "2026-02-18")
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert "2026-02-18" in line and "not over" in line and "--force" in line


def test_rollup_daily_and_its_refusal(lake):
    day = datetime(2026, 2, 15, tzinfo=UTC)
    land_records(lake, [event("artifact_received", day + 5 * H, organization_id="org-1")], now=NOW)
    facts = ok_json(lake, "backfill", "--start", "2026-02-15T00:00Z", "--end", "2026-02-16T00:00Z")
    # 24 complete hours of the 15th, then the day itself
    assert len(facts["periods"]) == 25
    assert facts["periods"][0] == "2026-02-15T00:00:00Z"
    assert facts["periods"][-1] == "2026-02-15T00:00:00Z"  # the day comes last
    # a platform row every hour plus org-1's one hour; the day: platform and org-1; stage
    # tables: the four processing stages for each of those scopes
    assert facts["rows"] == {"pipeline_hourly": 25, "stage_hourly": 4 * 25,
                             "pipeline_daily": 2, "stage_daily": 4 * 2}

    daily = ok_json(lake, "rollup", "daily", "--day", "2026-02-15")
    assert daily["partitions"] == ["snapshots/pipeline_daily/date=2026-02-15",
                                   "snapshots/stage_daily/date=2026-02-15"]
    # 8 days later the hourly rows of the 15th are gone: rebuilding the day is refused
    later = "2026-02-23T14:30:00Z"
    assert ok_json(lake, "retention", "--only", "snapshots", now=later)["counts"][
        "snapshots/pipeline_hourly"] == 24
    done = cli(lake, "rollup", "daily", "--day", "2026-02-15", now=later)
    assert done.returncode == 1
    assert "2026-02-15" in done.stderr and "Use --force to rebuild" in done.stderr
    assert "force=True" not in done.stderr  # Python's words (it said "--force (force=True)")
    assert len(done.stderr.strip().splitlines()) == 1
    assert lake.snapshot_periods("pipeline_daily") == [day]  # the existing snapshot is kept


def test_backfill_from_long_before_the_lake_skips_what_retention_would_delete_and_says_so(lake):
    # one event on the 15th at 05:10, now 2026-02-16T14:30, hourly snapshots kept 2 d and daily
    # 3 d: --start 2000-01-01 built every hour of 26 years (228,000 partitions of zeros, hours of
    # work). A period is skipped when it is before the lake's first day (the 15th) and retention
    # would delete it (hourly: period_start < 02-14T14:30, daily: < 02-13T14:30). So hours
    # start at 02-14T15:00 (9 that day, 24 of the 15th, 14 of the 16th up to 13:00) and days at
    # the 14th (the 14th and the 15th; the 16th is not over)
    day = datetime(2026, 2, 15, tzinfo=UTC)
    land_records(lake, [event("artifact_received", day + 5 * H + 10 * timedelta(minutes=1))],
                 now=NOW)
    env = {"VOICE_MONITOR_RETENTION_HOURLY_SNAPSHOTS": "2d",
           "VOICE_MONITOR_RETENTION_DAILY_SNAPSHOTS": "3d"}
    done = cli(lake, "backfill", "--start", "2000-01-01T00:00Z", "--end", "2026-02-17T00:00Z",
               "--json", env=env)
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout)
    assert len(facts["periods"]) == 9 + 24 + 14 + 2
    assert facts["periods"][0] == "2026-02-14T15:00:00Z"  # hours first, then days
    assert facts["periods"][-2:] == ["2026-02-14T00:00:00Z", "2026-02-15T00:00:00Z"]
    # (the daily of the 14th builds the hours it is made from, 00:00-14:00 too)
    hourly = lake.snapshot_periods("pipeline_hourly")
    assert hourly[0] == day - 24 * H and len(hourly) == 24 + 24 + 14
    assert lake.snapshot_periods("pipeline_daily") == [day - 24 * H, day]
    assert done.stderr == (
        "voice-monitor: backfill starts at 2026-02-14T00:00Z, not at --start 2000-01-01T00:00Z: "
        "the lake holds nothing before it (no events, snapshots or hours retention dropped) and "
        "snapshot retention would delete what was built there\n")
    # a range wholly before what is kept: nothing built, said, exit 0
    done = cli(lake, "backfill", "--start", "2000-01-01T00:00Z", "--end", "2026-02-13T00:00Z",
               env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == (
        "built 0 period(s) from 2000-01-01T00:00Z to 2026-02-13T00:00Z")
    assert "nothing to backfill from 2000-01-01T00:00Z to 2026-02-13T00:00Z" in done.stderr
    assert len(lake.snapshot_periods("pipeline_hourly")) == 24 + 24 + 14
    # a range with no hour ended at now (14:30): nothing built, and said (it said only
    # "built 0 period(s)")
    done = cli(lake, "backfill", "--start", "2026-02-16T14:00Z", "--end", "2026-02-18T00:00Z")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ("voice-monitor: nothing to backfill from 2026-02-16T14:00Z to "
                           "2026-02-18T00:00Z: no hour of it has ended at now 2026-02-16T14:30Z; "
                           "backfill builds ended hours and days (pass a later --now, or wait)\n")


def test_backfill_takes_set_for_retentions_cut_offs_over_the_environment(lake):
    # as rollup hourly and retention do: backfill had no --set, its cut-offs came from the
    # config file and environment only. One event on the 15th, now 2026-02-16T14:30; the
    # environment keeps snapshots 30 d (nothing of the range skipped), --set 2 d hourly and 3 d
    # daily: hours from 02-14T15:00 (9 before the end, 02-15T00:00) and the day 02-14
    day = datetime(2026, 2, 15, tzinfo=UTC)
    land_records(lake, [event("artifact_received", day + 5 * H + 10 * timedelta(minutes=1))],
                 now=NOW)
    env = {"VOICE_MONITOR_RETENTION_HOURLY_SNAPSHOTS": "30d",
           "VOICE_MONITOR_RETENTION_DAILY_SNAPSHOTS": "30d"}
    done = cli(lake, "backfill", "--start", "2026-02-10T00:00Z", "--end", "2026-02-15T00:00Z",
               "--set", "retention.hourly_snapshots=2d", "--set", "retention.daily_snapshots=3d",
               "--json", env=env)
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout)
    assert len(facts["periods"]) == 9 + 1
    assert facts["periods"][0] == "2026-02-14T15:00:00Z"
    assert facts["periods"][-1] == "2026-02-14T00:00:00Z"
    assert "backfill starts at 2026-02-14T00:00Z, not at --start 2026-02-10T00:00Z" in done.stderr
    done = cli(lake, "backfill", "--start", "2026-02-10T00:00Z", "--end", "2026-02-15T00:00Z",
               "--set", "retention.hourly=2d")
    assert done.returncode == 1 and "unknown setting 'retention.hourly' in --set" in done.stderr


def test_backfill_of_an_empty_lake_builds_the_zeros_retention_keeps(lake):
    # contract §6: the platform row exists for every period, zeros when nothing happened; a
    # backfill of an empty lake builds what the schedules would have (they were building
    # nothing: no row at all), for the periods retention keeps: from 02-15T00:00 to now
    # 02-16T14:30, 24 + 14 hours and the 15th
    done = cli(lake, "backfill", "--start", "2026-02-15T00:00Z", "--end", "2026-02-17T00:00Z")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert len(lake.snapshot_periods("pipeline_hourly")) == 38
    assert lake.snapshot_periods("pipeline_daily") == [datetime(2026, 2, 15, tzinfo=UTC)]
    files = str(lake.snapshots_dir / "pipeline_hourly" / "**" / "*.parquet")
    assert duckdb.sql(f"select count(*), sum(artifacts_received) from read_parquet('{files}', "
                      "hive_partitioning = false) where organization_id is null").fetchall() == [
        (38, 0)]


def test_retention_dry_run_then_real(lake):
    land_records(lake, [event("artifact_received", NOW - 50 * H),
                        event("artifact_received", NOW - 47 * H)], now=NOW)
    land_records(lake, [{"event_type": "broken"}], now=NOW - 40 * 24 * H)
    done = cli(lake, "retention", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "would delete 2 partition(s)",
        "  events                     1",
        "  quarantine                 1",
        "  events/date=2026-02-14/hour=12",
        "  quarantine/date=2026-01-07",
    ]
    assert len(lake.event_hours()) == 2
    facts = ok_json(lake, "retention")
    assert facts["deleted"] == ["events/date=2026-02-14/hour=12", "quarantine/date=2026-01-07"]
    assert facts["dry_run"] is False
    assert facts["cutoffs"]["events"] == "2026-02-14T14:30:00Z"


def test_usage_errors_are_one_line_and_exit_2(lake):
    for args, needle in [
        (("rollup", "hourly", "--hour", "2026-02-15T14:30"), "not the start of an hour"),
        (("rollup", "daily", "--day", "15/02/2026"), "'15/02/2026' is not a day"),
        (("retention", "--only", "alerts"), "alerts"),
        (("backfill", "--start", "2026-02-16T00:00Z", "--end", "2026-02-15T00:00Z"),
         "is not after --start"),
    ]:
        done = cli(lake, *args)
        assert done.returncode == 2, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and needle in done.stderr, done.stderr


def test_an_hour_given_as_a_date_or_a_day_given_with_a_time_is_a_usage_error(lake):
    # '--hour 2026-02-15' was quietly hour 00 (a date alone is midnight as a time), and
    # '--day 2026-02-15T05' said only "is not a day": each now names what is missing and the fix
    from voice_monitor.rollups import run_daily, run_hourly

    land_records(lake, [event("artifact_received", datetime(2026, 2, 15, 0, 10, tzinfo=UTC))],
                 now=NOW)
    for args, line in [
        (("rollup", "hourly", "--hour", "2026-02-15"),
         "hour '2026-02-15' is a date, not an hour; name the hour, e.g. 2026-02-15T00"),
        (("rollup", "daily", "--day", "2026-02-15T05"),
         "day '2026-02-15T05' is a time, not a day; give the day alone, e.g. 2026-02-15"),
        # date.fromisoformat's other forms (basic, ISO week) built 2026-02-15 unasked
        (("rollup", "daily", "--day", "20260215"),
         "day '20260215' is not a day; use YYYY-MM-DD, e.g. 2026-02-15"),
        (("rollup", "daily", "--day", "2026-W07-7"),
         "day '2026-W07-7' is not a day; use YYYY-MM-DD, e.g. 2026-02-15"),
    ]:
        done = cli(lake, *args)
        assert done.returncode == 2, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and line in done.stderr, done.stderr
    assert lake.snapshot_periods("pipeline_hourly") == []  # nothing built
    assert lake.snapshot_periods("pipeline_daily") == []
    # the Python API's text takes the same rule
    with pytest.raises(ValueError, match="^hour '2026-02-15' is a date, not an hour; name the "
                                         "hour, e.g. 2026-02-15T00$"):
        run_hourly(lake, NOW, hour="2026-02-15")
    with pytest.raises(ValueError, match="^day '2026-02-15T05' is a time, not a day"):
        run_daily(lake, NOW, day="2026-02-15T05")
    with pytest.raises(ValueError, match="^day '20260215' is not a day; use YYYY-MM-DD"):
        run_daily(lake, NOW, day="20260215")
    assert lake.snapshot_periods("pipeline_hourly") == []
    # the fix each names works: the hour 00 (its one event), the day
    assert ok_json(lake, "rollup", "hourly", "--hour", "2026-02-15T00")["periods"] == [
        "2026-02-15T00:00:00Z"]
    assert ok_json(lake, "rollup", "daily", "--day", "2026-02-15")["periods"] == [
        "2026-02-15T00:00:00Z"]


def test_rollup_daily_builds_missing_hours_first_and_says_so(lake):
    day = datetime(2026, 2, 15, tzinfo=UTC)
    land_records(lake, [event("artifact_received", day + 5 * H),
                        event("artifact_received", day + 9 * H)], now=NOW)
    assert ok_json(lake, "rollup", "hourly", "--hour", "2026-02-15T05")["periods"] == [
        "2026-02-15T05:00:00Z"]
    # 23 of the day's 24 hourly snapshots are missing: built first, then the day from all 24
    done = cli(lake, "rollup", "daily", "--day", "2026-02-15")
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()[:2]
    assert first.startswith("built 23 missing or changed hour(s) first: 2026-02-15T00:00Z, ")
    assert "2026-02-15T05:00Z" not in first and first.endswith("2026-02-15T23:00Z")
    assert second == "built 1 day(s): 2026-02-15"
    daily = pq.read_table(lake.snapshot_partition("pipeline_daily", day) / "part-0.parquet")
    assert daily.column("artifacts_received").to_pylist() == [2]  # not 1: hour 09 counts
    # rebuilt on request with nothing missing: no hour is built first
    assert ok_json(lake, "rollup", "daily", "--day", "2026-02-15")["hours"] == []


def test_a_bad_dask_setting_is_named_with_where_it_came_from(lake):
    # from --set it was "bad Dask scheduler address 'foo' in VOICE_MONITOR_DASK", a variable
    # nobody had set; now the settings name the value and its source, before anything runs
    for argv, env, source in ((["--set", "dask=foo"], {}, "flag --set"),
                              ([], {"VOICE_MONITOR_DASK": "tcp://scheduler"},
                               "env VOICE_MONITOR_DASK")):
        for command in (["rollup", "hourly"], ["backfill", "--start", "2026-02-16T00:00Z",
                                               "--end", "2026-02-16T01:00Z"]):
            done = cli(lake, *command, *argv, env=env)
            assert done.returncode == 1 and done.stdout == "", done.stderr
            (line,) = done.stderr.splitlines()
            assert line.startswith("voice-monitor: error: bad setting dask=") and (
                f"(from {source}): " in line and "is not a Dask scheduler address; expected "
                "e.g. tcp://scheduler:8786, or empty to run in-process" in line), line
    assert lake.snapshot_periods("pipeline_hourly") == []


@pytest.mark.slow  # ~30 s: a backfill of 89 days in a subprocess
def test_backfill_of_an_empty_lake_writes_no_hourly_rows_retention_would_delete(lake):
    # an empty lake, now 2026-02-16T14:30: daily retention keeps days from 2025-11-19 (89 whole
    # days to the 15th), hourly from 02-09T15:00. The
    # daily runs of the 80 days before 02-09 built their 24 hours of zeros first: 2,136
    # hourly partitions of each table, that the next retention deletes
    done = cli(lake, "backfill", "--start", "2025-01-01T00:00Z", "--end", "2026-02-16T00:00Z",
               "--json")
    assert done.returncode == 0, done.stderr
    days = lake.snapshot_periods("pipeline_daily")
    assert len(days) == 89 and days[0] == datetime(2025, 11, 19, tzinfo=UTC)
    hours = lake.snapshot_periods("pipeline_hourly")
    # the hours of 02-09 before 15:00 are built for that day's daily rows: 7 whole days
    assert hours[0] == datetime(2026, 2, 9, tzinfo=UTC) and len(hours) == 7 * 24
    assert len(lake.snapshot_periods("stage_hourly")) == len(hours)
    # the daily rows of a day with no hours built: the platform's zeros and its four stages
    files = str(lake.snapshots_dir / "{table}" / "date=2025-12-01" / "*.parquet")
    assert duckdb.sql(f"select organization_id, event_count, artifacts_received, "
                      f"overall_failure_rate from read_parquet('{files.format(table='pipeline_daily')}')"
                      ).fetchall() == [(None, 0, 0, 0.0)]
    assert sorted(duckdb.sql(f"select pipeline_stage, started, succeeded, failed from "
                             f"read_parquet('{files.format(table='stage_daily')}')").fetchall()) == [
        (stage, 0, 0, 0) for stage in sorted(["transcription", "claims_extraction",
                                              "entity_resolution", "draft_generation"])]
