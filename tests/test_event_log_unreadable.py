"""One unreadable event file leaves its own hour out of a timeline, a failed or an active list,
never the whole answer (contract §4): in Python, on the command line and from the HTTP API.
Expected rows are read off the literal events landed."""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime, timedelta

import pytest
from conftest import event, run_main
from fastapi.testclient import TestClient

from voice_monitor.integrity import known_unreadable
from voice_monitor.landing import land_records
from voice_monitor.queries import (
    EventFilesUnreadableWarning,
    active_artifacts,
    artifact_timeline,
    failed_artifacts,
    recent_events,
    retry_history,
)
from voice_monitor.server import create_app

DAY = datetime(2026, 2, 16, tzinfo=UTC)
NOW = DAY + timedelta(hours=6)
STAFF = "staff-0123456789abcdef"


def at(hour: int, minute: int = 0) -> datetime:
    return DAY + timedelta(hours=hour, minutes=minute)


@pytest.fixture
def damaged(lake):
    """art-a: received 01:00, transcribed 02:10, retried 03:05, completed 03:20; art-b:
    received 01:05, failed 02:30; art-c: received 02:40; art-d: received 01:10, failed 03:40.
    Hour 2's one event file is then overwritten with garbage."""
    land_records(lake, [
        event("artifact_received", at(1, 0), artifact_id="art-a", event_id="a1"),
        event("artifact_received", at(1, 5), artifact_id="art-b", event_id="b1"),
        event("artifact_received", at(1, 10), artifact_id="art-d", event_id="d1"),
        event("transcription_completed", at(2, 10), artifact_id="art-a", event_id="a2"),
        event("artifact_failed", at(2, 30), artifact_id="art-b", event_id="b2"),
        event("artifact_received", at(2, 40), artifact_id="art-c", event_id="c1"),
        event("retry_initiated", at(3, 5), artifact_id="art-a", event_id="a3"),
        event("artifact_completed", at(3, 20), artifact_id="art-a", event_id="a4"),
        event("artifact_failed", at(3, 40), artifact_id="art-d", event_id="d2"),
    ], now=NOW)
    (path,) = lake.event_files(at(2))
    path.write_bytes(b"not a parquet file")
    return lake, path.relative_to(lake.root).as_posix()


def test_python_reads_leave_the_unreadable_hour_out_and_warn_naming_it(damaged):
    lake, bad = damaged
    fix = f"voice-monitor lake check --move-aside --lake {lake.root}"
    with pytest.warns(EventFilesUnreadableWarning, match=f"{bad}.*{fix}") as said:
        timeline = artifact_timeline(lake, "art-a")
    assert timeline["event_id"].to_list() == ["a1", "a3", "a4"]  # a2, at 02:10, left out
    (warning,) = [w.message for w in said if w.category is EventFilesUnreadableWarning]
    assert warning.hours == [at(2)] and warning.files[0][0] == bad
    assert str(warning).startswith("artifact_timeline: the events of 1 hour(s) "
                                   "(2026-02-16T02:00:00Z) are left out of this answer: "
                                   f"unreadable lake file {bad} (")

    with pytest.warns(EventFilesUnreadableWarning, match=bad):
        retries = retry_history(lake, "art-a")
    assert retries["event_id"].to_list() == ["a3"]

    with pytest.warns(EventFilesUnreadableWarning, match=bad):
        failed = failed_artifacts(lake)
    assert failed.rows["artifact_id"].to_list() == ["art-d"]  # art-b's failure is in hour 2

    # art-b's failure left out: it reads as in flight (what the warning says may happen);
    # art-c, received in hour 2, is not seen
    with pytest.warns(EventFilesUnreadableWarning, match=bad):
        active = active_artifacts(lake, now=NOW)
    assert active.rows["artifact_id"].to_list() == ["art-b"]

    # a read at a now before the hour does not read it, so says nothing
    with warnings.catch_warnings():
        warnings.simplefilter("error", EventFilesUnreadableWarning)
        assert artifact_timeline(lake, "art-a", now=at(1, 30))["event_id"].to_list() == ["a1"]
    assert bad in {rel for rel, _ in known_unreadable(lake)}  # for lake_file_unreadable


