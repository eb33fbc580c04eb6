"""The read API (contract §10): metrics from snapshots, and the event-log queries.

Metrics read the snapshot partitions of the asked range only (hourly tables for ranges up to
7 days, daily beyond); the SQL lives in `sql/queries/` and user input travels as parameters.
The event-log queries live in `event_log` and are re-exported here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timedelta

import polars as pl

from voice_monitor import arguments
from voice_monitor.counters import realtime_metrics
from voice_monitor.event_log import (
    active_artifacts,
    artifact_timeline,
    failed_artifacts,
    recent_events,
    retry_history,
)
from voice_monitor.integrity import reads_lake
from voice_monitor.lake import Lake, UnlistableFolderError, floor_day, floor_hour, parquet_files
from voice_monitor.pagination import MAX_LIMIT, Page
from voice_monitor.schema import PROCESSING_STAGES
from voice_monitor.sql import run_sql
from voice_monitor.views import with_sources

HOURLY_LIMIT = timedelta(days=7)
_STEP = {"hour": timedelta(hours=1), "day": timedelta(days=1)}


MAX_PERIODS = 40_000  # rows of one range read: over 100 years of days, 4.5 years of hours


def _periods(start, end, period: str | None) -> tuple[str, datetime, datetime]:
    """(period, first period start, last period start) of the periods overlapping [start, end)."""
    start, end = arguments.time_range(start, end, required=True)
    if period is None:
        period = "hour" if end - start <= HOURLY_LIMIT else "day"
    if period not in _STEP:
        raise ValueError(f"unknown period {period!r}; use 'hour' or 'day', or leave it out "
                         "to have the range's length choose")
    floor = floor_hour if period == "hour" else floor_day
    first, last = floor(start), floor(end - timedelta(microseconds=1))
    count = (last - first) // _STEP[period] + 1
    if count > MAX_PERIODS:  # every period is a row (no gaps): 8,000 years of days never end
        raise ValueError(
            f"the range {start:%Y-%m-%dT%H:%MZ} to {end:%Y-%m-%dT%H:%MZ} spans {count:,} "
            f"{period}s, more than the {MAX_PERIODS:,} one read returns; narrow it"
            + (" or read daily periods" if period == "hour" else ""))
    return period, first, last


def period_bounds(start, end, period: str | None = None) -> tuple[str, datetime, datetime]:
    """(period, first, last) of the snapshot periods a read of [start, end) covers: two ranges
    with the same bounds read the same snapshot rows (the server's caches key on this)."""
    return _periods(start, end, period)


def _snapshot_files(lake: Lake, kind: str, period: str, first: datetime, last: datetime
                    ) -> dict[str, list[str] | None]:
    """Raw snapshot views of `kind` (pipeline|stage): the asked period's files, the other empty."""
    table = f"{kind}_{'hourly' if period == 'hour' else 'daily'}"
    base = str(lake.snapshots_dir / table)
    files: list[str] = []
    moment = first
    while moment <= last and lake.remote:  # one LIST per partition on an object store
        files.extend(str(f) for f in parquet_files(lake.snapshot_partition(table, moment)))
        moment += _STEP[period]
    while moment <= last:
        # plain strings and os.listdir: this runs for every period of the range
        folder = (f"{base}/date={moment:%Y-%m-%d}/hour={moment:%H}" if period == "hour"
                  else f"{base}/date={moment:%Y-%m-%d}")
        try:
            names = sorted(n for n in os.listdir(folder) if n.endswith(".parquet"))
        except FileNotFoundError:
            names = []
        except PermissionError as exc:  # never read as a period without rows
            raise UnlistableFolderError(folder, exc.strerror) from exc
        files.extend(f"{folder}/{n}" for n in names)
        moment += _STEP[period]
    other = f"{kind}_{'daily' if period == 'hour' else 'hourly'}"
    return {f"raw_{table}": files, f"raw_{other}": None}


# query -> (snapshot kind, whether every period of the range gets a row)
_SCOPED = {"historical_metrics": ("pipeline", True), "stage_breakdown": ("stage", False),
           "stage_history": ("stage", True)}


def _scoped(query: str, doc: str) -> Callable[..., pl.DataFrame]:
    """The public read `query(lake, start, end, organization_id=None, period=None)`: it runs
    `sql/queries/<query>.sql` over one scope's snapshot rows of the range."""
    kind, gapless = _SCOPED[query]

    def read(lake: Lake, start: datetime | str, end: datetime | str,
             organization_id: str | None = None, period: str | None = None) -> pl.DataFrame:
        organization_id = arguments.identifier(organization_id, "organization_id")
        period, first, last = _periods(start, end, period)
        con = with_sources(**_snapshot_files(lake, kind, period, first, last))
        params = {"step": _STEP[period]} if gapless else {}
        if kind == "stage":
            params["stages"] = list(PROCESSING_STAGES)
        return run_sql(con, f"queries/{query}", period=period, first=first, last=last,
                       organization_id=organization_id, **params).pl()

    read.__name__ = read.__qualname__ = query
    read.__doc__ = doc
    return reads_lake(read)


historical_metrics = _scoped(
    "historical_metrics",
    "Pipeline snapshot rows for [start, end): hourly up to 7 days, daily beyond, no gaps.")
stage_breakdown = _scoped(
    "stage_breakdown",
    "Per processing stage, totals over [start, end): counts, failure rate, latency.")
stage_history = _scoped(
    "stage_history",
    "Stage snapshot rows per period and processing stage of [start, end), no gaps.")


@reads_lake
def org_breakdown(
    lake: Lake, start: datetime | str, end: datetime | str, period: str | None = None
) -> pl.DataFrame:
    """Per organization, totals and rates over [start, end) with names, most received first."""
    period, first, last = _periods(start, end, period)
    names = [lake.organizations_file] if lake.organizations_file.is_file() else None
    con = with_sources(**_snapshot_files(lake, "pipeline", period, first, last),
                       raw_organizations=names)
    return run_sql(con, "queries/org_breakdown", period=period, first=first, last=last).pl()


__all__ = [
    "MAX_LIMIT",
    "Page",
    "active_artifacts",
    "artifact_timeline",
    "failed_artifacts",
    "historical_metrics",
    "org_breakdown",
    "realtime_metrics",
    "recent_events",
    "retry_history",
    "stage_breakdown",
    "stage_history",
]
