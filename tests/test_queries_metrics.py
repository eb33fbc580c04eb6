"""Golden tests of the snapshot queries over hand-written snapshot partitions.

Snapshot rows are written by hand with the contract's columns plus the rollups' sums (so the
expected values below can be worked out on paper); every expected value has its reason.
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from conftest import NOW, event

from voice_monitor.landing import land_records
from voice_monitor.queries import (
    PeriodsNotBuiltWarning,
    historical_metrics,
    org_breakdown,
    stage_breakdown,
    stage_history,
)
from voice_monitor.rollups import run_hourly
from voice_monitor.views import PIPELINE_COLUMNS, PIPELINE_EXTRA, STAGE_COLUMNS, STAGE_EXTRA

_ARROW = {"VARCHAR": pa.string(), "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"),
          "BIGINT": pa.int64(), "DOUBLE": pa.float64(), "INTEGER[]": pa.list_(pa.int32()),
          "BIGINT[]": pa.list_(pa.int64())}
HOUR, DAY = timedelta(hours=1), timedelta(days=1)


def h(day: int, hour: int) -> datetime:
    return datetime(2026, 2, day, hour, tzinfo=UTC)


def _zero(kind: str):
    return [] if kind.endswith("[]") else 0.0 if kind == "DOUBLE" else 0 if kind == "BIGINT" else None


def write_rows(lake, table: str, start: datetime, rows: list[dict]) -> None:
    """One snapshot partition of `table` at `start`: each row starts all-zero, then overrides."""
    columns = (PIPELINE_COLUMNS + PIPELINE_EXTRA if table.startswith("pipeline")
               else STAGE_COLUMNS + STAGE_EXTRA)
    step = HOUR if table.endswith("hourly") else DAY
    full = []
    for row in rows:
        base = {name: _zero(kind) for name, kind in columns}
        base.update(period_type="hour" if step == HOUR else "day", period_start=start,
                    period_end=start + step, computed_at=start + step)
        base.update(row)
        full.append(base)
    schema = pa.schema([(name, _ARROW[kind]) for name, kind in columns])
    lake.replace_partition(pa.Table.from_pylist(full, schema=schema),
                           lake.snapshot_partition(table, start))


def test_historical_hourly_fills_gaps_with_zero_rows(lake):
    write_rows(lake, "pipeline_hourly", h(16, 10), [{"event_count": 5},
                                                     {"organization_id": "org-1", "event_count": 3}])
    write_rows(lake, "pipeline_hourly", h(16, 11), [{"event_count": 7, "artifacts_failed": 1,
                                                      "overall_failure_rate": 0.5}])
    write_rows(lake, "pipeline_hourly", h(16, 13), [{"event_count": 9}])
    frame = historical_metrics(lake, h(16, 10), h(16, 14))
    # hour 12 has no snapshot partition at all: a zero row, computed_at null
    assert frame["period_start"].to_list() == [h(16, 10), h(16, 11), h(16, 12), h(16, 13)]
    assert frame["period_end"].to_list() == [h(16, 11), h(16, 12), h(16, 13), h(16, 14)]
    assert frame["event_count"].to_list() == [5, 7, 0, 9]  # platform rows only
    assert frame["overall_failure_rate"].to_list() == [0.0, 0.5, 0.0, 0.0]
    assert frame["computed_at"].to_list()[2] is None
    assert frame["organization_id"].to_list() == [None] * 4
    # org-1 only had hour 10; a start inside hour 10 still includes that hour
    org = historical_metrics(lake, h(16, 10) + timedelta(minutes=30), h(16, 14), "org-1")
    assert org["event_count"].to_list() == [3, 0, 0, 0]
    assert org["organization_id"].to_list() == ["org-1"] * 4


def test_historical_switches_to_daily_beyond_seven_days(lake):
    write_rows(lake, "pipeline_hourly", h(9, 0), [{"event_count": 4}])
    write_rows(lake, "pipeline_daily", h(10, 0), [{"event_count": 100}])
    exactly_7_days = historical_metrics(lake, h(9, 0), h(16, 0))
    assert exactly_7_days.height == 168 and set(exactly_7_days["period_type"]) == {"hour"}
    assert exactly_7_days["event_count"].sum() == 4
    # one hour more than 7 days: daily rows for every day touched, 02-08 .. 02-15
    beyond = historical_metrics(lake, h(8, 23), h(16, 0))
    assert beyond["period_start"].to_list() == [h(d, 0) for d in range(8, 16)]
    assert set(beyond["period_type"]) == {"day"}
    assert beyond["event_count"].to_list() == [0, 0, 100, 0, 0, 0, 0, 0]
    forced = historical_metrics(lake, h(9, 0), h(11, 0), period="day")
    assert forced["event_count"].to_list() == [0, 100]


def test_org_breakdown_recomputes_rates_from_sums(lake):
    write_rows(lake, "pipeline_hourly", h(16, 10), [
        {"event_count": 99},  # the platform row is not an organization
        {"organization_id": "org-1", "artifacts_received": 10, "artifacts_completed": 8,
         "artifacts_failed": 2, "overall_failure_rate": 0.2, "e2e_latency_count": 2,
         "e2e_latency_sum_ms": 300.0, "e2e_latency_avg_ms": 150.0, "total_ai_cost_usd": 1.2,
         "entities_resolved_total": 10, "auto_resolved_total": 9},
        {"organization_id": "org-2", "artifacts_received": 20, "artifacts_completed": 1},
    ])
    write_rows(lake, "pipeline_hourly", h(16, 11), [
        {"organization_id": "org-1", "artifacts_received": 2, "artifacts_failed": 2,
         "overall_failure_rate": 1.0, "e2e_latency_count": 1, "e2e_latency_sum_ms": 600.0,
         "e2e_latency_avg_ms": 600.0, "entities_resolved_total": 30, "auto_resolved_total": 3},
        {"organization_id": "org-3", "artifacts_received": 1},
    ])
    lake.organizations_file.parent.mkdir(parents=True)
    pa.parquet.write_table(pa.table({"organization_id": ["org-1", "org-2"],
                                     "name": ["Acme", "Beta's Co"]}), lake.organizations_file)
    frame = org_breakdown(lake, h(16, 10), h(16, 12))
    assert frame["organization_id"].to_list() == ["org-2", "org-1", "org-3"]  # by received
    assert frame["name"].to_list() == ["Beta's Co", "Acme", "Unknown"]
    org1 = frame.row(1, named=True)
    assert org1["artifacts_received"] == 12
    # 4 failed / (8 completed + 4 failed) = 1/3, not the mean of 0.2 and 1.0 (0.6)
    assert org1["overall_failure_rate"] == pytest.approx(1 / 3)
    # (300 + 600) ms / 3 latencies = 300, not the mean of 150 and 600 (375)
    assert org1["e2e_latency_avg_ms"] == pytest.approx(300.0)
    # 12 auto-resolved of 40 entities = 0.3, not the mean of 0.9 and 0.1 (0.5)
    assert org1["auto_resolution_rate"] == pytest.approx(0.3)
    assert org1["avg_cost_per_artifact_usd"] == pytest.approx(1.2 / 12)
    assert frame.row(0, named=True)["overall_failure_rate"] == 0.0  # 0 failed of 1
    assert frame.row(2, named=True)["overall_failure_rate"] == 0.0  # no outcomes: 0, not NaN


def test_stage_breakdown_sums_counts_and_recomputes_rates(lake):
    write_rows(lake, "stage_hourly", h(16, 10), [
        {"pipeline_stage": "transcription", "started": 4, "succeeded": 3, "failed": 1,
         "failure_rate": 0.25},
        {"pipeline_stage": "transcription", "organization_id": "org-1", "started": 1},
    ])
    write_rows(lake, "stage_hourly", h(16, 11), [
        {"pipeline_stage": "transcription", "started": 2, "succeeded": 0, "failed": 2,
         "failure_rate": 1.0},
        {"pipeline_stage": "draft_generation", "succeeded": 5},
    ])
    frame = stage_breakdown(lake, h(16, 10), h(16, 12))
    assert frame["pipeline_stage"].to_list() == [
        "transcription", "claims_extraction", "entity_resolution", "draft_generation"]
    assert frame["started"].to_list() == [6, 0, 0, 0]  # the org-1 row is not the platform
    assert frame["succeeded"].to_list() == [3, 0, 0, 5]
    # 3 failed / (3 + 3) = 0.5, not the mean of 0.25 and 1.0
    assert frame["failure_rate"].to_list() == [0.5, 0.0, 0.0, 0.0]
    org = stage_breakdown(lake, h(16, 10), h(16, 12), organization_id="org-1")
    assert org["started"].to_list() == [1, 0, 0, 0]


def test_stage_history_one_row_per_hour_and_stage_without_gaps(lake):
    write_rows(lake, "stage_hourly", h(16, 10), [
        {"pipeline_stage": "draft_generation", "succeeded": 2, "latency_count": 2,
         "latency_p95_ms": 20_000.0},
        {"pipeline_stage": "draft_generation", "organization_id": "org-1", "succeeded": 1,
         "latency_count": 1, "latency_p95_ms": 900_000.0},
    ])
    write_rows(lake, "stage_hourly", h(16, 12), [
        {"pipeline_stage": "transcription", "failed": 1, "failure_rate": 1.0},
    ])
    frame = stage_history(lake, h(16, 10), h(16, 13))
    # 3 hours x 4 processing stages, hour-major, stages in pipeline order
    assert frame.height == 12
    assert frame["period_start"].to_list() == [h(16, hour) for hour in (10, 11, 12) for _ in range(4)]
    assert frame["pipeline_stage"].to_list()[:4] == [
        "transcription", "claims_extraction", "entity_resolution", "draft_generation"]
    # platform only: the org-1 row's 900 s is not in hour 10's draft p95
    assert frame["latency_p95_ms"].to_list() == [0, 0, 0, 20_000.0] + [0] * 8
    assert frame["failed"].to_list()[8] == 1  # hour 12, transcription
    # hour 11 has no partition: zeros and computed_at null; hour 10 has a stage with no row
    assert frame["computed_at"].to_list()[4:8] == [None] * 4
    assert frame["computed_at"].to_list()[3] is not None
    org = stage_history(lake, h(16, 10), h(16, 11), organization_id="org-1")
    assert org["latency_p95_ms"].to_list() == [0, 0, 0, 900_000.0]


@pytest.mark.parametrize("call, message", [
    (lambda lake: historical_metrics(lake, h(16, 12), h(16, 10)), "bad time range"),
    (lambda lake: historical_metrics(lake, h(16, 12), None), "needs both start and end"),
    (lambda lake: historical_metrics(lake, h(16, 10), h(16, 12), period="week"),
     "unknown period 'week'"),
    (lambda lake: stage_breakdown(lake, h(16, 10), h(16, 12), organization_id="a\nb"),
     "is not a valid id"),
    (lambda lake: org_breakdown(lake, datetime(2026, 2, 16), h(16, 12)), "has no timezone"),
])
def test_bad_input(lake, call, message):
    with pytest.raises(ValueError, match=message):
        call(lake)


def test_a_time_text_without_offset_is_utc_as_on_the_command_line(new_york, lake):
    """org_breakdown(lake, "2026-02-16T10", ...) was refused ("has no timezone") while
    `--start 2026-02-16T10` reads it as UTC (contract §11: `--hour 2026-02-15T14`). A text is
    UTC in both, whatever the machine's TZ (here America/New_York); a naive datetime object
    stays refused (above): Python's are usually local time."""
    write_rows(lake, "pipeline_hourly", h(16, 10), [{"organization_id": "org-1",
                                                     "artifacts_received": 3}])
    write_rows(lake, "pipeline_hourly", h(16, 12), [{"organization_id": "org-1",
                                                     "artifacts_received": 5}])
    rows = org_breakdown(lake, "2026-02-16T10", "2026-02-16 12:00").to_dicts()
    # [10:00, 12:00) UTC holds the 10:00 hour only (read at New York, 15:00 to 17:00 UTC: 12:00)
    assert [(r["organization_id"], r["artifacts_received"]) for r in rows] == [("org-1", 3)]
    assert rows == org_breakdown(lake, h(16, 10), h(16, 12)).to_dicts()