def test_the_cli_answers_with_the_other_hours_and_one_warning_line(damaged, capsys):
    lake, bad = damaged
    root = ["--lake", str(lake.root)]
    fix = f"move it aside with: voice-monitor lake check --move-aside --lake {lake.root}"
    for argv, query, expected in (
            (["events", "timeline", "art-a"], "artifact_timeline", ["a1", "a3", "a4"]),
            (["artifacts", "failed"], "failed_artifacts", ["art-d"]),
            (["artifacts", "active", "--now", "2026-02-16T06:00:00Z"], "active_artifacts",
             ["art-b"])):
        code, out, err = run_main(capsys, *argv, "--json", *root)
        assert code == 0, err
        answer = json.loads(out)
        found = [r.get("event_id", r.get("artifact_id"))
                 for r in (answer if isinstance(answer, list) else answer["rows"])]
        assert found == expected, argv
        (line,) = err.splitlines()
        assert line.startswith(f"voice-monitor: warning: {query}: the events of 1 hour(s) "
                               f"(2026-02-16T02:00:00Z) are left out of this answer: "
                               f"unreadable lake file {bad} ("), line
        assert line.endswith(fix), line


def test_the_api_answers_with_the_other_hours_and_says_the_file_and_the_fix(damaged):
    lake, bad = damaged
    app = create_app(lake, ingest_tokens=[], staff_tokens=[STAFF])
    headers = {"Authorization": f"Bearer {STAFF}"}
    with TestClient(app) as http:
        for path, expected in (("artifacts/art-a/timeline", ["a1", "a3", "a4"]),
                               ("artifacts/art-a/retries", ["a3"]),
                               ("artifacts/failed", ["art-d"]),
                               ("artifacts/active?now=2026-02-16T06:00:00Z", ["art-b"])):
            answer = http.get(f"/api/v1/{path}", headers=headers)
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert [r.get("event_id", r.get("artifact_id")) for r in body["rows"]] == expected
            said = body["events_unreadable"]
            assert (said["files"], said["hours"]) == ([bad], ["2026-02-16T02:00:00Z"]), path
            assert bad in said["message"] and "--move-aside" in said["message"], path
        (lake.root / bad).unlink()  # moved aside: nothing is said
        body = http.get("/api/v1/artifacts/art-a/timeline", headers=headers).json()
        assert "events_unreadable" not in body
        assert [r["event_id"] for r in body["rows"]] == ["a1", "a3", "a4"]


