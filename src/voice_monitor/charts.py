"""The charts of the dashboard and the notebooks, defined once (Plotly).

Each function takes a DataFrame from the query API (`historical_metrics`, `stage_history`,
`org_breakdown`, `active_artifacts`, `artifact_timeline`) and returns a `plotly` Figure: the
server sends `figure.to_json()` to the page, a notebook displays the figure itself. Times on the
axes are UTC; values are in units people read (%, s, $). A period whose snapshot was not built
yet (no `computed_at`) is a gap, never a false zero. `readable()` gives a table the same units.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

import plotly.graph_objects as go
import polars as pl

from voice_monitor.health.checks import AlertConfig

HOUR_AXIS = "hour (UTC)"
COLORS = {  # one colour per series, the same on the page and in the notebooks
    "received": "#4c78a8", "completed": "#54a24b", "failed": "#e45756",
    "transcription": "#4c78a8", "claims_extraction": "#f58518",
    "entity_resolution": "#54a24b", "draft_generation": "#b279a2",
    "high": "#f58518", "critical": "#e45756", "cost": "#72b7b2",
}
_FAILED_EVENT = "_failed"
MAX_LABEL = 40  # characters of an organization's label on the cost chart's axis


def _layout(figure: go.Figure, title: str, y_title: str, x_title: str = HOUR_AXIS,
            **extra) -> go.Figure:
    settings = {"hovermode": "x unified", **extra}
    figure.update_layout(
        title={"text": title, "x": 0.01, "xanchor": "left", "y": 0.98, "yanchor": "top"},
        template="plotly_white", height=340, margin={"l": 60, "r": 20, "t": 75, "b": 50},
        legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.02, "yanchor": "bottom"},
        xaxis_title=x_title, yaxis_title=y_title, **settings)
    return figure


# draw nothing but change what is read: bidi embeddings, overrides and isolates reorder the
# text after them, zero-width spaces make two ids look the same (the dashboard marks them too)
_INVISIBLE = re.compile("[\u200b\u202a-\u202e\u2060\u2066-\u2069\ufeff]")


def _literal(text: str) -> str:
    """`text` as plotly.js shows it literally: it reads `<b>`, `<br>`, `<a href=...>` and
    entities in every label and hover text as markup, so an organization or artifact id (input
    from producers) would be drawn bold, broken or as a link; `&`, `<` and `>` as entities,
    and an invisible character as its code in brackets ([U+202E])."""
    shown = _INVISIBLE.sub(lambda m: f"[U+{ord(m.group()):04X}]", text)
    return html.escape(shown, quote=False)


def _utc_text(column: pl.Series) -> list[str]:
    """UTC times as naive ISO text: plotly.js draws them as written, whatever the browser's TZ."""
    return column.dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%d %H:%M:%S").to_list()


def _built(frame: pl.DataFrame, column: str, scale: float = 1.0) -> list[float | None]:
    """The column's values (times `scale`), None where the period has no snapshot yet."""
    values = frame[column].to_list()
    built = (frame["computed_at"].is_not_null().to_list() if "computed_at" in frame.columns
             else [True] * frame.height)
    return [v * scale if ok and v is not None else None for v, ok in zip(values, built, strict=True)]


def throughput(hourly: pl.DataFrame) -> go.Figure:
    """Artifacts received, completed and failed per hour (from `historical_metrics`)."""
    figure = go.Figure()
    x = _utc_text(hourly["period_start"])
    for name in ("received", "completed", "failed"):
        figure.add_trace(go.Scatter(
            x=x, y=_built(hourly, f"artifacts_{name}"), name=name, mode="lines",
            line={"color": COLORS[name]}, hovertemplate="%{y:,.0f} artifacts"))
    return _layout(figure, "Throughput: artifacts per hour", "artifacts per hour",
                   yaxis_rangemode="tozero")


def failure_rate(hourly: pl.DataFrame, config: AlertConfig | None = None) -> go.Figure:
    """Failed / (completed + failed) per hour in %, with the alert thresholds drawn."""
    config = config or AlertConfig()
    figure = go.Figure(go.Scatter(
        x=_utc_text(hourly["period_start"]), y=_built(hourly, "overall_failure_rate", 100.0),
        name="failure rate", mode="lines+markers", line={"color": COLORS["failed"]},
        marker={"size": 4}, hovertemplate="%{y:.1f} %"))
    for level, threshold in (("high", config.failure_rate_high),
                             ("critical", config.failure_rate_critical)):
        figure.add_hline(y=threshold * 100, line={"color": COLORS[level], "dash": "dash"},
                         annotation_text=f"{level} alert > {threshold * 100:g} %",
                         annotation_position="top left")
    top = max([v for v in _built(hourly, "overall_failure_rate", 100.0) if v is not None]
              + [config.failure_rate_critical * 100])
    return _layout(figure, "Failure rate per hour, failed / (completed + failed)",
                   "failure rate (%)", yaxis_range=[0, top * 1.15], yaxis_ticksuffix=" %")


