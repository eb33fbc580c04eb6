"""Times far from the events (a typo for the year 9998): answered or refused, never a hang."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from conftest import NOW, assert_one_line_error, event, run_main

from voice_monitor.landing import land_records
from voice_monitor.queries import historical_metrics
from voice_monitor.rollup_plan import hours_to_build

H = timedelta(hours=1)


@pytest.mark.timeout(60)  # a hang guard: the walk from the first event took 70 million steps
def test_an_hourly_run_at_a_far_now_plans_only_the_retained_hours(lake):
    land_records(lake, [event("artifact_received", NOW - 2 * H)], now=NOW)  # 12:30
    far = datetime(9998, 12, 31, tzinfo=UTC)
    # the previous hour and every hour since the cut-off now - 7 days: 7 * 24 of them
    expected = [far - 7 * 24 * H + k * H for k in range(7 * 24)]
    assert hours_to_build(lake, far, timedelta(days=7)) == expected


def test_a_range_of_more_periods_than_one_read_returns_is_refused(lake, capsys):
    land_records(lake, [event("artifact_received", NOW - 2 * H)], now=NOW)
    root = ["--lake", str(lake.root)]
    with pytest.raises(ValueError, match="spans 2,921,574 days, more than the 40,000 one read "
                                         "returns; narrow it$"):  # the library's words (the API's 400)
        historical_metrics(lake, datetime(2000, 1, 1, tzinfo=UTC), datetime(9998, 12, 31, tzinfo=UTC))
    code, out, err = run_main(capsys, "metrics", "historical", *root, "--start",
                              "2000-01-01T00:00Z", "--end", "2100-01-01T00:00Z", "--json")
    assert code == 0, err  # 36,525 days: within the bound


# (command, --start, --end, extra, the count in words, the fix's end): the counts by Python's
# date arithmetic; 2020 to 2026 has two leap days: (6 * 365 + 2) * 24 hours
assert (datetime(9998, 12, 31) - datetime(2000, 1, 1)).days == 2_921_574
assert (datetime(2026, 1, 1) - datetime(2020, 1, 1)) // H == 52_608
FAR = [(("metrics", "historical"), "2000-01-01T00:00Z", "9998-12-31T00:00Z", (),
        "spans 2,921,574 days", ""),
       (("metrics", "stages"), "2000-01-01T00:00Z", "9998-12-31T00:00Z", (),
        "spans 2,921,574 days", ""),
       (("metrics", "orgs"), "2000-01-01T00:00Z", "9998-12-31T00:00Z", (),
        "spans 2,921,574 days", ""),
       (("metrics", "historical"), "2020-01-01T00:00Z", "2026-01-01T00:00Z", ("--period", "hour"),
        "spans 52,608 hours", ", or --period day")]


@pytest.mark.parametrize(("words", "start", "end", "extra", "count", "more"), FAR)
@pytest.mark.parametrize("as_json", [(), ("--json",)])
def test_a_range_of_more_periods_than_one_read_returns_is_a_usage_error(
        lake, capsys, words, start, end, extra, count, more, as_json):
    # was the library's ValueError, exit 1, naming no option, while every other bad range is a
    # usage error (exit 2) checked before reading
    land_records(lake, [event("artifact_received", NOW - 2 * H)], now=NOW)
    code, out, err = run_main(capsys, *words, "--lake", str(lake.root), "--start", start,
                              "--end", end, *extra, *as_json)
    assert_one_line_error(code, err, status=2)
    assert out == ""
    assert (f"the range {start[:-1]}:00Z to {end[:-1]}:00Z {count}, more than the 40,000 one "
            f"read returns; give a later --start or an earlier --end{more} (see ") in err


def test_historical_takes_the_period_as_the_api_and_python_do(lake, capsys):
    # the API's ?period= and historical_metrics(period=) had no CLI option: a day's range could
    # only be read as 24 hourly rows
    land_records(lake, [event("artifact_received", NOW - 2 * H)], now=NOW)
    at = ["--lake", str(lake.root), "--start", "2026-02-15T00:00Z", "--end", "2026-02-17T00:00Z",
          "--json"]
    code, out, err = run_main(capsys, "metrics", "historical", *at, "--period", "day")
    assert code == 0, err
    assert [row["period_start"] for row in json.loads(out)] == ["2026-02-15T00:00:00Z",
                                                                  "2026-02-16T00:00:00Z"]
    code, out, err = run_main(capsys, "metrics", "historical", *at)
    assert code == 0, err
    assert len(json.loads(out)) == 48  # two days, hourly by default (up to 7 days)
    code, _, err = run_main(capsys, "metrics", "historical", *at, "--period", "week")
    assert_one_line_error(code, err, status=2)
    assert "'week' is not one of 'hour', 'day'" in err