def test_an_organization_without_events_in_a_built_period_is_built_not_missing(lake):
    """An organization has snapshot rows only for periods with its events (contract §6), so its
    gap-free series took computed_at null in every other period, built or not: 'nothing
    happened' looked like 'not built yet'. computed_at is the period's build time (its
    platform row's) whenever the period was built, and null only where no snapshot exists."""
    write_rows(lake, "pipeline_hourly", h(16, 10), [{"event_count": 5, "computed_at": h(16, 11)},
                                                     {"organization_id": "org-1", "event_count": 3,
                                                      "computed_at": h(16, 11)}])
    # hour 11 built with no org-1 event: the platform row only; hour 12 not built at all
    write_rows(lake, "pipeline_hourly", h(16, 11), [{"event_count": 2,
                                                     "computed_at": h(16, 12) + HOUR / 2}])
    org = historical_metrics(lake, h(16, 10), h(16, 13), "org-1")
    assert org["event_count"].to_list() == [3, 0, 0]
    assert org["computed_at"].to_list() == [h(16, 11), h(16, 12) + HOUR / 2, None]
    write_rows(lake, "stage_hourly", h(16, 10), [
        {"pipeline_stage": s, "computed_at": h(16, 11) + HOUR / 4} for s in
        ("transcription", "claims_extraction", "entity_resolution", "draft_generation")])
    stages = stage_history(lake, h(16, 10), h(16, 12), organization_id="org-1")
    # org-1 has no stage row: hour 10 was built (its platform rows), hour 11 was not
    assert stages["computed_at"].to_list() == [h(16, 11) + HOUR / 4] * 4 + [None] * 4
    assert stages["started"].to_list() == [0] * 8


