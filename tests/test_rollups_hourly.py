"""Golden tests for pipeline_hourly and stage_hourly: literal events, rows worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pyarrow.parquet as pq
import pytest
from conftest import NOW, event

from voice_monitor.lake import Lake
from voice_monitor.landing import land_records
from voice_monitor.rollups import run_hourly

H = datetime(2026, 2, 16, 13, tzinfo=UTC)  # the hour under test: the hour before NOW (14:30)
MS = timedelta(milliseconds=1)


def at(minute: int, second: int = 0, ms: int = 0, base: datetime = H) -> datetime:
    return base + timedelta(minutes=minute, seconds=second, milliseconds=ms)


def meta(**values) -> dict:
    return {"metadata": values}


A = {"organization_id": "org-a"}
B = {"organization_id": "org-b"}


def golden_events() -> tuple[list[dict], list[dict]]:
    """First landing, then a second landing holding duplicates that must lose."""
    prev = H - timedelta(hours=1)
    first = [
        # -- look-back hour 12 (artifact A1, org-a) ---------------------------------------
        event("artifact_received", at(50, base=prev), artifact_id="A1", **A),
        event("transcription_started", at(55, base=prev), artifact_id="A1", **A),
        # the retry's start, on the last millisecond of hour 12: the latest start wins
        event("transcription_started", at(59, 59, 999, base=prev), artifact_id="A1",
              event_id="s2", **A),
        # -- 24 h + 1 ms before A3's completion (13:15): must not pair ---------------------
        event("transcription_started", at(14, 59, 999) - timedelta(hours=24),
              artifact_id="A3", **B),
        # -- hour 13, org-a ----------------------------------------------------------------
        event("transcription_completed", at(0), artifact_id="A1", **A,
              **meta(confidence_score=0.8, ai_cost_usd=0.10)),
        event("claims_extraction_started", at(0), artifact_id="A1", **A),
        event("claims_extracted", at(0, 30), artifact_id="A1", **A,
              stage_started_at="2026-02-16T13:00:00Z", stage_completed_at="2026-02-16T13:00:20Z",
              **meta(claim_count=4, confidence_score=0.5, ai_cost_usd=0.20)),
        event("entity_resolution_started", at(1), artifact_id="A1", **A),
        event("entity_needs_disambiguation", at(1, 10), artifact_id="A1", duration_ms=500, **A,
              **meta(entity_count=5, auto_resolved_count=3, disambiguation_count=2)),
        event("draft_confirmed", at(50), artifact_id="A1", **A),
        event("draft_rejected", at(51), artifact_id="A1", **A),
        event("artifact_completed", at(59, 59, 999), artifact_id="A1", **A),
        # -- hour 13, org-b ----------------------------------------------------------------
        event("entity_resolution_completed", at(10), artifact_id="A2", duration_ms=1500, **B,
              **meta(entity_count=5, auto_resolved_count=5, disambiguation_count=0)),
        event("transcription_completed", at(15), artifact_id="A3", **B,
              **meta(confidence_score=0.7)),
        event("claims_extracted", at(20), artifact_id="A2", duration_ms=2000, event_id="c8", **B,
              **meta(claim_count=1, confidence_score=0.9, ai_cost_usd=0.05)),
        event("draft_generation_started", at(30), artifact_id="A2", **B),
        event("draft_generation_failed", at(40), artifact_id="A2", **B),
        event("artifact_failed", at(45), artifact_id="A2", **B),
        # -- hour 13, no organization ----------------------------------------------------
        event("artifact_received", at(5), artifact_id="A4", **meta(ai_cost_usd=0.25)),
        event("transcription_completed", at(6), artifact_id="A4", duration_ms=3000,
              **meta(confidence_score=0.6)),
        event("retry_initiated", at(7), artifact_id="A4", pipeline_stage="transcription"),
        event("retry_succeeded", at(8), artifact_id="A4"),
        event("draft_generation_failed", at(41), artifact_id="A4"),
        # -- hour 14: its first millisecond is not hour 13 -------------------------------
        event("artifact_received", H + timedelta(hours=1), artifact_id="A5", **A),
    ]
    second = [
        # copies of already-landed ids in the same hour partitions, differing: first wins
        event("claims_extracted", at(21), artifact_id="A2", duration_ms=9000, event_id="c8", **B,
              **meta(claim_count=100, confidence_score=0.1, ai_cost_usd=5.0)),
        event("transcription_started", at(56, base=prev), artifact_id="A1", event_id="s2", **A),
    ]
    return first, second


@pytest.fixture
def golden_lake(lake: Lake) -> Lake:
    first, second = golden_events()
    assert land_records(lake, first, now=NOW).quarantined == 0
    assert land_records(lake, second, now=NOW).duplicates == 2
    run_hourly(lake, NOW, hour=H)
    return lake


def rows(lake: Lake, table: str, hour: datetime) -> list[dict]:
    return pl.read_parquet(lake.snapshot_partition(table, hour)).to_dicts()


PIPELINE_HOURLY = [
    {   # platform: all 19 events of hour 13 (8 org-a + 6 org-b + 5 without organization)
        "organization_id": None,
        "event_count": 19,
        "artifacts_received": 1,          # A4 (A1 was received in hour 12, A5 in hour 14)
        "artifacts_completed": 1,         # A1 at 13:59:59.999
        "artifacts_failed": 1,            # A2
        "overall_failure_rate": 0.5,      # 1 / (1 + 1)
        "e2e_latency_count": 1,           # A1 only (no duration_ms: paired with its receipt)
        "e2e_latency_avg_ms": 4_199_999.0,  # 13:59:59.999 - 12:50:00.000
        "e2e_latency_p50_ms": 4_199_999.0,
        "e2e_latency_p95_ms": 4_199_999.0,
        "e2e_latency_p99_ms": 4_199_999.0,
        "avg_transcript_confidence": 0.7,  # (0.8 + 0.7 + 0.6) / 3
        "avg_claim_confidence": 0.58,     # (0.5*4 + 0.9*1) / (4 + 1); the duplicate c8 ignored
        "claims_extracted_total": 5,      # 4 + 1
        "entities_resolved_total": 10,    # 5 (needs_disambiguation) + 5 (completed)
        "auto_resolution_rate": 0.8,      # (3 + 5) / 10
        "disambiguation_rate": 0.2,       # (2 + 0) / 10
        "drafts_generated_total": 0,      # draft generation only failed
        "drafts_confirmed": 1,
        "drafts_rejected": 1,
        "retries_initiated": 1,
        "retries_succeeded": 1,
        "retries_failed": 0,
        "total_ai_cost_usd": 0.60,        # 0.10 + 0.20 + 0.05 + 0.25
        "avg_cost_per_artifact_usd": 0.60,  # 0.60 / 1 received
    },
    {   # org-a: 8 events
        "organization_id": "org-a",
        "event_count": 8,
        "artifacts_received": 0,
        "artifacts_completed": 1,
        "artifacts_failed": 0,
        "overall_failure_rate": 0.0,      # 0 / (1 + 0)
        "e2e_latency_count": 1,
        "e2e_latency_avg_ms": 4_199_999.0,
        "e2e_latency_p50_ms": 4_199_999.0,
        "e2e_latency_p95_ms": 4_199_999.0,
        "e2e_latency_p99_ms": 4_199_999.0,
        "avg_transcript_confidence": 0.8,
        "avg_claim_confidence": 0.5,
        "claims_extracted_total": 4,
        "entities_resolved_total": 5,
        "auto_resolution_rate": 0.6,      # 3 / 5
        "disambiguation_rate": 0.4,       # 2 / 5
        "drafts_generated_total": 0,
        "drafts_confirmed": 1,
        "drafts_rejected": 1,
        "retries_initiated": 0,
        "retries_succeeded": 0,
        "retries_failed": 0,
        "total_ai_cost_usd": 0.30,        # 0.10 + 0.20
        "avg_cost_per_artifact_usd": 0.0,  # no artifact received: 0, not a division by zero
    },
    {   # org-b: 6 events
        "organization_id": "org-b",
        "event_count": 6,
        "artifacts_received": 0,
        "artifacts_completed": 0,
        "artifacts_failed": 1,
        "overall_failure_rate": 1.0,      # 1 / (0 + 1)
        "e2e_latency_count": 0,
        "e2e_latency_avg_ms": 0.0,
        "e2e_latency_p50_ms": 0.0,
        "e2e_latency_p95_ms": 0.0,
        "e2e_latency_p99_ms": 0.0,
        "avg_transcript_confidence": 0.7,  # A3 has a confidence though no latency
        "avg_claim_confidence": 0.9,
        "claims_extracted_total": 1,
        "entities_resolved_total": 5,
        "auto_resolution_rate": 1.0,      # 5 / 5
        "disambiguation_rate": 0.0,
        "drafts_generated_total": 0,
        "drafts_confirmed": 0,
        "drafts_rejected": 0,
        "retries_initiated": 0,
        "retries_succeeded": 0,
        "retries_failed": 0,
        "total_ai_cost_usd": 0.05,
        "avg_cost_per_artifact_usd": 0.0,
    },
]


def stage_row(org, stage, started, succeeded, failed, rate, latencies_summary) -> dict:
    count, avg, p50, p95, p99 = latencies_summary
    return {"organization_id": org, "pipeline_stage": stage, "started": started,
            "succeeded": succeeded, "failed": failed, "failure_rate": rate,
            "latency_count": count, "latency_avg_ms": avg, "latency_p50_ms": p50,
            "latency_p95_ms": p95, "latency_p99_ms": p99}


NO_LATENCY = (0, 0.0, 0.0, 0.0, 0.0)
STAGE_HOURLY = [
    # platform transcription: starts were in hour 12; successes A1 (paired with the retry's start
    # at 12:59:59.999 -> 1 ms, not the first start), A3 (start > 24 h earlier: no latency, still
    # counted), A4 (duration 3000). Latencies [1, 3000]: p95 = 1 + 0.95*2999, p99 = 1 + 0.99*2999
    stage_row(None, "transcription", 0, 3, 0, 0.0, (2, 1500.5, 1500.5, 2850.05, 2970.01)),
    # claims: A1 stage times 13:00:00 -> 13:00:20 = 20000 (beats pairing, which would give
    # 30000), c8 duration 2000 (its later copy's 9000 loses). [2000, 20000]
    stage_row(None, "claims_extraction", 1, 2, 0, 0.0, (2, 11000.0, 11000.0, 19100.0, 19820.0)),
    # entity resolution: needs_disambiguation (500) and completed (1500) are both successes
    stage_row(None, "entity_resolution", 1, 2, 0, 0.0, (2, 1000.0, 1000.0, 1450.0, 1490.0)),
    # draft generation: failures (org-b and org-less), no success: rate 2 / (0 + 2)
    stage_row(None, "draft_generation", 1, 0, 2, 1.0, NO_LATENCY),
    stage_row("org-a", "transcription", 0, 1, 0, 0.0, (1, 1.0, 1.0, 1.0, 1.0)),
    stage_row("org-a", "claims_extraction", 1, 1, 0, 0.0, (1, 20000.0, 20000.0, 20000.0, 20000.0)),
    stage_row("org-a", "entity_resolution", 1, 1, 0, 0.0, (1, 500.0, 500.0, 500.0, 500.0)),
    stage_row("org-a", "draft_generation", 0, 0, 0, 0.0, NO_LATENCY),  # org had events: row kept
    stage_row("org-b", "transcription", 0, 1, 0, 0.0, NO_LATENCY),     # A3: no pair within 24 h
    stage_row("org-b", "claims_extraction", 0, 1, 0, 0.0, (1, 2000.0, 2000.0, 2000.0, 2000.0)),
    stage_row("org-b", "entity_resolution", 0, 1, 0, 0.0, (1, 1500.0, 1500.0, 1500.0, 1500.0)),
    stage_row("org-b", "draft_generation", 1, 0, 1, 1.0, NO_LATENCY),
]


def assert_rows(actual: list[dict], expected: list[dict]) -> None:
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        for key, value in want.items():
            if isinstance(value, float):
                assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-12), (key, want)
            else:
                assert got[key] == value, (key, want)


def test_pipeline_hourly_golden(golden_lake):
    got = rows(golden_lake, "pipeline_hourly", H)
    assert_rows(got, PIPELINE_HOURLY)
    for row in got:
        assert row["period_type"] == "hour"
        assert row["period_start"] == H and row["period_end"] == H + timedelta(hours=1)


def test_stage_hourly_golden(golden_lake):
    got = rows(golden_lake, "stage_hourly", H)
    assert_rows(got, STAGE_HOURLY)
    assert {(r["period_start"], r["period_end"]) for r in got} == {(H, H + timedelta(hours=1))}


def test_sufficient_statistics_kept(golden_lake):
    platform = rows(golden_lake, "pipeline_hourly", H)[0]
    assert platform["e2e_latency_sum_ms"] == 4_199_999.0
    assert platform["transcript_confidence_sum"] == pytest.approx(2.1)   # 0.8 + 0.7 + 0.6
    assert platform["transcript_confidence_count"] == 3
    assert platform["claim_confidence_weighted_sum"] == pytest.approx(2.9)  # 0.5*4 + 0.9*1
    assert platform["auto_resolved_total"] == 8 and platform["disambiguation_total"] == 2
    # one latency -> one sketch bucket holding one value
    assert platform["e2e_sketch_counts"] == [1]
    transcription = rows(golden_lake, "stage_hourly", H)[0]
    assert sum(transcription["latency_sketch_counts"]) == 2
    assert transcription["latency_min_ms"] == 1.0 and transcription["latency_max_ms"] == 3000.0


def test_empty_hour_has_zero_platform_rows(golden_lake):
    empty = H - timedelta(hours=3)   # 10:00, no events at all
    report = run_hourly(golden_lake, NOW, hour=empty)
    assert report.periods == [empty]
    assert report.rows == {"pipeline_hourly": 1, "stage_hourly": 4}
    (platform,) = rows(golden_lake, "pipeline_hourly", empty)
    assert platform["organization_id"] is None
    numbers = {k: v for k, v in platform.items()
               if isinstance(v, int | float) and not isinstance(v, bool)}
    assert numbers and all(v == 0 for v in numbers.values()), numbers
    stages = rows(golden_lake, "stage_hourly", empty)
    assert [r["pipeline_stage"] for r in stages] == [
        "transcription", "claims_extraction", "entity_resolution", "draft_generation"]
    assert all(r["organization_id"] is None and r["started"] == r["succeeded"] == r["failed"] == 0
               and r["failure_rate"] == 0.0 and r["latency_p99_ms"] == 0.0 for r in stages)


def test_quiet_hours_of_one_run_each_get_their_own_zero_rows(lake):
    # one event at 09:10; at 14:30 the run builds 09:00 and the quiet 10:00-13:00 (the zero
    # rows of a quiet hour are computed once per run and stamped with each hour)
    nine = H - timedelta(hours=4)
    land_records(lake, [event("artifact_received", nine + timedelta(minutes=10))], now=NOW)
    report = run_hourly(lake, NOW)
    quiet = [nine + timedelta(hours=k) for k in range(1, 5)]
    assert report.periods == [nine, *quiet]
    schema = pq.read_schema(lake.snapshot_partition("pipeline_hourly", nine) / "part-0.parquet")
    for hour in quiet:
        (platform,) = rows(lake, "pipeline_hourly", hour)
        assert (platform["period_start"], platform["period_end"]) == (hour, hour + timedelta(hours=1))
        assert platform["event_count"] == platform["artifacts_received"] == 0
        stages = rows(lake, "stage_hourly", hour)
        assert [(r["period_start"], r["started"]) for r in stages] == [(hour, 0)] * 4
        assert pq.read_schema(lake.snapshot_partition("pipeline_hourly", hour)
                              / "part-0.parquet") == schema


def test_next_hour_boundary_event(golden_lake):
    # hour 14 has exactly the one event at 14:00:00.000
    run_hourly(golden_lake, NOW, hour=H + timedelta(hours=1))
    (platform, org_a) = rows(golden_lake, "pipeline_hourly", H + timedelta(hours=1))
    assert (platform["event_count"], platform["artifacts_received"]) == (1, 1)
    assert org_a["organization_id"] == "org-a" and org_a["event_count"] == 1


def test_rerun_replaces_partition(golden_lake):
    run_hourly(golden_lake, NOW, hour=H)
    folder = golden_lake.snapshot_partition("pipeline_hourly", H)
    assert [p.name for p in folder.iterdir()] == ["part-0.parquet"]
    assert_rows(rows(golden_lake, "pipeline_hourly", H), PIPELINE_HOURLY)
