"""Times at the ends of the calendar: a clear error naming the value, never an OverflowError.

`--now 0001-01-01T00:00:00Z` once reached users as "OverflowError: date value out of range" (the
real-time window starts 59 minutes earlier, before year 1), the server answered it 500 with no
message, and `rollup hourly --hour 0001-01-01T00` wrote a snapshot partition for year 1.
"""

from __future__ import annotations

import pytest
from conftest import assert_one_line_error, run_main
from server_process import STAFF, ServerProcess, bearer, client

FAR = [
    ("metrics", "realtime", "--now", "0001-01-01T00:00:00Z"),
    ("metrics", "realtime", "--now", "0001-01-01T00:30:00+01:00"),  # year 0 once in UTC
    ("metrics", "historical", "--start", "2026-02-16T00:00:00Z", "--end", "9999-12-31T23:00:00Z"),
    ("alerts", "check", "--now", "0001-01-01T00:00:00Z"),
    ("retention", "--dry-run", "--now", "0001-01-01T00:00:00Z"),
    ("rollup", "hourly", "--hour", "0001-01-01T00"),
    ("rollup", "daily", "--day", "9999-12-31"),
    ("artifacts", "active", "--now", "9999-12-31T23:59:59Z"),
]


@pytest.mark.parametrize("argv", FAR, ids=[" ".join(a[:3]) for a in FAR])
def test_a_time_off_the_calendar_is_a_usage_error_naming_it(capsys, lake, argv):
    code, _, err = run_main(capsys, *argv, "--lake", str(lake.root))
    assert_one_line_error(code, err, status=2)
    assert f"'{argv[-1]}' is out of range" in err
    assert "OverflowError" not in err
    assert not (lake.root / "snapshots").exists()  # nothing was built for year 1 or 9999


def test_the_range_ends_themselves_work(capsys, lake):
    for now in ("1970-01-01T00:00:00Z", "9998-12-31T23:59:59Z"):
        for argv in (("metrics", "realtime"), ("metrics", "historical"), ("alerts", "check"),
                     ("retention", "--dry-run")):
            if argv == ("alerts", "check") and now < "2000":
                continue  # refused: it would resolve every active alert (test_alerts)
            code, _, err = run_main(capsys, *argv, "--now", now, "--lake", str(lake.root))
            assert code == 0, (argv, now, err)


@pytest.mark.slow
def test_the_api_answers_400_naming_a_time_off_the_calendar(tmp_path):
    with ServerProcess(tmp_path / "lake", log=tmp_path / "server.log") as server, client() as http:
        for path, params, name, value in [
            ("/api/v1/metrics/realtime", {"now": "0001-01-01T00:00:00Z"}, "now",
             "0001-01-01T00:00:00Z"),
            ("/api/v1/metrics/historical", {"start": "2026-02-16T00:00:00Z",
                                            "end": "9999-12-31T23:59:59Z"}, "end",
             "9999-12-31T23:59:59Z"),
            ("/api/v1/freshness", {"now": "0001-01-01T00:00:00Z"}, "now", "0001-01-01T00:00:00Z"),
        ]:
            answer = http.get(server.url + path, params=params, headers=bearer(STAFF))
            assert answer.status_code == 400, (path, answer.text)
            assert answer.json()["detail"].startswith(f"{name} '{value}' is out of range"), path


# -- a rollup period before 2000-01-01: no event can be in it ---------------------------------
BEFORE_2000 = [
    ("rollup", "hourly", "--hour", "1999-12-31T23"),
    ("rollup", "daily", "--day", "1999-12-31"),
    ("backfill", "--end", "2000-01-01T01:00Z", "--start", "1999-12-31T00:00Z"),
]


@pytest.mark.parametrize("argv", BEFORE_2000, ids=[" ".join(a[:2]) for a in BEFORE_2000])
def test_a_rollup_period_before_2000_is_a_usage_error_naming_it(capsys, lake, argv):
    # it built empty snapshots (a 1999 day: 24 empty hours first), as if that were a period
    code, _, err = run_main(capsys, *argv, "--lake", str(lake.root),
                            "--now", "2026-02-16T14:30:00Z")
    assert_one_line_error(code, err, status=2)
    assert f"'{argv[-1]}' is before 2000-01-01" in err and "use a time from 2000-01-01 on" in err
    assert not (lake.root / "snapshots").exists()


@pytest.mark.parametrize(("kind", "now", "said"), [
    ("hourly", "2000-01-01T00:30:00Z", "nothing to build: no hour needed a rollup"),
    ("daily", "1970-01-01T01:30:00Z", "nothing to build: no day needed a rollup"),
])
def test_a_run_whose_previous_period_is_before_2000_builds_nothing_there(capsys, lake, kind,
                                                                      now, said):
    # `--hour 1999-12-31T23` is refused, but a run without one at such a `now` built its
    # previous period anyway: snapshots/pipeline_hourly/date=1999-12-31/hour=23, and for the
    # daily run the day 1969-12-31 with its 24 hours first, all rows of zeros
    code, out, err = run_main(capsys, "rollup", kind, "--lake", str(lake.root), "--now", now)
    assert code == 0, err
    assert out.strip() == said
    assert not (lake.root / "snapshots").exists()