def test_totals_warn_of_the_periods_of_their_range_with_no_snapshot(lake):
    """stage_breakdown and org_breakdown sum snapshot rows: an hour not built yet was left out
    of their totals without a word in Python (only the CLI printed a note), so a notebook's
    totals silently missed the latest hours. They warn PeriodsNotBuiltWarning, naming them."""
    # org-1 receives a1 in hour 12 and a2, a3 in hour 13; only hour 12 is built
    land_records(lake, [
        event("artifact_received", h(16, 12) + HOUR / 4, artifact_id="a1", organization_id="org-1"),
        event("artifact_received", h(16, 13) + HOUR / 4, artifact_id="a2", organization_id="org-1"),
        event("artifact_received", h(16, 13) + HOUR / 2, artifact_id="a3", organization_id="org-1"),
        event("transcription_started", h(16, 13) + HOUR / 2, artifact_id="a2",
              organization_id="org-1")], now=NOW)
    run_hourly(lake, NOW, hour=h(16, 11))  # built: nothing happened in it
    run_hourly(lake, NOW, hour=h(16, 12))
    said = ("{}: 1 of the 3 hour(s) from 2026-02-16T11:00:00Z to 2026-02-16T14:00:00Z have no "
            "snapshot (2026-02-16T13:00:00Z), left out of these totals: an hour's snapshot is "
            "built at :30 after it ends ('voice-monitor rollup hourly' builds the ended ones of "
            "the last 7 days now, 'voice-monitor backfill --start T --end T' any range)")
    with pytest.warns(PeriodsNotBuiltWarning) as caught:
        orgs = org_breakdown(lake, h(16, 11), h(16, 14))
    (warned,) = caught
    assert str(warned.message) == said.format("org_breakdown")
    assert warned.message.periods == [h(16, 13)]
    assert warned.filename == __file__  # points at the caller's line, not the library's
    assert orgs.select("organization_id", "artifacts_received").rows() == [("org-1", 1)]
    with pytest.warns(PeriodsNotBuiltWarning) as caught:
        stages = stage_breakdown(lake, h(16, 11), h(16, 14), organization_id="org-1")
    (warned,) = caught
    assert str(warned.message) == said.format("stage_breakdown")
    assert stages.filter(pipeline_stage="transcription")["started"].to_list() == [0]
    # once hour 13 is built, nothing is left out and nothing is said
    run_hourly(lake, NOW, hour=h(16, 13))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        orgs = org_breakdown(lake, h(16, 11), h(16, 14))
        stages = stage_breakdown(lake, h(16, 11), h(16, 14), organization_id="org-1")
    assert orgs.select("organization_id", "artifacts_received").rows() == [("org-1", 3)]
    assert stages.filter(pipeline_stage="transcription")["started"].to_list() == [1]
