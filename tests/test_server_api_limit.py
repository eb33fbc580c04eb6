"""`limit` is read by the API as the CLI reads `--limit` (click's int, Python's int()): pydantic
took `limit=5.0`, which `--limit 5.0` refuses, so the same page size was an answer on one and
a usage error on the other (contract §12: the same errors as the CLI)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import NOW, event, run_main
from fastapi.testclient import TestClient

from voice_monitor.landing import land_records
from voice_monitor.server import create_app

STAFF = "staff-0123456789abcdef"
HEADERS = {"Authorization": f"Bearer {STAFF}"}

# (text, rows a page of it holds out of 7 events, or None when refused), worked out by hand
# from int(): a sign, '_' between digits and blanks around are int's; a point, an exponent,
# hex and nothing at all are not
VALUES = [("5", 5), ("+5", 5), ("1_000", 7), (" 2", 2), ("5.0", None), ("5.", None),
          ("1e3", None), ("0x10", None), ("", None), ("five", None)]

# every endpoint that takes `limit`, and the command it mirrors
PAGED = [("/api/v1/events", ["events", "recent"]),
         ("/api/v1/artifacts/failed", ["artifacts", "failed"]),
         ("/api/v1/artifacts/active", ["artifacts", "active", "--now", "2026-02-16T14:30:00Z"]),
         ("/api/v1/alerts/history", ["alerts", "history"])]


@pytest.fixture
def http(lake):
    with TestClient(create_app(lake, staff_tokens=[STAFF])) as client:
        yield client


def test_every_paged_endpoint_takes_and_refuses_the_limits_the_cli_does(capsys, lake, http):
    for path, command in PAGED:
        for text, _ in VALUES:
            code, _, err = run_main(capsys, *command, "--limit", text, "--lake", str(lake.root))
            answer = http.get(path, params={"limit": text}, headers=HEADERS)
            assert (answer.status_code == 200) == (code == 0), (path, text, err, answer.text)
            if code != 0:
                assert answer.status_code == 400
                assert answer.json() == {"detail": (
                    f"limit {text!r} is not a whole number; send one in digits, as --limit "
                    "takes it, e.g. limit=50")}


def test_a_limit_the_cli_takes_pages_as_it_says(lake, http):
    land_records(lake, [event("artifact_received", NOW - timedelta(minutes=i)) for i in range(7)],
                 now=NOW)
    for text, expected in VALUES:
        answer = http.get("/api/v1/events", params={"limit": text}, headers=HEADERS)
        if expected is None:
            assert answer.status_code == 400, text
        else:
            assert len(answer.json()["rows"]) == expected, text


def test_a_limit_out_of_range_is_the_librarys_message(http):
    answer = http.get("/api/v1/events", params={"limit": "-1"}, headers=HEADERS)
    assert (answer.status_code, answer.json()["detail"]) == (
        400, "limit -1 must be a positive integer, e.g. 50: a page holds 1 to 500 rows (a larger "
             "limit gives 500)")


def test_the_api_schema_gives_limit_as_an_integer_of_default_50(http):
    """The parameter is read as text (one parser with --limit), so its schema's default was the
    string "50"; a client generated from the schema sent it as such, or refused it."""
    schema = http.get("/api/v1/openapi.json", headers=HEADERS).json()
    for path, _ in PAGED:
        (limit,) = [p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == "limit"]
        assert (limit["schema"]["type"], limit["schema"]["default"]) == ("integer", 50), path
