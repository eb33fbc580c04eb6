"""Reads racing retention: a read lists the lake's files, retention drops a partition, then the
read opens what it listed. The read runs again over the files that are left (contract §4: a
reader never fails because the lake changed under it); its answer is the lake after the drop.

Each test drops the expired partitions at the worst moment, between a read's listing and its
reading (a hook on the listing), then once more while reading in a loop in another thread. Each
runs on a folder lake and on a lake in an S3-protocol server (`moto_server` on 127.0.0.1), where a
file deleted after it was listed fails a read with the store's own error (contract §13).
"""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta

import pytest
from conftest import event
from servers import make_bucket, s3_env, s3_server

from voice_monitor import adhoc, counters, event_log, queries, rollups, views
from voice_monitor.lake import Lake
from voice_monitor.landing import land_records
from voice_monitor.retention import run_retention

NOW = datetime(2026, 2, 16, 14, 30, tzinfo=UTC)
OLD = [datetime(2026, 2, 7, 10, tzinfo=UTC), datetime(2026, 2, 7, 11, tzinfo=UTC)]  # expired
NEW = [datetime(2026, 2, 16, 12, tzinfo=UTC), datetime(2026, 2, 16, 13, tzinfo=UTC)]


_lakes = itertools.count()


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory):
    """One moto_server for the module, with a bucket `races`."""
    with s3_server(tmp_path_factory.mktemp("moto")) as endpoint:
        make_bucket(endpoint, "races")
        yield endpoint


@pytest.fixture(params=["folder", "s3"])
def lake(request, tmp_path, monkeypatch) -> Lake:
    """A new lake in a folder, or under a new prefix of the S3 bucket."""
    if request.param == "folder":
        return Lake.create(tmp_path / "lake")
    for name, value in s3_env(request.getfixturevalue("s3_endpoint")).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("VOICE_MONITOR_STATE_DIR", str(tmp_path / "state"))
    return Lake.create(f"s3://races/lake-{next(_lakes)}")


@pytest.fixture
def aged(lake: Lake) -> Lake:
    """Three events in each of two expired hours (events 48 h, hourly snapshots 7 d) and in
    each of two recent hours, with every hour's snapshot built."""
    for hour in OLD + NEW:
        records = [event("artifact_received", hour + timedelta(minutes=m), organization_id="o")
                   for m in (5, 25, 45)]
        land_records(lake, records, now=hour + timedelta(hours=1))
        rollups.run_hourly(lake, now=NOW, hour=hour)
    return lake


def drop_once(lake: Lake):
    """A hook that runs retention at `NOW` the first time it is called."""
    done = []

    def drop() -> None:
        if not done:
            done.append(run_retention(lake, NOW).deleted)
    return drop, done


def after(original, drop):
    """`original`, then `drop()`: the listing is taken, the files go before they are read."""
    def listing(*args, **kwargs):
        found = original(*args, **kwargs)
        drop()
        return found
    return listing


def test_sql_answers_when_retention_drops_a_partition_before_the_query_reads(aged, monkeypatch):
    drop, done = drop_once(aged)
    # the views are defined over the lake's files; the query has not read them yet
    monkeypatch.setattr(adhoc, "_check_read_only", after(adhoc._check_read_only, drop))
    result = adhoc.run_query(aged, "select count(*), min(timestamp) from events")
    assert done
    assert result.rows == [(6, NEW[0] + timedelta(minutes=5))]
    result = adhoc.run_query(aged, "select count(*) from pipeline_hourly where scope = 'platform'")
    assert result.rows == [(2,)]


def test_events_recent_answers_when_retention_drops_a_listed_hour(aged, monkeypatch):
    drop, done = drop_once(aged)
    monkeypatch.setattr(Lake, "event_files", after(Lake.event_files, drop))
    page = event_log.recent_events(aged, limit=500)
    assert done
    assert sorted(page.rows["timestamp"].to_list()) == [
        h + timedelta(minutes=m) for h in NEW for m in (5, 25, 45)]