@pytest.fixture
def log_with_a_damaged_hour(lake):
    """Hours 1 to 5 of 3, 2, 4, 1, 3 events (hour 2's two at one moment, told apart by their
    ids; hour 4's stamped at 04:00:00 exactly); hour 3's one file is then overwritten with
    garbage. Returns the lake, the damaged file, and every event landed as (time, id)."""
    landed = []
    for hour, minutes in {1: (5, 20, 40), 2: (30, 30), 3: (1, 2, 3, 59), 4: (0,),
                          5: (10, 10, 50)}.items():
        for i, minute in enumerate(minutes):
            landed.append((at(hour, minute), f"e{hour}-{i}"))
    land_records(lake, [event("artifact_received", moment, event_id=ident)
                        for moment, ident in landed], now=NOW)
    (path,) = lake.event_files(at(3))
    path.write_bytes(b"not a parquet file")
    return lake, path.relative_to(lake.root).as_posix(), landed


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 5, 9, 10])
def test_recent_event_pages_read_around_a_damaged_hour_losing_or_repeating_no_other_row(
        log_with_a_damaged_hour, limit):
    """A page of recent events that reached an hour holding an unreadable file failed whole
    (contract §4: one file never stops the rest). The hour is now left out, said by each page
    that reaches it; walked page by page with the cursor, the pages hold every other event once,
    in (timestamp, event_id) order, newest first, counted here from the events landed."""
    lake, bad, landed = log_with_a_damaged_hour
    readable = sorted(((m, i) for m, i in landed if m.hour != 3), reverse=True)
    assert len(readable) == 13 - 4
    shown, cursor, pages = [], None, 0
    while True:
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            page = recent_events(lake, limit=limit, cursor=cursor)
        rows = page.rows.select("timestamp", "event_id").rows()
        # the page reaches hour 3 when its cursor is not past it and the rows after the
        # cursor in hours 4 and 5 do not fill it and one more (the row that says whether
        # there is more)
        after = [r for r in readable if not shown or r < shown[-1]]
        reaches = ((not shown or shown[-1][0] >= at(4))
                   and len([r for r in after if r[0] >= at(4)]) <= limit)
        warned = [w.message for w in said if w.category is EventFilesUnreadableWarning]
        assert len(warned) == int(reaches), (pages, rows)
        if warned:
            assert warned[0].hours == [at(3)] and [f for f, _ in warned[0].files] == [bad]
            assert str(warned[0]).startswith(
                "recent_events: the events of 1 hour(s) (2026-02-16T03:00:00Z) are left out of "
                f"this answer: unreadable lake file {bad} (")
        shown += rows
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert shown == readable
    assert pages == -(-len(readable) // limit)
    assert bad in {rel for rel, _ in known_unreadable(lake)}  # for lake_file_unreadable


def test_a_kept_recent_page_says_the_hour_again_until_the_file_is_moved_aside(
        log_with_a_damaged_hour):
    lake, bad, _ = log_with_a_damaged_hour
    for _ in range(2):  # the second answer is the page kept: said again
        with pytest.warns(EventFilesUnreadableWarning, match=bad):
            page = recent_events(lake, limit=5)
        assert page.rows["event_id"].to_list() == ["e5-2", "e5-1", "e5-0", "e4-0", "e2-1"]
    (lake.root / bad).unlink()  # moved aside: the hour has no file, nothing is said
    with warnings.catch_warnings():
        warnings.simplefilter("error", EventFilesUnreadableWarning)
        page = recent_events(lake, limit=5)
    assert page.rows["event_id"].to_list() == ["e5-2", "e5-1", "e5-0", "e4-0", "e2-1"]


def test_events_recent_and_the_api_answer_around_the_hour_and_say_it(log_with_a_damaged_hour,
                                                                      capsys):
    lake, bad, _ = log_with_a_damaged_hour
    fix = f"move it aside with: voice-monitor lake check --move-aside --lake {lake.root}"
    code, out, err = run_main(capsys, "events", "recent", "--limit", "5", "--json",
                              "--lake", str(lake.root))
    assert code == 0, err
    answer = json.loads(out)
    assert [r["event_id"] for r in answer["rows"]] == ["e5-2", "e5-1", "e5-0", "e4-0", "e2-1"]
    (line,) = err.splitlines()
    assert line.startswith("voice-monitor: warning: recent_events: the events of 1 hour(s) "
                           "(2026-02-16T03:00:00Z) are left out of this answer: unreadable "
                           f"lake file {bad} ("), line
    assert line.endswith(fix), line
    code, out, err = run_main(capsys, "events", "recent", "--limit", "5", "--cursor",
                              answer["next_cursor"], "--json", "--lake", str(lake.root))
    assert code == 0 and err == "", err  # hours 2 and 1: hour 3 not reached
    assert [r["event_id"] for r in json.loads(out)["rows"]] == ["e2-0", "e1-2", "e1-1", "e1-0"]

    app = create_app(lake, ingest_tokens=[], staff_tokens=[STAFF])
    headers = {"Authorization": f"Bearer {STAFF}"}
    with TestClient(app) as http:
        body = http.get("/api/v1/events", params={"limit": 5}, headers=headers).json()
        assert [r["event_id"] for r in body["rows"]] == ["e5-2", "e5-1", "e5-0", "e4-0", "e2-1"]
        said = body["events_unreadable"]
        assert (said["files"], said["hours"]) == ([bad], ["2026-02-16T03:00:00Z"])
        assert bad in said["message"] and "--move-aside" in said["message"]
        body = http.get("/api/v1/events", params={"limit": 2}, headers=headers).json()
        assert "events_unreadable" not in body  # hour 5 only: hour 3 not reached
