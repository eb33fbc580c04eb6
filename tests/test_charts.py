"""The chart definitions shared by the dashboard and the notebooks: titled, UTC time axes,
units people read, thresholds from the alert config, gaps where no snapshot was built."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from voice_monitor import charts
from voice_monitor.health.checks import AlertConfig

T0 = datetime(2026, 2, 16, 10, tzinfo=UTC)
BUILT = T0 + timedelta(hours=5)


def hourly(rates: list[float | None]) -> pl.DataFrame:
    """historical_metrics-like rows; None marks an hour without a snapshot (computed_at null)."""
    return pl.DataFrame({
        "period_start": [T0 + timedelta(hours=i) for i in range(len(rates))],
        "artifacts_received": [10 * (i + 1) for i in range(len(rates))],
        "artifacts_completed": [9] * len(rates),
        "artifacts_failed": [1] * len(rates),
        "overall_failure_rate": [r or 0.0 for r in rates],
        "computed_at": [None if r is None else BUILT for r in rates],
    }, schema_overrides={"period_start": pl.Datetime("us", "UTC"),
                         "computed_at": pl.Datetime("us", "UTC")})


def test_every_dashboard_chart_has_a_title_and_utc_hours():
    frames = {"historical_metrics": hourly([0.1, 0.2]),
              "stage_history": pl.DataFrame({
                  "period_start": [T0, T0], "pipeline_stage": ["transcription", "draft_generation"],
                  "latency_count": [1, 1], "latency_p95_ms": [1500.0, 30000.0],
                  "computed_at": [BUILT, BUILT]}),
              "org_breakdown": pl.DataFrame({"organization_id": ["org-1"], "name": ["Acme"],
                                             "total_ai_cost_usd": [1.5]})}
    for name, (draw, query) in charts.CHARTS.items():
        layout = draw(frames[query]).to_plotly_json()["layout"]
        assert layout["title"]["text"], name
        axis = layout["xaxis"]["title"]["text"]
        assert axis == ("AI cost ($)" if name == "cost_by_organization" else "hour (UTC)"), name


def test_time_axis_is_utc_text_whatever_the_zone_of_the_frame():
    frame = hourly([0.1]).with_columns(
        pl.col("period_start").dt.convert_time_zone("America/New_York"))
    x = charts.throughput(frame).data[0].x
    assert list(x) == ["2026-02-16 10:00:00"]  # 05:00 in New York is 10:00 UTC


def test_failure_rate_in_percent_with_the_configured_thresholds_and_gaps():
    config = AlertConfig(failure_rate_high=0.15, failure_rate_critical=0.4)
    figure = charts.failure_rate(hourly([0.05, None, 0.5]), config)
    # 0.05 -> 5 %, the unbuilt hour is a gap (not 0 %), 0.5 -> 50 %
    assert list(figure.data[0].y) == [5.0, None, 50.0]
    lines = sorted(shape["y0"] for shape in figure.layout.shapes)
    assert lines == [15.0, 40.0]  # read from the config, drawn in %
    notes = sorted(a["text"] for a in figure.layout.annotations)
    assert notes == ["critical alert > 40 %", "high alert > 15 %"]
    default = charts.failure_rate(hourly([0.05]))
    assert sorted(shape["y0"] for shape in default.layout.shapes) == [10.0, 25.0]


def test_stage_latency_in_seconds_on_a_log_axis_one_line_per_stage():
    frame = pl.DataFrame({
        "period_start": [T0, T0, T0 + timedelta(hours=1), T0 + timedelta(hours=1)],
        "pipeline_stage": ["transcription", "draft_generation"] * 2,
        "latency_count": [4, 2, 0, 3],
        "latency_p95_ms": [1500.0, 20_000.0, 0.0, 1_700_000.0],
        "computed_at": [BUILT] * 4,
    })
    figure = charts.stage_latency(frame)
    assert figure.layout.yaxis.type == "log"
    assert figure.layout.yaxis.title.text == "p95 latency (s)"
    lines = {trace.name: list(trace.y) for trace in figure.data}
    # ms / 1000; an hour with no latency is a gap, never 0 (log(0) does not exist)
    assert lines == {"transcription": [1.5, None], "draft_generation": [20.0, 1700.0]}


def test_cost_by_organization_largest_first_in_dollars():
    frame = pl.DataFrame({"organization_id": ["org-2", "org-1", "org-3"],
                          "name": ["Beta", "Acme", "Unknown"],
                          "total_ai_cost_usd": [0.5, 12.345, 3.0]})
    bar = charts.cost_by_organization(frame).data[0]
    assert list(bar.y) == ["Acme (org-1)", "org-3", "Beta (org-2)"]  # "Unknown" shows the id
    assert list(bar.x) == [12.345, 3.0, 0.5]
    assert list(bar.text) == ["$12.35", "$3.00", "$0.50"]


def test_cost_by_organization_ids_like_numbers_and_dates_stay_categories():
    """plotly.js types an axis of strings that all read as numbers (or dates) as a numeric (or
    time) axis: ids 1001 and 2026-01-01 put the bars at y = 1001 and at a date (checked in
    chromium with the vendored bundle: `_fullLayout.yaxis.type` was 'linear')."""
    frame = pl.DataFrame({"organization_id": ["1001", "2026-01-01", "7"],
                          "name": ["Unknown"] * 3, "total_ai_cost_usd": [3.0, 2.0, 1.0]})
    figure = charts.cost_by_organization(frame)
    assert figure.layout.yaxis.type == "category"
    assert list(figure.data[0].y) == ["1001", "2026-01-01", "7"]


def test_an_artifact_timeline_names_a_hostile_id_literally():
    """plotly.js reads <b>, <a href> and entities in a title as markup (the cost chart's labels
    are checked in chromium in test_dashboard_hostile): the id's &, < and > become entities,
    which it draws as the characters, and a right-to-left override a visible [U+202E]."""
    frame = pl.DataFrame({"timestamp": [T0, T0 + timedelta(minutes=1)],
                          "event_type": ["artifact_received", "transcription_failed"]},
                         schema_overrides={"timestamp": pl.Datetime("us", "UTC")})
    figure = charts.artifact_timeline(frame, '<a href="https://evil.example/">a&b</a>\u202e1')
    assert figure.layout.title.text == (
        'Timeline of &lt;a href="https://evil.example/"&gt;a&amp;b&lt;/a&gt;[U+202E]1')
    assert list(figure.data[0].y) == ["artifact_received", "transcription_failed"]


def test_readable_tables_use_percent_seconds_and_dollars():
    frame = pl.DataFrame({"organization_id": ["org-1"], "overall_failure_rate": [0.0625],
                          "e2e_latency_avg_ms": [84_250.0], "total_ai_cost_usd": [1.234],
                          "avg_transcript_confidence": [0.912], "artifacts_received": [16]})
    table = charts.readable(frame)
    assert table.columns == ["organization_id", "overall failure rate (%)",
                             "e2e latency avg (s)", "total ai cost ($)",
                             "avg transcript confidence (%)", "artifacts_received"]
    assert table.row(0) == ("org-1", 6.2, 84.2, 1.23, 91.2, 16)
