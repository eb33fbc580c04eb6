"""Golden tests for pipeline_daily and stage_daily, built from hourly rows only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from conftest import NOW, event

from voice_monitor.lake import Lake, record_dropped
from voice_monitor.landing import land_records
from voice_monitor.rollups import backfill, run_daily

D = datetime(2026, 2, 15, tzinfo=UTC)  # the day under test: the day before NOW's day
A = {"organization_id": "org-a"}


def at(hour: int, minute: int = 0, second: int = 0, ms: int = 0) -> datetime:
    return D + timedelta(hours=hour, minutes=minute, seconds=second, milliseconds=ms)


@pytest.fixture
def day_lake(lake: Lake) -> Lake:
    records = [
        event("artifact_received", at(-1, 59, 59, 999), artifact_id="X0", **A),  # day before
        event("artifact_received", at(2), artifact_id="X1", **A,
              metadata={"ai_cost_usd": 0.5}),
        event("transcription_completed", at(2, 10), artifact_id="X1", duration_ms=100, **A,
              metadata={"confidence_score": 0.9}),
        event("transcription_failed", at(5, 30), artifact_id="X3", **A),
        event("transcription_completed", at(5, 59, 59, 999), artifact_id="X2", duration_ms=200,
              metadata={"confidence_score": 0.5}),
        event("artifact_completed", at(23), artifact_id="X1", duration_ms=7_200_000, **A),
        event("artifact_received", at(23, 10), artifact_id="X2", metadata={"ai_cost_usd": 0.25}),
        event("transcription_completed", at(23, 59, 59, 999), artifact_id="X4", duration_ms=400,
              **A, metadata={"confidence_score": 0.7}),
        event("artifact_received", at(24), artifact_id="X5", **A),  # next day
    ]
    assert land_records(lake, records, now=NOW).accepted == len(records)
    report = backfill(lake, D, D + timedelta(days=1), NOW, progress=False)
    assert len(report.periods) == 24 + 1 and report.refused == []
    return lake


def rows(lake: Lake, table: str, day: datetime) -> list[dict]:
    return pl.read_parquet(lake.snapshot_partition(table, day)).to_dicts()


def test_pipeline_daily_golden(day_lake):
    platform, org_a = rows(day_lake, "pipeline_daily", D)
    assert platform["period_type"] == "day"
    assert (platform["period_start"], platform["period_end"]) == (D, D + timedelta(days=1))
    # platform: 7 events inside the day (X0 is the day before, X5 the day after)
    assert platform["organization_id"] is None
    assert platform["event_count"] == 7
    assert platform["artifacts_received"] == 2           # X1 at 02:00, X2 at 23:10
    assert platform["artifacts_completed"] == 1          # X1
    assert platform["overall_failure_rate"] == 0.0       # 0 / (1 + 0)
    assert platform["e2e_latency_count"] == 1
    assert platform["e2e_latency_avg_ms"] == 7_200_000.0
    # one latency: rank 0 is the minimum, kept exactly
    assert platform["e2e_latency_p50_ms"] == 7_200_000.0
    assert platform["e2e_latency_p99_ms"] == 7_200_000.0
    assert platform["avg_transcript_confidence"] == pytest.approx(0.7)  # (0.9 + 0.5 + 0.7) / 3
    assert platform["total_ai_cost_usd"] == pytest.approx(0.75)         # 0.5 + 0.25
    assert platform["avg_cost_per_artifact_usd"] == pytest.approx(0.375)  # 0.75 / 2
    # org-a: X1 received, X1 transcribed, X3 failed, X1 completed, X4 transcribed
    assert org_a["organization_id"] == "org-a"
    assert org_a["event_count"] == 5
    assert org_a["artifacts_received"] == 1
    assert org_a["avg_transcript_confidence"] == pytest.approx(0.8)     # (0.9 + 0.7) / 2
    assert org_a["avg_cost_per_artifact_usd"] == pytest.approx(0.5)


def test_stage_daily_golden(day_lake):
    got = rows(day_lake, "stage_daily", D)
    assert [(r["organization_id"], r["pipeline_stage"]) for r in got] == [
        (org, stage) for org in (None, "org-a")
        for stage in ("transcription", "claims_extraction", "entity_resolution", "draft_generation")]
    platform = got[0]
    # successes at 02:10, 05:59:59.999 and 23:59:59.999 (three different hours), one failure
    assert (platform["started"], platform["succeeded"], platform["failed"]) == (0, 3, 1)
    assert platform["failure_rate"] == 0.25                       # 1 / (3 + 1)
    assert platform["latency_count"] == 3
    assert platform["latency_avg_ms"] == pytest.approx(700 / 3)   # (100 + 200 + 400) / 3
    # latencies [100, 200, 400]. p50: rank 1 -> 200, from the sketch: within 1 %
    assert 0.99 * 200 <= platform["latency_p50_ms"] <= 1.01 * 200
    # p95: rank 1.9 between 200 and 400 (the max, exact): 200 + 0.9*200 = 380 -> est. v + 0.9(400-v)
    # with v within 1 % of 200: [379.8, 380.2]; the contract's band is [198, 404]
    assert 379.8 <= platform["latency_p95_ms"] <= 380.2
    assert 395.96 <= platform["latency_p99_ms"] <= 396.04        # 0.02 v + 0.98 * 400
    org_a = got[4]
    assert (org_a["succeeded"], org_a["failed"]) == (2, 1)
    assert org_a["failure_rate"] == pytest.approx(1 / 3)
    # two latencies [100, 400]: both ranks are the extremes, known exactly
    assert org_a["latency_p50_ms"] == 250.0                      # 100 + 0.5 * 300
    assert org_a["latency_p95_ms"] == pytest.approx(385.0)       # 100 + 0.95 * 300
    assert org_a["latency_p99_ms"] == pytest.approx(397.0)       # 100 + 0.99 * 300
    for row in got[1:4] + got[5:]:
        assert row["succeeded"] == row["failed"] == row["latency_count"] == 0
        assert row["failure_rate"] == 0.0 and row["latency_p95_ms"] == 0.0


def test_daily_without_hourly_rows_has_zero_platform_rows(lake):
    empty_day = D - timedelta(days=3)
    report = run_daily(lake, NOW, day=empty_day)
    # its 24 missing hours are built first (no events: one platform row and four stage rows
    # each), then the day from them
    assert report.hours == [empty_day + timedelta(hours=k) for k in range(24)]
    assert report.rows == {"pipeline_daily": 1, "stage_daily": 4,
                           "pipeline_hourly": 24, "stage_hourly": 96}
    (platform,) = rows(lake, "pipeline_daily", empty_day)
    assert platform["organization_id"] is None and platform["event_count"] == 0
    assert platform["overall_failure_rate"] == 0.0 and platform["e2e_latency_p50_ms"] == 0.0


def test_daily_reads_hourly_rows_not_events(day_lake):
    # retention dropping the events leaves the daily rollup unchanged: it reads hourly
    # snapshots only (retention records what it drops, so no hour counts as changed)
    before = rows(day_lake, "pipeline_daily", D)
    record_dropped(day_lake, "event_hours", day_lake.event_hours())
    for hour in day_lake.event_hours():
        day_lake.drop_partition(day_lake.event_partition(hour))
    run_daily(day_lake, NOW, day=D)
    after = rows(day_lake, "pipeline_daily", D)
    strip = [{k: v for k, v in r.items() if k != "computed_at"} for r in before]
    assert strip == [{k: v for k, v in r.items() if k != "computed_at"} for r in after]
