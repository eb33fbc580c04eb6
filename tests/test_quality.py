"""Every data-quality rule in sql/quality/ returns zero rows over correctly built snapshots,
and returns rows when the snapshots are wrong."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from conftest import NOW, event

from voice_monitor.lake import Lake
from voice_monitor.landing import land_records
from voice_monitor.quality import check_snapshots, rule_names
from voice_monitor.rollups import backfill

DAY = datetime(2026, 2, 15, tzinfo=UTC)


@pytest.fixture(scope="module")
def built_lake(tmp_path_factory) -> Lake:
    lake = Lake(tmp_path_factory.mktemp("checks") / "lake")
    records = []
    for i in range(40):
        at = DAY + timedelta(minutes=37 * i)
        org = {"organization_id": f"org-{i % 3}"} if i % 4 else {}
        records += [
            event("artifact_received", at, artifact_id=f"a{i}", **org,
                  metadata={"ai_cost_usd": 0.01 * i}),
            event("transcription_started", at + timedelta(minutes=1), artifact_id=f"a{i}", **org),
            event("transcription_completed" if i % 5 else "transcription_failed",
                  at + timedelta(minutes=2, seconds=i), artifact_id=f"a{i}", **org,
                  metadata={"confidence_score": 0.5}),
            event("artifact_completed" if i % 5 else "artifact_failed",
                  at + timedelta(minutes=40), artifact_id=f"a{i}", **org),
        ]
    land_records(lake, records, now=NOW)
    backfill(lake, DAY, DAY + timedelta(days=1, hours=2), NOW, progress=False)
    return lake


@pytest.mark.parametrize("name", rule_names())
def test_check_passes_on_built_snapshots(built_lake, name):
    assert check_snapshots(built_lake)[name] == []


def test_there_are_checks():
    assert {"platform_row_every_period", "no_duplicate_rows", "no_nan_metrics",
            "daily_equals_sum_of_hourly", "platform_covers_organizations"} <= set(rule_names())


def test_checks_catch_broken_snapshots(built_lake, tmp_path):
    # copy the lake's snapshots, then break them: a duplicated row, a NaN rate, a lost
    # platform row, and a daily count that no longer matches its hours
    broken = Lake(tmp_path / "broken")
    hour = DAY + timedelta(hours=5)
    for table in ("pipeline_hourly", "stage_hourly", "pipeline_daily", "stage_daily"):
        for period in built_lake.snapshot_periods(table):
            frame = pl.read_parquet(built_lake.snapshot_partition(table, period))
            if table == "pipeline_hourly" and period == hour:
                frame = pl.concat([frame, frame.head(1)])                  # duplicate
            if table == "pipeline_hourly" and period == hour + timedelta(hours=1):
                frame = frame.with_columns(overall_failure_rate=float("nan"))
            if table == "pipeline_hourly" and period == hour + timedelta(hours=2):
                frame = frame.filter(pl.col("organization_id").is_not_null())  # no platform
            if table == "pipeline_daily":
                frame = frame.with_columns(event_count=pl.col("event_count") + 1)
            broken.replace_partition(frame.to_arrow(), broken.snapshot_partition(table, period))
    found = check_snapshots(broken)
    assert found["no_duplicate_rows"]
    assert found["no_nan_metrics"]
    assert found["platform_row_every_period"]
    assert found["daily_equals_sum_of_hourly"]


def test_an_unreadable_file_of_another_table_never_fails_the_rules(built_lake, tmp_path):
    """The rules read snapshots only; an unreadable organizations file (or event or alert file)
    failed every rule, so `check data` and the hourly and daily flows (which run them after
    building) failed although every snapshot was built."""
    lake = Lake(tmp_path / "copy")
    shutil.copytree(built_lake.root, lake.root)
    (lake.root / "dimensions").mkdir(exist_ok=True)
    (lake.root / "dimensions" / "organizations.parquet").write_bytes(b"PAR1 cut short")
    (first,) = lake.event_files(DAY)[:1]
    first.write_bytes(first.read_bytes()[:100])
    assert check_snapshots(lake) == {name: [] for name in rule_names()}