def test_the_first_hour_of_2000_is_rolled_up(capsys, lake):
    code, _, err = run_main(capsys, "rollup", "hourly", "--hour", "2000-01-01T00",
                            "--lake", str(lake.root), "--now", "2026-02-16T14:30:00Z")
    assert code == 0, err
    assert (lake.root / "snapshots" / "pipeline_hourly" / "date=2000-01-01" / "hour=00").is_dir()


def test_the_python_api_refuses_a_rollup_period_before_2000_the_same_way(lake):
    from datetime import UTC, date, datetime

    from voice_monitor import rollups

    now = datetime(2026, 2, 16, 14, 30, tzinfo=UTC)
    before = "is before 2000-01-01, where a lake holds no event"  # times in messages: UTC, Z
    with pytest.raises(ValueError, match=f"hour '1999-12-31T23:00:00Z' {before}"):
        rollups.run_hourly(lake, now, hour=datetime(1999, 12, 31, 23, 59, tzinfo=UTC))
    for day in (date(1999, 12, 31), "1999-12-31", datetime(1999, 12, 31, 12, tzinfo=UTC)):
        with pytest.raises(ValueError, match=f"day '1999-12-31T00:00:00Z' {before}"):
            rollups.run_daily(lake, now, day=day)
    with pytest.raises(ValueError, match=f"start '1999-12-31T23:00:00Z' {before}"):
        rollups.backfill(lake, datetime(1999, 12, 31, 23, 30, tzinfo=UTC),
                         datetime(2000, 1, 1, 1, tzinfo=UTC), now, progress=False)
    # the far ends and a day that is no day: ValueError naming them, not OverflowError or
    # AttributeError ('str' object has no attribute 'year')
    with pytest.raises(ValueError, match="hour '0001-01-01T00:00:00Z' is out of range"):
        rollups.run_hourly(lake, now, hour=datetime(1, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="day '15/02/2026' is not a day; use YYYY-MM-DD"):
        rollups.run_daily(lake, now, day="15/02/2026")
    assert not (lake.root / "snapshots").exists()


def test_a_refusal_prints_its_times_in_utc_with_z_as_reports_do(lake):
    # they printed Python's isoformat, '2026-02-16T14:30:00+00:00', beside reports' '...Z'
    import re
    from datetime import UTC, datetime, timedelta, timezone

    from voice_monitor import arguments, rollups

    now = datetime(2026, 2, 16, 15, 30, tzinfo=timezone(timedelta(hours=1)))  # 14:30Z
    with pytest.raises(ValueError, match=re.escape(
            "bad time range: start 2026-02-16T15:00:00Z is not before end 2026-02-16T14:00:00Z; "
            "swap them or widen the range")):
        arguments.time_range("2026-02-16T15:00:00Z", "2026-02-16T15:00:00+01:00")
    with pytest.raises(ValueError, match=re.escape(
            "backfill end 2026-02-16T10:00:00Z must be after start 2026-02-16T12:00:00Z")):
        rollups.backfill(lake, datetime(2026, 2, 16, 12, tzinfo=UTC),
                         datetime(2026, 2, 16, 10, tzinfo=UTC), now, progress=False)
    with pytest.raises(rollups.RefusedError, match=re.escape(
            "refusing to build the hourly snapshot of 2026-02-16T16:00:00Z: the hour has not "
            "begun at now 2026-02-16T14:30:00Z; build it at or after 2026-02-16T17:00:00Z")):
        rollups.run_hourly(lake, now, hour=datetime(2026, 2, 16, 16, 20, tzinfo=UTC))


def test_a_demo_that_would_start_before_2000_is_a_usage_error(capsys, tmp_path):
    # --end 1999-01-01T00:00Z drew three days of events stamped 1998-12-29 on, quarantined
    # every one of them (timestamp before 2000-01-01) and built empty snapshots
    root = tmp_path / "demo"
    code, _, err = run_main(capsys, "demo", "--end", "2000-01-02T12:00:00Z", "--lake", str(root))
    assert_one_line_error(code, err, status=2)
    assert ("--end 2000-01-02T12:00Z with --days 3 starts the demo at 1999-12-30T12:00Z, before "
            "2000-01-01, where every event is rejected; use an --end from 2000-01-04T00:00Z on"
            ) in err
    assert not root.exists()
    from datetime import UTC, datetime

    from voice_monitor.demo.run import run_demo
    from voice_monitor.lake import Lake

    with pytest.raises(ValueError, match="--days 1 starts the demo at 1998-12-31T00:00Z"):
        run_demo(Lake(root), datetime(1999, 1, 1, tzinfo=UTC), days=1)
    assert not root.exists()
