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