def test_metrics_historical_answers_when_retention_drops_a_listed_snapshot(aged, monkeypatch):
    drop, done = drop_once(aged)
    monkeypatch.setattr(queries, "_snapshot_files", after(queries._snapshot_files, drop))
    rows = queries.historical_metrics(aged, OLD[0], NEW[1] + timedelta(hours=1), period="hour")
    assert done
    received = {r["period_start"]: r["artifacts_received"] for r in rows.to_dicts()}
    assert (received[OLD[0]], received[OLD[1]], received[NEW[0]], received[NEW[1]]) == (0, 0, 3, 3)



def test_metrics_historical_answers_when_retention_drops_a_snapshot_as_it_is_opened(aged,
                                                                                 monkeypatch):
    # the files' signatures are taken (they exist), then one is gone when Arrow opens it: Arrow's
    # FileNotFoundError names the file only in its message, and was not known as vanished
    drop, done = drop_once(aged)
    read_whole = views._read_whole

    def opened(path):
        drop()
        return read_whole(path)

    monkeypatch.setattr(views, "_read_whole", opened)
    rows = queries.historical_metrics(aged, OLD[0], NEW[1] + timedelta(hours=1), period="hour")
    assert done
    received = {r["period_start"]: r["artifacts_received"] for r in rows.to_dicts()}
    assert (received[OLD[0]], received[OLD[1]], received[NEW[0]], received[NEW[1]]) == (0, 0, 3, 3)

def test_a_rollup_answers_when_retention_drops_a_listed_look_back_hour(aged, monkeypatch):
    # 2026-02-14 15:00 (kept: it ends after the cut-off, 02-14 14:30) pairs its completion with
    # the start at 12:10 (expired), in its 24 look-back hours
    hour, started = datetime(2026, 2, 14, 15, tzinfo=UTC), datetime(2026, 2, 14, 12, 10, tzinfo=UTC)
    land_records(aged, [event("transcription_started", started, artifact_id="a"),
                        event("transcription_completed", hour + timedelta(minutes=1),
                              artifact_id="a")], now=hour + timedelta(hours=1))
    drop, done = drop_once(aged)
    monkeypatch.setattr(Lake, "event_files", after(Lake.event_files, drop))
    # forced: without it, the run again finds the look-back hour dropped and refuses the hour
    report = rollups.run_hourly(aged, now=NOW, hour=hour, force=True)
    assert "events/date=2026-02-14/hour=12" in done[0]
    assert (report.periods, report.failed) == ([hour], [])



def test_a_past_real_time_window_answers_when_retention_drops_one_of_its_hours(lake, monkeypatch):
    # the window [13:31, 14:30] of 02-13 is counted from the lake's files (the counters keep 2 h);
    # retention at 02-15 14:30 drops hour 13 (ends 14:00 <= 14:30 - 48 h) and keeps hour 14
    day = datetime(2026, 2, 13, tzinfo=UTC)
    land_records(lake, [event("artifact_received", day + timedelta(hours=13, minutes=40)),
                        event("artifact_received", day + timedelta(hours=14, minutes=10))],
                 now=NOW)
    done = []

    def drop() -> None:
        if not done:
            done.append(run_retention(lake, day + timedelta(days=2, hours=14, minutes=30),
                                      only="events").deleted)

    monkeypatch.setattr(Lake, "event_files", after(Lake.event_files, drop))
    counts = counters.realtime_metrics(lake, now=day + timedelta(hours=14, minutes=30))
    assert done == [["events/date=2026-02-13/hour=13"]]
    assert counts["artifacts_received"] == 1  # was 0: the counters' answer, as if unreadable

def test_reads_in_a_loop_while_retention_runs_in_another_thread(aged):
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                adhoc.run_query(aged, "select count(*) from events")
                event_log.recent_events(aged, limit=500)
                queries.historical_metrics(aged, OLD[0], NEW[1], period="hour")
            except Exception as exc:  # noqa: BLE001 - every failure is the test's failure
                errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        report = run_retention(aged, NOW)
    finally:
        stop.set()
        reader.join()
    assert len(report.deleted) == 6  # 2 event hours, their 4 snapshot hours
    assert errors == []
