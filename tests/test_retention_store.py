"""Retention on a lake in an S3-protocol server (`moto_server` on 127.0.0.1): it drops what a
folder lake's retention drops, and only that (contract §7 and §13: every command works on it)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from conftest import event, run_main
from servers import make_bucket, s3_env, s3_server

from voice_monitor import rollups, storage
from voice_monitor.lake import Lake, dropped_periods
from voice_monitor.landing import land_records
from voice_monitor.retention import run_retention
from voice_monitor.rollup_plan import manifest_path

NOW = datetime(2026, 2, 16, 14, 30, tzinfo=UTC)
_lakes = itertools.count()


def at(hour: int, minute: int = 5) -> datetime:
    return datetime(2026, 2, 16, hour, minute, tzinfo=UTC)


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    with s3_server(tmp_path_factory.mktemp("moto")) as url:
        make_bucket(url, "kept")
        yield url


@pytest.fixture
def lake(endpoint, tmp_path, monkeypatch) -> Lake:
    """A new lake under its own prefix of the bucket."""
    for name, value in s3_env(endpoint).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("VOICE_MONITOR_STATE_DIR", str(tmp_path / "state"))
    return Lake.create(f"s3://kept/lake-{next(_lakes)}")


def test_retention_drops_expired_snapshots_and_forgets_what_they_were_built_from(lake):
    # _drop returned None for an object store: a run that dropped a snapshot hour failed
    # (TypeError) after the drop, before forgetting its manifest or pruning anything else
    land_records(lake, [event("artifact_received", at(11, i)) for i in range(2)], now=NOW)
    rollups.run_hourly(lake, now=NOW, hour=at(11, 0))
    assert manifest_path(lake, "hourly", at(11, 0)).exists()
    report = run_retention(lake, at(11, 0) + timedelta(days=8))  # past 48 h and 7 d
    assert sorted(report.deleted) == [
        "events/date=2026-02-16/hour=11",
        "snapshots/pipeline_hourly/date=2026-02-16/hour=11",
        "snapshots/stage_hourly/date=2026-02-16/hour=11"]
    assert report.kept == []
    assert lake.event_hours() == [] and storage.find(lake.snapshots_dir) == []
    assert dropped_periods(lake, "event_hours") == {at(11, 0)}
    assert not manifest_path(lake, "hourly", at(11, 0)).exists()


def test_retention_drops_an_expired_hour_but_not_the_files_it_does_not_own(lake, capsys):
    # on a store an expired partition was deleted by prefix: another table's file in it (here a
    # pipeline snapshot copied into an event hour), a note and a sub-folder went with the
    # events, without a word; a folder lake keeps them and fails naming each (5ac5c4f)
    land_records(lake, [event("artifact_received", at(11, i)) for i in range(2)], now=NOW)
    land_records(lake, [event("artifact_received", at(12, i)) for i in range(3)], now=NOW)
    rollups.run_hourly(lake, now=NOW, hour=at(12, 0))
    (snapshot,) = lake.snapshot_partition("pipeline_hourly", at(12, 0)).glob("*.parquet")
    copy = snapshot.fs.cat_file(snapshot.path)
    hour11, hour12 = "events/date=2026-02-16/hour=11", "events/date=2026-02-16/hour=12"
    strays = {f"{hour12}/snapshot-copy.parquet": copy, f"{hour11}/notes.txt": b"notes\n",
              f"{hour11}/old/x.parquet": copy}
    for rel, data in strays.items():
        storage.put(lake.root / rel, data)
    code, out, err = run_main(capsys, "retention", "--lake", str(lake.root),
                              "--now", "2026-02-19T14:30:00Z")  # every event hour has expired
    assert code == 1
    (line,) = err.strip().splitlines()
    assert line == (
        f"voice-monitor: error: kept expired partition {hour11} (and 1 more): its own files were "
        f"dropped; {hour11}/notes.txt is not a Parquet file, not retention's to delete: move it "
        f"out of the lake; {hour11}/old is a folder, not retention's to delete: move it out of "
        "the lake")
    assert (f"kept {hour12}: its own files were dropped; {hour12}/snapshot-copy.parquet is not "
            "an events file: no column event_id, event_type, timestamp, not retention's to "
            "delete: move it aside with: voice-monitor lake check --move-aside --lake "
            f"{lake.root}") in out
    assert out.startswith("deleted 2 partition(s)")  # 11:00 and 12:00: their events
    # the events are gone; what was not theirs is where it was, as it was
    assert sorted(storage.find(lake.events_dir)) == sorted(rel[len("events/"):] for rel in strays)
    assert {rel: (lake.root / rel).fs.cat_file((lake.root / rel).path) for rel in strays} == strays
