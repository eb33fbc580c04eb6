"""Retention on a lake in an S3-protocol server (`moto_server` on 127.0.0.1): it drops what a
folder lake's retention drops, and only that (contract §7 and §13: every command works on it)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from conftest import event
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