def stage_latency(stages: pl.DataFrame) -> go.Figure:
    """Per processing stage, p95 latency per hour in seconds on a log axis (`stage_history`)."""
    figure = go.Figure()
    for stage in stages["pipeline_stage"].unique(maintain_order=True).to_list():
        rows = stages.filter(pl.col("pipeline_stage") == stage)
        seconds = [v if n else None for v, n in
                   zip(_built(rows, "latency_p95_ms", 0.001), rows["latency_count"].to_list(), strict=True)]
        figure.add_trace(go.Scatter(
            x=_utc_text(rows["period_start"]), y=seconds, name=stage, mode="lines+markers",
            marker={"size": 4}, line={"color": COLORS.get(stage)}, connectgaps=False,
            hovertemplate="%{y:.3s} s"))
    return _layout(figure, "p95 latency per stage and hour (log scale)", "p95 latency (s)",
                   yaxis={"type": "log", "dtick": 1})


def cost_by_organization(orgs: pl.DataFrame) -> go.Figure:
    """AI cost per organization in $, largest first (from `org_breakdown`); a label longer
    than `MAX_LABEL` characters is cut on the axis (whole in the hover), so that a long name
    or id (up to 256 characters) never takes the bars' width."""
    rows = orgs.sort("total_ai_cost_usd", descending=True)
    labels = [f"{name} ({org})" if name != "Unknown" else org
              for org, name in zip(rows["organization_id"], rows["name"], strict=True)]
    shown = [_literal(label) for label in labels]
    figure = go.Figure(go.Bar(
        x=rows["total_ai_cost_usd"].to_list(), y=shown, orientation="h",
        marker={"color": COLORS["cost"]},
        text=[f"${v:,.2f}" for v in rows["total_ai_cost_usd"]], textposition="outside",
        cliponaxis=False, customdata=shown,  # the hover's label: %{y} would be the cut one
        hovertemplate="$%{x:,.2f}<extra>%{customdata}</extra>", hoverlabel={"namelength": -1}))
    figure = _layout(figure, "AI cost per organization", "", x_title="AI cost ($)",
                     xaxis_tickprefix="$", hovermode="closest")
    cut = [_literal(label if len(label) <= MAX_LABEL else label[:MAX_LABEL - 1] + "\u2026")
           for label in labels]
    # a category axis, also when every id looks like a number or a date: plotly.js would
    # place the bars by value on a numeric or time axis
    figure.update_layout(height=max(320, 60 + 22 * rows.height),
                         yaxis={"type": "category", "autorange": "reversed", "automargin": True,
                                "tickmode": "array", "tickvals": shown, "ticktext": cut})
    return figure


def active_by_stage(active: pl.DataFrame) -> go.Figure:
    """How many in-flight artifacts sit in each stage now (from `active_artifacts(...).rows`)."""
    counts = active.group_by("current_stage").len().sort("current_stage")
    figure = go.Figure(go.Bar(x=counts["current_stage"].to_list(), y=counts["len"].to_list(),
                              marker={"color": COLORS["received"]},
                              hovertemplate="%{y} artifacts<extra>%{x}</extra>"))
    return _layout(figure, "Where in-flight artifacts are now", "active artifacts",
                   x_title="current stage", hovermode="closest")


def artifact_timeline(timeline: pl.DataFrame, artifact_id: str = "") -> go.Figure:
    """One artifact's events over time (UTC), failures in red (from `artifact_timeline`)."""
    kinds = timeline["event_type"].to_list()
    figure = go.Figure(go.Scatter(
        x=_utc_text(timeline["timestamp"]), y=kinds, mode="markers+lines",
        line={"color": "#bbbbbb"},
        marker={"size": 10, "color": [COLORS["failed"] if k.endswith(_FAILED_EVENT)
                                      else COLORS["received"] for k in kinds]},
        hovertemplate="%{x} UTC<extra>%{y}</extra>"))
    return _layout(figure, _literal(f"Timeline of {artifact_id}".strip()), "", x_title="time (UTC)",
                   hovermode="closest", yaxis={"automargin": True})


CHARTS = {  # the dashboard's 48-hour charts: name -> (function, the query it reads)
    "throughput": (throughput, "historical_metrics"),
    "failure_rate": (failure_rate, "historical_metrics"),
    "stage_latency": (stage_latency, "stage_history"),
    "cost_by_organization": (cost_by_organization, "org_breakdown"),
}

# Column suffix -> (whether the suffix is a unit to drop, the unit read, factor).
_UNITS = (("_rate", False, "%", 100.0), ("_confidence", False, "%", 100.0),
          ("_ms", True, "s", 0.001), ("_usd", True, "$", 1.0))


def readable(frame: pl.DataFrame, columns: Iterable[str] | None = None) -> pl.DataFrame:
    """The frame with rates in %, milliseconds in s and dollars in $, named and rounded to read."""
    out = []
    for name in (list(columns) if columns is not None else frame.columns):
        column = pl.col(name)
        for suffix, drop, unit, factor in _UNITS:
            if name.endswith(suffix) and frame.schema[name].is_numeric():
                words = (name.removesuffix(suffix) if drop else name).replace("_", " ")
                column = (column * factor).round(2 if unit == "$" else 1).alias(f"{words} ({unit})")
                break
        out.append(column)
    return frame.select(out)
