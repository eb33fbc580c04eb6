"""One rule for time text, wherever it comes in: an event's `timestamp` (a file, Parquet, the
producer, the collector), `--now`/`--start`/`--end` on the command line, `alerts ack --now`, and
the API's query parameters.

`2026-11-30t10:00:00z` (RFC 3339 allows a lower-case 't' and 'z') was quarantined in an event,
"not ... an ISO-8601 date-time with 'Z'" (DuckDB's cast takes upper case only), while `--now` took
it; and `--now 20261130T100000Z` (ISO-8601's basic form, which landing refuses in an event) was
taken by the command line and the API. Both take the event's forms now, and refuse the rest
naming the value and the form to use.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from conftest import NOW, assert_one_line_error, event, run_main

from voice_monitor.health.alerts import active_alerts, run_checks
from voice_monitor.landing import land_records

# the same instants three ways: 14:00Z, 14:10Z and 14:20Z (15:20 at +01:00)
LOWER = ["2026-02-16t14:00:00z", "2026-02-16T14:10:00z", "2026-02-16t15:20:00+01:00"]
AT = [datetime(2026, 2, 16, 14, m, tzinfo=UTC) for m in (0, 10, 20)]
BASIC = "20260216T143000Z"  # ISO-8601's basic form: refused in an event, so refused everywhere


def _landed(lake) -> None:
    records = [{"event_id": f"e{i}", "event_type": "artifact_received", "timestamp": text,
                "artifact_id": f"a{i}"} for i, text in enumerate(LOWER)]
    result = land_records(lake, records, now=NOW)
    assert (result.accepted, result.quarantined) == (3, 0)


def test_the_command_line_takes_lower_case_t_and_z_as_an_event_does(capsys, lake):
    _landed(lake)
    code, out, err = run_main(capsys, "metrics", "realtime", "--now", "2026-02-16t14:30:00z",
                              "--json", "--lake", str(lake.root))
    assert code == 0, err
    got = json.loads(out)
    # the window: floor_minute(14:30) - 59 min .. 14:30, all three events in it
    assert (got["artifacts_received"], got["window_start"], got["window_end"]) == (
        3, "2026-02-16T13:31:00Z", "2026-02-16T14:30:00Z")
    code, out, err = run_main(capsys, "events", "recent", "--start", "2026-02-16t14:05:00z",
                              "--end", "2026-02-16t14:25:00Z", "--json", "--lake", str(lake.root))
    assert code == 0, err
    assert [r["event_id"] for r in json.loads(out)["rows"]] == ["e2", "e1"]  # newest first


def test_alerts_ack_takes_a_lower_case_now(capsys, lake):
    land_records(lake, [event("artifact_received", NOW), event("circuit_breaker_opened", NOW)],
                 now=NOW)
    (raised,) = run_checks(lake, NOW).raised
    code, _, err = run_main(capsys, "alerts", "ack", raised.alert_id, "--by", "bob", "--now",
                            "2026-02-16t14:31:00z", "--lake", str(lake.root))
    assert code == 0, err
    (alert,) = active_alerts(lake)
    assert alert.acknowledged_at == datetime(2026, 2, 16, 14, 31, tzinfo=UTC)


@pytest.mark.parametrize("argv", [
    ("metrics", "realtime", "--now", BASIC),
    ("events", "recent", "--start", BASIC),
    ("alerts", "check", "--now", "2026-02-16x14:30:00Z"),  # fromisoformat took any separator
    ("metrics", "realtime", "--now", "2026-W08-1T14:30:00Z"),  # an ISO week date
], ids=["basic now", "basic start", "separator", "week date"])
def test_the_command_line_refuses_what_an_event_may_not_carry(capsys, lake, argv):
    code, _, err = run_main(capsys, *argv, "--lake", str(lake.root))
    assert_one_line_error(code, err, status=2)
    assert f"'{argv[-1]}' is not an ISO-8601" in err and "use e.g. 2026-02-16T14:30:00Z" in err


def test_a_leap_second_is_the_same_instant_on_the_command_line_as_in_an_event(capsys, lake):
    # an event at 13:59:60Z is stored at 13:59:59.999999Z (docs/landing.md); --start of the same
    # text names that instant too (the command line refused it), so the event is in [start, end)
    land_records(lake, [{"event_id": "leap", "event_type": "artifact_received",
                         "timestamp": "2026-02-16T13:59:60Z"}], now=NOW)
    code, out, err = run_main(capsys, "events", "recent", "--start", "2026-02-16T13:59:60Z",
                              "--end", "2026-02-16T14:00:00Z", "--json", "--lake", str(lake.root))
    assert code == 0, err
    assert [(r["event_id"], r["timestamp"]) for r in json.loads(out)["rows"]] == [
        ("leap", "2026-02-16T13:59:59.999999Z")]


def test_the_api_takes_lower_case_and_refuses_the_basic_form_naming_it(lake):
    from fastapi.testclient import TestClient

    from voice_monitor.server import create_app

    _landed(lake)
    staff = {"Authorization": "Bearer staff-0123456789abcdef"}
    with TestClient(create_app(lake, staff_tokens=["staff-0123456789abcdef"])) as http:
        page = http.get("/api/v1/events", headers=staff, params={
            "start": "2026-02-16t14:05:00z", "end": "2026-02-16t14:25:00z"})
        assert page.status_code == 200, page.text
        assert [r["event_id"] for r in page.json()["rows"]] == ["e2", "e1"]
        refused = http.get("/api/v1/artifacts/failed", headers=staff, params={"since": BASIC})
        assert refused.status_code == 400
        assert f"since '{BASIC}' is not an ISO-8601 time; use e.g. 2026-02-16T14:30:00Z" in (
            refused.text)


def test_an_offsets_plus_sent_unencoded_in_a_url_is_named_with_the_fix(lake):
    # in a query string '+' means a space, so ?start=...+05:00 arrives as '... 05:00'
    from fastapi.testclient import TestClient

    from voice_monitor.server import create_app

    _landed(lake)
    staff = {"Authorization": "Bearer staff-0123456789abcdef"}
    with TestClient(create_app(lake, staff_tokens=["staff-0123456789abcdef"])) as http:
        refused = http.get("/api/v1/events?start=2026-02-16T19:35:00+05:30", headers=staff)
        assert refused.status_code == 400
        assert refused.json() == {"detail": (
            "start '2026-02-16T19:35:00 05:30' is not an ISO-8601 time; a '+' in a URL's query "
            "string is read as a space: send it as %2B (2026-02-16T19:35:00%2B05:30), or use Z")}
        # sent encoded, it is 14:05Z: e1 and e2 landed at or after it
        page = http.get("/api/v1/events?start=2026-02-16T19:35:00%2B05:30", headers=staff)
        assert [r["event_id"] for r in page.json()["rows"]] == ["e2", "e1"]


@pytest.mark.parametrize(("argv", "what"), [
    (("metrics", "realtime", "--now"), "time"),
    (("rollup", "hourly", "--hour"), "hour"),
], ids=["now", "hour"])
def test_a_date_with_an_offset_is_refused_not_read_as_a_time_of_day(capsys, lake, argv, what):
    # fromisoformat reads the sign after a date alone as its separator: '2026-02-16+01:00' was
    # 01:00Z, where midnight at +01:00 is 2026-02-15T23:00Z. An offset belongs to a time of day
    code, _, err = run_main(capsys, *argv, "2026-02-16+01:00", "--lake", str(lake.root))
    assert_one_line_error(code, err, status=2)
    assert f"'2026-02-16+01:00' is not an ISO-8601 {what}" in err
    # the hour with the offset is the instant meant: midnight at +01:00, 23:00 UTC the day before
    code, out, err = run_main(capsys, "metrics", "realtime", "--now", "2026-02-16T00+01:00",
                              "--json", "--lake", str(lake.root))
    assert code == 0, err
    assert json.loads(out)["window_end"] == "2026-02-15T23:00:00Z"
