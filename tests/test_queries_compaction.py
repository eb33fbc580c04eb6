"""Compaction never changes a query result: twin lakes get the same landings, one is compacted."""

from __future__ import annotations

import shutil
import threading
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
import pytest
from conftest import NOW, event

from voice_monitor import adhoc
from voice_monitor.compaction import MARK, compact_hour, compact_lake
from voice_monitor.hour_locks import hour_locks
from voice_monitor.integrity import retrying, vanished
from voice_monitor.lake import Lake
from voice_monitor.landing import land_records
from voice_monitor.queries import (
    active_artifacts,
    artifact_timeline,
    failed_artifacts,
    recent_events,
)
from voice_monitor.views import lake_connection


def at(hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(2026, 2, 16, hh, mm, ss, tzinfo=UTC)


def e(event_id, event_type, when, artifact, **fields):
    return event(event_type, when, event_id=event_id, artifact_id=artifact,
                 organization_id=fields.pop("org", "org-1"), **fields)


BATCHES = [
    # (landing time, records): copies differ, in the same batch and across batches
    (NOW, [e("a", "artifact_received", at(12, 5), "z9"), e("b", "artifact_received", at(12, 6), "a1"),
           e("c", "artifact_failed", at(12, 30), "a1"), e("a", "artifact_failed", at(12, 7), "a0"),
           e("d", "artifact_received", at(13, 1), "m5"), e("f", "transcription_started", at(13, 2), "m5")]),
    (NOW, [e("b", "artifact_completed", at(12, 59), "zz"), e("g", "artifact_received", at(12, 40), "a1"),
           e("d", "artifact_failed", at(13, 50), "a0")]),
    # landed last with an explicit older now: its copy of c still loses (landing order, not
    # ingested_at, decides: contract §3, "the first one landed wins")
    (NOW - timedelta(hours=1), [e("c", "artifact_completed", at(12, 31), "q2")]),
]
LATER = [
    (NOW, [e("a", "artifact_received", at(12, 8), "a1"), e("h", "artifact_received", at(12, 9), "h1"),
           e("f", "transcription_failed", at(13, 3), "zz", error_code="X")]),
]
HOURS = [at(12, 0), at(13, 0)]


def land(lake: Lake, batches) -> None:
    for now, records in batches:
        land_records(lake, records, now=now)


def answers(lake: Lake) -> dict:
    con = lake_connection(lake)
    events = con.sql("select * exclude (ingested_at) from events order by event_id, hour").fetchall()
    artifacts = sorted({r[3] for r in events if r[3]})
    pages, page = [], recent_events(lake, limit=2)
    pages.append(page.rows.to_dicts())
    while page.next_cursor:
        page = recent_events(lake, limit=2, cursor=page.next_cursor)
        pages.append(page.rows.to_dicts())
    return {
        "events": events,
        "pages": pages,
        "timelines": {a: artifact_timeline(lake, a).to_dicts() for a in artifacts},
        "failed": failed_artifacts(lake).rows.to_dicts(),
        "active": active_artifacts(lake, now=NOW).rows.to_dicts(),
        "org1": recent_events(lake, organization_id="org-1", errors_only=True).rows.to_dicts(),
    }


@pytest.fixture
def twins(tmp_path):
    plain, compacted = Lake(tmp_path / "plain"), Lake(tmp_path / "compacted")
    land(plain, BATCHES)
    land(compacted, BATCHES)
    return plain, compacted


def test_compaction_keeps_every_answer(twins):
    plain, compacted = twins
    before = answers(compacted)
    # first-landed-wins worked out by hand: a -> artifact_received (first row of batch 1),
    # b -> artifact_received, c -> artifact_failed (batch 1; the third landing's older now
    # does not make its copy first)
    types = {r[0]: r[1] for r in before["events"]}
    assert (types["a"], types["b"], types["c"], types["d"]) == (
        "artifact_received", "artifact_received", "artifact_failed", "artifact_received")
    for hour in HOURS:
        assert compact_hour(compacted, hour) == len(plain.event_files(hour))
        [only] = compacted.event_files(hour)
        assert only.stem.endswith(MARK)
    assert answers(compacted) == answers(plain) == before
    # raw rows are all kept (the log is append-only): 10 rows landed in hours 12 and 13
    con = lake_connection(compacted)
    assert con.sql("select count(*) from raw_events").fetchall() == [(10,)]
    # events landing after compaction still lose to the first copy landed
    land(plain, LATER)
    land(compacted, LATER)
    assert answers(compacted) == answers(plain)
    for hour in HOURS:
        compact_hour(compacted, hour)
    assert answers(compacted) == answers(plain)
    assert {r[0]: r[1] for r in answers(compacted)["events"]}["a"] == "artifact_received"


def test_crash_between_rename_and_delete_is_harmless(twins, tmp_path):
    plain, compacted = twins
    hour = HOURS[0]
    saved = tmp_path / "saved"
    saved.mkdir()
    inputs = compacted.event_files(hour)
    for f in inputs:
        shutil.copy2(f, saved / f.name)
    compact_hour(compacted, hour)
    for f in inputs:  # as if the process died before deleting the old files
        shutil.copy2(saved / f.name, f)
    assert len(compacted.event_files(hour)) == len(inputs) + 1
    assert answers(compacted) == answers(plain)
    assert compact_hour(compacted, hour) == len(inputs)  # deletes them, merges nothing twice
    assert len(compacted.event_files(hour)) == 1
    assert answers(compacted) == answers(plain)


def test_a_file_that_sorts_before_a_compacted_one_is_merged_not_deleted(lake):
    # a lander with a clock behind (or a file copied in by hand) names a file that sorts before
    # the compacted file: it is not one of its sources, so compaction must keep its events
    hour = datetime(2026, 2, 16, 13, tzinfo=UTC)
    land_records(lake, [event("artifact_received", hour + timedelta(minutes=5), event_id="a")],
                 now=hour + timedelta(hours=2))
    compact_hour(lake, hour)
    (compacted,) = lake.event_files(hour)
    early = lake.event_partition(hour) / "00000000000000000001-early.parquet"
    land_records(lake, [event("artifact_received", hour + timedelta(minutes=6), event_id="b")],
                 now=hour + timedelta(hours=2))
    newest = max(lake.event_files(hour))
    newest.rename(early)
    assert early < compacted
    compact_hour(lake, hour)
    (merged,) = lake.event_files(hour)
    ids = sorted(pq.read_table(merged, columns=["event_id"]).column("event_id").to_pylist())
    assert ids == ["a", "b"]


def test_compact_lake_only_touches_closed_hours(twins):
    _, compacted = twins
    # at 14:30 with one hour of grace, hour 12 (ended 13:00) is closed, hour 13 is not
    report = compact_lake(compacted, now=NOW)
    assert report.hours == [at(12, 0)]
    assert len(compacted.event_files(at(13, 0))) == 2
    assert compact_lake(compacted, now=NOW).hours == []  # nothing left to do


# -- compaction beside readers and landings (contract §4) ------------------------------------

def test_a_read_whose_files_were_compacted_away_runs_again(lake):
    """A read lists hour 12's files, compaction replaces them, then the read opens them: the
    first run fails on a vanished file, `retrying` runs it again from a fresh listing."""
    land(lake, BATCHES)
    runs = []

    def count_hour_12() -> int:
        files = lake.event_files(at(12, 0))  # listed
        if not runs:
            compact_hour(lake, at(12, 0))  # ... and replaced before they are read
        runs.append(len(files))
        con = lake_connection(lake)
        try:
            return con.execute("select count(*) from read_parquet($f)",
                               {"f": [str(f) for f in files]}).fetchone()[0]
        finally:
            con.close()

    # hour 12 holds a, b, c, a, b, g and c (the third batch): 7 rows, copies included
    assert retrying(lake, count_hour_12) == 7
    # three landings put 3 files in hour 12; the second run saw the one compacted file
    assert runs == [3, 1]
    assert vanished(lake, FileNotFoundError(2, "gone", str(lake.root / "events" / "x.parquet")))
    assert not vanished(lake, FileNotFoundError(2, "gone", "/elsewhere/x.parquet"))


def test_sql_runs_again_when_compaction_removes_a_file_it_listed(lake, monkeypatch):
    land(lake, BATCHES)
    real, calls = adhoc.lake_connection, []

    def listing_then_compaction(lake_, *args, **kwargs):
        con = real(lake_, *args, **kwargs)
        calls.append(1)
        if len(calls) == 1:  # as if the views had listed hour 12 just before it was compacted
            sources = lake.event_files(at(12, 0))
            compact_hour(lake, at(12, 0))
            listed = ", ".join(f"'{f}'" for f in sources)
            con.execute(f"create or replace view events as select * from read_parquet([{listed}])")
        return con

    monkeypatch.setattr(adhoc, "lake_connection", listing_then_compaction)
    result = adhoc.run_query(lake, "select count(*) from events", allow_writes=True)
    # a, b, c, d, f, g: 6 distinct (event_id, hour) in the view of the whole lake
    assert len(calls) == 2, calls
    assert result.rows == [(6,)]


def test_compaction_waits_for_a_landing_holding_the_hour(lake):
    land(lake, BATCHES)
    before = lake.event_files(at(12, 0))
    with hour_locks(lake, [at(12, 0)]):  # what a landing holds while it counts and writes
        worker = threading.Thread(target=compact_hour, args=(lake, at(12, 0)))
        worker.start()
        worker.join(0.5)
        assert worker.is_alive() and lake.event_files(at(12, 0)) == before
    worker.join(30)
    files = lake.event_files(at(12, 0))
    assert not worker.is_alive() and len(files) == 1 and files[0].stem.endswith(MARK)
