"""Golden tests of the event-log queries on a small hand-built lake (values worked out by hand)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from conftest import NOW, event, run_main
from fastapi.testclient import TestClient

from voice_monitor.lake import Lake
from voice_monitor.landing import land_records
from voice_monitor.pagination import Page
from voice_monitor.queries import (
    active_artifacts,
    artifact_timeline,
    failed_artifacts,
    recent_events,
    retry_history,
)
from voice_monitor.server import create_app

EVIL = "o'; drop view events; --"


def at(hh: int, mm: int) -> datetime:
    return datetime(2026, 2, 16, hh, mm, tzinfo=UTC)


def ev(event_id, event_type, when, artifact, org, **fields):
    return event(event_type, when, event_id=event_id, artifact_id=artifact, organization_id=org,
                 **fields)


BASE = [
    # a1 (org-1): received, transcription fails, one retry fails, artifact fails
    ev("e01", "artifact_received", at(12, 5), "a1", "org-1"),
    ev("e02", "transcription_started", at(12, 6), "a1", "org-1"),
    ev("e03", "transcription_failed", at(12, 10), "a1", "org-1", error_code="ASR_TIMEOUT"),
    ev("e04", "retry_initiated", at(12, 11), "a1", "org-1", pipeline_stage="transcription",
       metadata={"retry_attempt": 1}),
    ev("e05", "retry_failed", at(12, 20), "a1", "org-1", pipeline_stage="transcription",
       metadata={"retry_attempt": 1}),
    ev("e06", "artifact_failed", at(12, 21), "a1", "org-1"),
    # a2 (org-2): still in flight, in claims extraction since 13:06
    ev("e07", "artifact_received", at(13, 0), "a2", "org-2"),
    ev("e08", "transcription_started", at(13, 1), "a2", "org-2"),
    ev("e09", "transcription_completed", at(13, 5), "a2", "org-2"),
    ev("e10", "claims_extraction_started", at(13, 6), "a2", "org-2"),
    # a3 (an organization id full of SQL): failed, then completed later -> not failed
    ev("e11", "artifact_received", at(13, 10), "a3", EVIL),
    ev("e12", "artifact_failed", at(13, 20), "a3", EVIL),
    ev("e13", "artifact_completed", at(13, 40), "a3", EVIL),
    # a4 (org-1): done; a5 (org-1): failed at 14:05
    ev("e14", "artifact_received", at(14, 0), "a4", "org-1"),
    ev("e15", "artifact_completed", at(14, 10), "a4", "org-1"),
    ev("e16", "artifact_received", at(14, 1), "a5", "org-1"),
    ev("e17", "artifact_failed", at(14, 5), "a5", "org-1"),
]
# Later copies of e07 and e09 (same event_id, same hour) that differ: the first landed wins,
# so these must never show.
COPIES = [
    ev("e07", "artifact_failed", at(13, 2), "a2", "org-2"),
    ev("e09", "transcription_completed", at(13, 5), "a2", "org-9"),
]
NEWEST_FIRST = ["e15", "e17", "e16", "e14", "e13", "e12", "e11", "e10", "e09", "e08", "e07",
                "e06", "e05", "e04", "e03", "e02", "e01"]


def build(lake):
    land_records(lake, BASE, now=NOW)
    land_records(lake, COPIES, now=NOW)
    return lake


@pytest.fixture(scope="module")
def events_lake(tmp_path_factory):
    """Shared by the read-only tests (landing is the slow part)."""
    return build(Lake(tmp_path_factory.mktemp("events") / "lake"))


def ids(page_or_frame) -> list[str]:
    frame = page_or_frame.rows if isinstance(page_or_frame, Page) else page_or_frame
    return frame["event_id"].to_list()


def test_recent_events_newest_first_once_each(events_lake):
    page = recent_events(events_lake)
    assert ids(page) == NEWEST_FIRST
    assert page.next_cursor is None
    # e07's first copy was artifact_received; the later artifact_failed copy is ignored
    row = page.rows.filter(page.rows["event_id"] == "e07").row(0, named=True)
    assert row["event_type"] == "artifact_received"


def test_recent_events_filters_apply_together(events_lake):
    # org-1 and errors only: the failure-type events of a1 and a5 (e03 also has an error code)
    assert ids(recent_events(events_lake, organization_id="org-1", errors_only=True)) == [
        "e17", "e06", "e05", "e03"]
    # ... and only two types, from 12:15 on: e05 (12:20) and e17; e03 (12:10) is too early
    page = recent_events(events_lake, ["transcription_failed", "retry_failed", "artifact_failed"],
                         organization_id="org-1", errors_only=True, start=at(12, 15),
                         end=at(14, 0))
    assert ids(page) == ["e06", "e05"]
    assert ids(recent_events(events_lake, stage="transcription", artifact_id="a2")) == [
        "e09", "e08"]
    # the copy of e09 tagged org-9 landed second, so no event belongs to org-9
    assert ids(recent_events(events_lake, organization_id="org-9")) == []


def test_filter_values_with_quotes_and_sql_are_data(events_lake):
    assert ids(recent_events(events_lake, organization_id=EVIL)) == ["e13", "e12", "e11"]
    assert ids(recent_events(events_lake, artifact_id="a1' or '1'='1")) == []
    assert len(recent_events(events_lake)) == 17  # the events view is still there


def test_pagination_walks_everything_once_while_events_land(lake):
    events_lake = build(lake)
    seen: list[str] = []
    page = recent_events(events_lake, limit=4)
    seen += ids(page)
    # a newer event (above the first page) and a late one at 12:30 (below the cursor) land
    land_records(events_lake, [ev("new", "artifact_received", at(14, 20), "a9", "org-1"),
                               ev("late", "artifact_received", at(12, 30), "a8", "org-1")],
                 now=NOW)
    while page.next_cursor:
        page = recent_events(events_lake, limit=4, cursor=page.next_cursor)
        seen += ids(page)
    expected = NEWEST_FIRST[:11] + ["late"] + NEWEST_FIRST[11:]
    assert seen == expected  # no repeats, no gaps, the newer event is not in this walk


def test_cursor_tampering_and_mismatch_are_clear_errors(events_lake):
    cursor = recent_events(events_lake, limit=2).next_cursor
    middle = len(cursor) // 2
    tampered = cursor[:middle] + ("A" if cursor[middle] != "A" else "B") + cursor[middle + 1:]
    with pytest.raises(ValueError, match="bad cursor .*modified"):
        recent_events(events_lake, limit=2, cursor=tampered)
    with pytest.raises(ValueError, match="bad cursor"):
        recent_events(events_lake, limit=2, cursor="not-a-cursor!")
    with pytest.raises(ValueError, match="other filters"):
        recent_events(events_lake, limit=2, organization_id="org-1", cursor=cursor)
    with pytest.raises(ValueError, match="other filters"):
        failed_artifacts(events_lake, cursor=cursor)


def test_limit_is_capped_at_500(lake):
    records = [event("artifact_received", at(13, i % 60), event_id=f"bulk-{i:04d}")
               for i in range(620)]
    land_records(lake, records, now=NOW)
    page = recent_events(lake, limit=10_000)
    assert len(page) == 500 and page.next_cursor is not None
    rest = recent_events(lake, limit=10_000, cursor=page.next_cursor)
    assert len(rest) == 120 and rest.next_cursor is None
    assert set(ids(page)) | set(ids(rest)) == {f"bulk-{i:04d}" for i in range(620)}


@pytest.mark.parametrize("kwargs, message", [
    ({"event_types": ["artifact_received", "nope"]}, "unknown event type 'nope'"),
    ({"stage": "cooking"}, "unknown pipeline stage 'cooking'"),
    ({"organization_id": ""}, "organization_id '' is not a valid id"),
    ({"organization_id": "x" * 300}, "is not a valid id"),
    ({"start": at(14, 0), "end": at(13, 0)}, "bad time range"),
    ({"start": datetime(2026, 2, 16, 13)}, "has no timezone"),
    ({"end": "yesterday"}, "'yesterday' is not an ISO-8601 time"),
    ({"limit": 0}, "limit 0 must be a positive integer"),
    # these raised TypeError ("'int' object is not iterable"), or were taken as True ('no')
    ({"event_types": 123}, "event types 123 are not a type name or a list of them"),
    ({"event_types": [7]}, "unknown event type 7"),
    ({"errors_only": "no"}, "errors_only 'no' is not True or False"),
])
def test_bad_input_names_the_value(events_lake, kwargs, message):
    with pytest.raises(ValueError, match=message):
        recent_events(events_lake, **kwargs)


@pytest.mark.parametrize("root", [None, 5])
def test_a_lake_that_is_no_path_is_named(root):
    """`recent_events(None)` raised "TypeError: expected str, bytes or os.PathLike object"."""
    with pytest.raises(ValueError, match=f"lake {root!r} is not a path"):
        recent_events(root)


def test_artifact_timeline_and_retry_history(events_lake):
    assert ids(artifact_timeline(events_lake, "a1")) == ["e01", "e02", "e03", "e04", "e05", "e06"]
    # e07's later copy (artifact_failed) is not part of a2's story
    timeline = artifact_timeline(events_lake, "a2")
    assert timeline["event_type"].to_list() == [
        "artifact_received", "transcription_started", "transcription_completed",
        "claims_extraction_started"]
    assert artifact_timeline(events_lake, "missing").is_empty()
    retries = retry_history(events_lake, "a1")
    assert retries["event_type"].to_list() == ["retry_initiated", "retry_failed"]
    assert retries["retry_attempt"].to_list() == [1, 1]
    with pytest.raises(ValueError, match="artifact_id"):
        artifact_timeline(events_lake, "")


def test_failed_artifacts_latest_outcome_failed(events_lake):
    page = failed_artifacts(events_lake)
    # a5 failed at 14:05, a1 at 12:21; a3 failed at 13:20 but completed at 13:40
    assert page.rows["artifact_id"].to_list() == ["a5", "a1"]
    a1 = page.rows.row(1, named=True)
    assert (a1["failed_stage"], a1["error_code"], a1["failure_events"], a1["retries"]) == (
        "transcription", "ASR_TIMEOUT", 3, 1)  # transcription_failed, retry_failed, artifact_failed
    assert failed_artifacts(events_lake, since=at(13, 0)).rows["artifact_id"].to_list() == ["a5"]
    first = failed_artifacts(events_lake, limit=1)
    assert first.rows["artifact_id"].to_list() == ["a5"]
    second = failed_artifacts(events_lake, limit=1, cursor=first.next_cursor)
    assert second.rows["artifact_id"].to_list() == ["a1"] and second.next_cursor is None


def test_failed_artifacts_since_after_now_is_an_error_naming_both(events_lake):
    # only events stamped at or before now are read, so no failure can be at or after a since
    # later than now: the read answered an empty page, as if nothing had failed
    with pytest.raises(ValueError, match=r"^since 2026-02-16T15:00:00Z is after now "
                                         r"2026-02-16T14:00:00Z, and only events stamped at or "
                                         r"before now are read; give a since before now$"):
        failed_artifacts(events_lake, since=at(15, 0), now=at(14, 0))
    assert failed_artifacts(events_lake, since=at(14, 0), now=at(14, 0)).rows.height == 0


def test_a_failed_artifacts_cursor_is_for_its_own_now(events_lake):
    # a page read at now 14:10 (a5 failed at 14:05, a1 at 12:21) continued at another now
    # mixed two answers without a word; the same now continues it
    first = failed_artifacts(events_lake, limit=1, now=at(14, 10))
    assert first.rows["artifact_id"].to_list() == ["a5"]
    with pytest.raises(ValueError, match="issued for another query or other filters"):
        failed_artifacts(events_lake, limit=1, cursor=first.next_cursor, now=at(14, 20))
    with pytest.raises(ValueError, match="issued for another query or other filters"):
        failed_artifacts(events_lake, limit=1, cursor=first.next_cursor)
    second = failed_artifacts(events_lake, limit=1, cursor=first.next_cursor, now=at(14, 10))
    assert second.rows["artifact_id"].to_list() == ["a1"]


def test_active_artifacts_current_stage_and_time_in_stage(events_lake):
    page = active_artifacts(events_lake, now=NOW)
    # only a2 has no terminal event; its latest staged event is claims_extraction_started 13:06
    assert page.rows["artifact_id"].to_list() == ["a2"]
    a2 = page.rows.row(0, named=True)
    assert a2["current_stage"] == "claims_extraction"
    assert a2["stage_entered_at"] == at(13, 6)
    assert a2["time_in_stage_s"] == 84 * 60  # 13:06 -> 14:30


def test_active_artifacts_paginates(lake):
    records = []
    for i in range(5):  # five open artifacts received at 13:00, 13:01, ... 13:04
        records.append(ev(f"r{i}", "artifact_received", at(13, i), f"open-{i}", "org-1"))
    land_records(lake, records, now=NOW)
    seen = []
    page = active_artifacts(lake, limit=2, now=NOW)
    seen += page.rows["artifact_id"].to_list()
    while page.next_cursor:
        page = active_artifacts(lake, limit=2, now=NOW, cursor=page.next_cursor)
        seen += page.rows["artifact_id"].to_list()
    assert seen == [f"open-{i}" for i in range(5)]  # longest in stage first


def test_an_active_artifacts_cursor_continues_at_its_first_pages_now(lake, capsys):
    # open-0..3 received 13:00..13:03; open-1 completes at 14:40, after the first page's now
    # 14:30. Page 2 read at a later now (the clock, which the CLI and the API passed on every
    # page) skipped open-1, in flight at 14:30, and showed open-3 in its place
    records = [ev(f"r{i}", "artifact_received", at(13, i), f"open-{i}", "org-1")
               for i in range(4)]
    records.append(ev("c1", "artifact_completed", at(14, 40), "open-1", "org-1"))
    land_records(lake, records, now=at(14, 45))
    first = active_artifacts(lake, limit=1, now=at(14, 30))
    assert first.rows["artifact_id"].to_list() == ["open-0"]
    second = active_artifacts(lake, limit=2, cursor=first.next_cursor)  # no now: 14:30's
    assert second.rows["artifact_id"].to_list() == ["open-1", "open-2"]
    assert second.rows["time_in_stage_s"].to_list() == [89 * 60, 88 * 60]  # 13:01, 13:02 -> 14:30
    assert active_artifacts(lake, limit=2, cursor=first.next_cursor,
                            now=at(14, 30)).rows.equals(second.rows)
    with pytest.raises(ValueError, match="issued for now 2026-02-16T14:30:00Z, not "
                                         "2026-02-16T14:50:00Z; give that now again"):
        active_artifacts(lake, limit=2, cursor=first.next_cursor, now=at(14, 50))
    # the command line: a page without --now continues at its cursor's now too
    code, out, err = run_main(capsys, "artifacts", "active", "--limit", "1", "--json",
                              "--now", "2026-02-16T14:30:00Z", "--lake", str(lake.root))
    assert code == 0, err
    cursor = json.loads(out)["next_cursor"]
    code, out, err = run_main(capsys, "artifacts", "active", "--limit", "2", "--json",
                              "--cursor", cursor, "--lake", str(lake.root))
    assert code == 0, err
    assert [r["artifact_id"] for r in json.loads(out)["rows"]] == ["open-1", "open-2"]
    code, out, err = run_main(capsys, "artifacts", "active", "--limit", "1",
                              "--now", "2026-02-16T14:30:00Z", "--lake", str(lake.root))
    assert out.rstrip().endswith(" --now 2026-02-16T14:30:00Z")  # the next page's hint
    # the API likewise (its page without now= read at the clock's)
    app = create_app(lake, ingest_tokens=[], staff_tokens=["staff-0123456789abcdef"])
    with TestClient(app, headers={"Authorization": "Bearer staff-0123456789abcdef"}) as http:
        answer = http.get("/api/v1/artifacts/active",
                          params={"limit": 2, "cursor": first.next_cursor})
        assert answer.status_code == 200, answer.text
        assert [r["artifact_id"] for r in answer.json()["rows"]] == ["open-1", "open-2"]
        answer = http.get("/api/v1/artifacts/active", params={
            "limit": 2, "cursor": first.next_cursor, "now": "2026-02-16T14:50:00Z"})
        assert answer.status_code == 400 and "issued for now" in answer.text


def test_empty_lake_gives_empty_results(lake):
    assert recent_events(lake).rows.is_empty()
    assert "event_type" in recent_events(lake).rows.columns
    assert artifact_timeline(lake, "a1").is_empty()
    assert failed_artifacts(lake).rows.is_empty()
    assert active_artifacts(lake, now=NOW).rows.is_empty()


def test_losing_copies_newer_than_the_page_do_not_hide_it(lake):
    originals = [event("artifact_received", at(13, i), event_id=f"l{i:02d}") for i in range(20)]
    # later copies of every event, stamped later in the same hour: the 20 newest rows all lose
    copies = [event("artifact_failed", at(13, 40 + i), event_id=f"l{i:02d}") for i in range(20)]
    land_records(lake, originals, now=NOW)
    land_records(lake, copies, now=NOW)
    page = recent_events(lake, limit=3)
    assert ids(page) == ["l19", "l18", "l17"]
    assert set(page.rows["event_type"]) == {"artifact_received"}


# -- reads at a past `now` see only events stamped at or before it (contract §10) -----------
def test_active_artifacts_at_a_past_now_ignore_later_events(events_lake):
    # at 13:03 a2 has been received (13:00) and started transcription (13:01); its
    # claims_extraction_started at 13:06 is in the future, so it is in transcription for 2 min
    # (reading that later event gave 13:06 and a negative time in stage)
    early = active_artifacts(events_lake, now=at(13, 3)).rows.to_dicts()
    assert [(r["artifact_id"], r["current_stage"], r["stage_entered_at"], r["time_in_stage_s"],
             r["last_event_type"]) for r in early] == [
        ("a2", "transcription", at(13, 1), 120, "transcription_started")]
    # at 14:03: a4 (received 14:00, completed 14:10) and a5 (received 14:01, failed 14:05) have
    # not finished yet; a2 is in claims extraction since 13:06; a3 failed (13:20) and completed
    # (13:40) before 14:03; a1 failed at 12:21
    rows = active_artifacts(events_lake, now=at(14, 3)).rows.to_dicts()
    assert [(r["artifact_id"], r["current_stage"], r["time_in_stage_s"]) for r in rows] == [
        ("a2", "claims_extraction", 57 * 60), ("a4", "ingestion", 180), ("a5", "ingestion", 120)]
    assert all(r["time_in_stage_s"] >= 0 for r in rows)
    # before anything was received there is nothing in flight
    assert active_artifacts(events_lake, now=at(12, 0)).rows.is_empty()


def test_failed_artifacts_at_a_past_now_ignore_later_events(events_lake):
    # at 13:30 a3 has failed (13:20) and its completion (13:40) has not happened yet;
    # a5's failure (14:05) is in the future
    page = failed_artifacts(events_lake, now=at(13, 30))
    assert page.rows["artifact_id"].to_list() == ["a3", "a1"]
    assert page.rows.row(0, named=True)["failure_events"] == 1
    assert failed_artifacts(events_lake, now="2026-02-16T14:04:59Z").rows[
        "artifact_id"].to_list() == ["a1"]
    assert failed_artifacts(events_lake, now=at(14, 5)).rows["artifact_id"].to_list() == [
        "a5", "a1"]  # stamped exactly at now: seen
    with pytest.raises(ValueError, match="now '14:05' is not an ISO-8601 time"):
        failed_artifacts(events_lake, now="14:05")


def test_the_newest_page_reads_around_an_unreadable_file_in_an_hour_it_does_not_reach(lake):
    # hours are read 1, 2, 4... at a time: a bad file in hour 10 failed the newest page, whose
    # rows were all in hours 12 and 11 (the dashboard's event log showed only the error)
    from voice_monitor.event_log import EventFilesUnreadableWarning

    land_records(lake, [event("artifact_received", at(12, 5), event_id="e12"),
                        *[event("artifact_received", at(11, m), event_id=f"e11-{m}")
                          for m in (1, 2, 3)],
                        event("artifact_received", at(10, 5), event_id="e10")], now=NOW)
    hour_10 = lake.root / "events" / "date=2026-02-16" / "hour=10"
    (hour_10 / "zz-truncated.parquet").write_bytes(b"PAR1 not a whole parquet file")
    page = recent_events(lake, limit=3)
    assert [r["event_id"] for r in page.rows.iter_rows(named=True)] == ["e12", "e11-3", "e11-2"]
    # a page that reaches hour 10 (the rest of the log, or the limit+1 row that says whether
    # there is more) leaves the hour out whole, e10 with it, and says so naming the file
    # (test_event_log_unreadable walks every page over such an hour)
    for reaching, rows in (({"limit": 3, "cursor": page.next_cursor}, ["e11-1"]),
                           ({"limit": 4}, ["e12", "e11-3", "e11-2", "e11-1"])):
        with pytest.warns(EventFilesUnreadableWarning, match="hour=10/zz-truncated.parquet"):
            reached = recent_events(lake, **reaching)
        assert (reached.rows["event_id"].to_list(), reached.next_cursor) == (rows, None)
