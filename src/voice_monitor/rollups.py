"""Hourly and daily snapshot rollups (contract §6): build, refusal, backfill.

Each snapshot partition is replaced atomically, never appended to, and its manifest (what it was
built from) is written next; `rollup_plan` decides from those which periods a run builds.
A daily snapshot is built only from a complete day of hourly rows: missing or changed hours are
built first, and a day whose missing hours cannot be built is refused.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from voice_monitor import arguments, copy_log, sketch
from voice_monitor.arguments import utc_text
from voice_monitor.integrity import UnreadableFileError, check_snapshot_files, guard, retrying
from voice_monitor.lake import (
    HOURLY_TABLES,
    Lake,
    UnlistableFolderError,
    dropped_periods,
    duckdb_path,
    floor_day,
    floor_hour,
    parquet_files,
)
from voice_monitor.rollup_plan import (
    COPIES_RANKED_BY,
    DAY,
    HOUR,
    check_manifest_folders,
    day_sources,
    days_to_build,
    describe,
    has_hourly_snapshot,
    hours_to_build,
    known_copies,
    manifest_path,
    stale_hours,
    write_manifest,
)
from voice_monitor.rollup_plan import key as _key
from voice_monitor.rollup_session import (
    empty_hourly_view as _empty_hourly_view,
)
from voice_monitor.rollup_session import (
    hour_views as _hour_views,
)
from voice_monitor.rollup_session import (
    later_copies as _later_copies,
)
from voice_monitor.rollup_session import (
    period_params as _period_params,
)
from voice_monitor.rollup_session import (
    quiet_hour as _quiet_hour,
)
from voice_monitor.rollup_session import (
    session as _session,
)
from voice_monitor.rollup_session import (
    stage_tables as _stage_tables,
)
from voice_monitor.schema import PROCESSING_STAGES
from voice_monitor.sql import load_sql, run_sql

if TYPE_CHECKING:
    from voice_monitor.retention import RetentionConfig

LOOK_BACK_HOURS = 24  # latency pairing looks back up to 24 h, across hour partitions


class RefusedError(ValueError):
    """A rollup refused to rebuild a period whose source retention already dropped."""


class RollupFailedError(ValueError):
    """Periods that could not be built (an unreadable lake file); every other period was."""

    def __init__(self, report: RollupReport):
        self.report = report
        (period, message), more = report.failed[0], len(report.failed) - 1
        others = f" (and {more} more period(s))" if more else ""
        super().__init__(f"could not build {utc_text(period)}{others}: {message}")


@dataclass
class RollupReport:
    """What a rollup run did: periods built, rows written per table, periods refused.

    `hours` are the hourly periods a daily run built first (missing or changed hours of the
    days it built); their rows are counted in `rows` under the hourly tables.
    """

    periods: list[datetime] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    refused: list[tuple[datetime, str]] = field(default_factory=list)
    hours: list[datetime] = field(default_factory=list)
    failed: list[tuple[datetime, str]] = field(default_factory=list)  # unreadable source files
    # a backfill's range before this (the first day the lake holds anything) was skipped
    skipped_before: datetime | None = None

    def count(self, table: str, n: int) -> None:
        self.rows[table] = self.rows.get(table, 0) + n

    def add(self, other: RollupReport) -> None:
        """Append another run's report (e.g. one period built elsewhere) to this one."""
        self.periods.extend(other.periods)
        self.refused.extend(other.refused)
        self.hours.extend(other.hours)
        self.failed.extend(other.failed)
        for table, n in other.rows.items():
            self.count(table, n)


# builds the snapshots of a list of periods of one kind ("hourly"/"daily") at `now` and reports:
# build_periods in-process, fanout.DaskPeriods as one task per period on a Dask cluster
PeriodMap = Callable[[str, Lake, list[datetime], bool, datetime], RollupReport]


# -- hourly ---------------------------------------------------------------------------------
def run_hourly(
    lake: Lake, now: datetime, hour: datetime | None = None, force: bool = False,
    retention: RetentionConfig | None = None, map_periods: PeriodMap | None = None,
) -> RollupReport:
    """Build hourly snapshots: `hour` only, else the previous hour and every changed hour.

    Automatically, never an hour older than the hourly-snapshot retention of `retention`.
    """
    if isinstance(hour, str):
        arguments.period_text(hour, "hour", "hour")
    now, hour = arguments.utc_now(now), arguments.utc_time(hour, "hour")
    explicit = None if hour is None else arguments.period_start(
        floor_hour(hour), "hour", "2026-02-15T14:00:00Z")
    if explicit is not None and explicit > now and not force:
        raise RefusedError(_future(explicit, now))

    def automatic() -> list[datetime]:
        # imported here: a run given its hour does not need retention's module (~5-10 ms)
        from voice_monitor.retention import RetentionConfig

        return hours_to_build(lake, now, (retention or RetentionConfig()).hourly_snapshots)

    return _run(lake, "hourly", explicit, automatic, force, now, map_periods)


def _run(lake: Lake, kind: str, explicit: datetime | None, automatic, force: bool,
         now: datetime, map_periods: PeriodMap | None) -> RollupReport:
    """Build the explicit period (a refusal raises), else every period `automatic()` names."""
    periods = [explicit] if explicit is not None else automatic()
    report = (map_periods or build_periods)(kind, lake, periods, force, now)
    if explicit is not None and report.refused:
        raise RefusedError(report.refused[0][1])
    if report.failed:
        raise RollupFailedError(report)
    return report


def build_periods(kind: str, lake: Lake, periods: list[datetime], force: bool,
                  now: datetime) -> RollupReport:
    """Build the `kind` ("hourly" or "daily") snapshots of each period in order, in-process.

    A period writes only its own partitions and manifest (a day also its own stale hours), so
    periods of one kind may be built in parallel too (fanout.py), with the same result.
    """
    check_manifest_folders(lake, kind)
    build_one = _hourly_one if kind == "hourly" else partial(_daily_one, now=now)
    report = RollupReport()
    with _session() as con:
        for period in periods:
            _isolated(build_one, lake, period, force, report, con)
    return report


def _isolated(step, lake: Lake, period: datetime, force: bool, report: RollupReport,
              con: duckdb.DuckDBPyConnection) -> None:
    """Build one period; an unreadable source file fails this period only (`report.failed`)."""
    try:
        with guard(lake, lambda: _source_files(lake, period, step is _hourly_one)):
            # a source compacted away while read: build the period again from the new listing
            retrying(lake, lambda: step(lake, period, force, report, con))
    except UnreadableFileError as exc:
        report.failed.append((period, str(exc)))
    except UnlistableFolderError as exc:  # recorded by `guard`, for lake_file_unreadable
        report.failed.append((period, str(exc)))


def _source_files(lake: Lake, period: datetime, hourly: bool) -> list[Path]:
    """Files a period may read: an hour's events and its look-back hours'; for a day, its
    hourly snapshots and the events of the hours it may build first."""
    hours = [period] if hourly else [period + k * HOUR for k in range(24)]
    events = [f for h in range(-LOOK_BACK_HOURS, len(hours))
              for f in lake.event_files(period + h * HOUR)]
    if hourly:
        return events
    return events + [f for h in hours for t in HOURLY_TABLES
                     for f in parquet_files(lake.snapshot_partition(t, h))]


def _hourly_one(
    lake: Lake, hour: datetime, force: bool, report: RollupReport, con: duckdb.DuckDBPyConnection
) -> None:
    if not force and hour in dropped_periods(lake, "event_hours"):
        report.refused.append((hour, _refusal(hour, "its event partition")))
        return
    try:
        pipeline, stage, sources = build_hour(lake, hour, not force, con)
    except RefusedError as exc:
        report.refused.append((hour, str(exc)))
        return
    if not force:
        # retention may have dropped an hour this build read since the check above (it records
        # a drop before deleting): the rows would be of what was left, replacing good ones
        gone = dropped_periods(lake, "event_hours").intersection(
            h for h in (hour - k * HOUR for k in range(LOOK_BACK_HOURS + 1)) if _key(h) in sources)
        if gone:
            report.refused.append((hour, _refusal(hour, "its event partition" if hour in gone else
                                                  f"look-back hour {utc_text(max(gone))} it "
                                                  "pairs with")))
            return
    # the session's hour_losers are this hour's when it has files: recorded for later hours
    later = _later_copies(con) if sources[_key(hour)] else None
    copies = ({"later_copies": later, "later_copies_crc": copy_log.copies_crc(later),
               "copies_ranked_by": COPIES_RANKED_BY} if later is not None else {})
    _publish(lake, report, "hourly", hour, (pipeline, stage), {"sources": sources, **copies})


def build_hour(
    lake: Lake, hour: datetime, refuse_dropped_look_back: bool = False,
    con: duckdb.DuckDBPyConnection | None = None,
) -> tuple[pa.Table, pa.Table, dict[str, list]]:
    """The pipeline_hourly and stage_hourly rows of one hour, and the files they came from."""
    if con is None:
        with _session() as own:
            return build_hour(lake, hour, refuse_dropped_look_back, own)
    hour = floor_hour(hour)
    files = lake.event_files(hour)
    sources = {_key(hour): describe(files)}
    if not files:
        pipeline, stage = _quiet_hour(con, hour)
        return pipeline, stage, sources
    pending = _hour_views(con, files, hour, known_copies(lake, hour, sources[_key(hour)]))
    look_back: dict[datetime, list[Path]] = {}
    copies: dict[datetime, dict[str, str]] = {}  # later copies recorded by look-back hours
    if pending:
        # the result now depends on the look-back hours too: record them, even empty ones
        dropped = dropped_periods(lake, "event_hours") if refuse_dropped_look_back else set()
        for k in range(1, LOOK_BACK_HOURS + 1):
            earlier = hour - k * HOUR
            if earlier in dropped:
                raise RefusedError(_refusal(
                    hour, f"look-back hour {utc_text(earlier)} it pairs with"))
            earlier_files = lake.event_files(earlier)
            sources[_key(earlier)] = describe(earlier_files)
            look_back[earlier] = earlier_files
            recorded = known_copies(lake, earlier, sources[_key(earlier)])
            if recorded is not None:
                copies[earlier] = recorded
    _stage_tables(con, look_back, copies)
    params = _period_params(hour, hour + HOUR)
    pipeline = _result_rows(con, "rollups/pipeline_hourly", params)
    stage = _result_rows(con, "rollups/stage_hourly", {**params, "stages": list(PROCESSING_STAGES)})
    return pipeline, stage, sources


def _result_rows(con: duckdb.DuckDBPyConnection, name: str, params: dict) -> pa.Table:
    """The rows of `sql/<name>.sql` as Arrow, the query bound and planned once: a relation's
    `to_arrow_table()` binds and plans it again (~8 ms each for the hourly tables, whatever
    their size); a table keeps the query's row order."""
    con.execute("create or replace temp table result_rows as " + load_sql(name), params)
    return con.table("result_rows").to_arrow_table()


# -- daily ----------------------------------------------------------------------------------
def run_daily(
    lake: Lake, now: datetime, day: datetime | None = None, force: bool = False,
    map_periods: PeriodMap | None = None,
) -> RollupReport:
    """Build daily snapshots: `day` only, else the previous day and every changed day.

    A day is built only once it is over and from all 24 hourly snapshots: missing or changed
    hours are built first; a day with an hour that cannot be built is refused (unless `force`).
    """
    now = arguments.utc_now(now)
    explicit = None if day is None else arguments.period_start(_as_day(day), "day", "2026-02-15")
    return _run(lake, "daily", explicit, lambda: days_to_build(lake, now), force, now, map_periods)


def _daily_one(
    lake: Lake, day: datetime, force: bool, report: RollupReport, con: duckdb.DuckDBPyConnection,
    now: datetime, empty_before: datetime | None = None,
) -> None:
    """Build one day (see `run_daily`). A day ending by `empty_before` (a backfill's: before
    the lake's first day and before the hours snapshot retention keeps) is built without its
    hourly snapshots: it has nothing to build them from, and its rows from none equal those
    from 24 hours of zeros (`build_day`), which retention would delete."""
    if day + DAY > now and not force:
        report.refused.append((day, _not_over(day, now)))
        return
    build, lost = stale_hours(lake, day)
    if lost and not force:
        report.refused.append((day, _refusal(day, f"hourly snapshot hour {utc_text(lost[0])}")))
        return
    if empty_before is not None and day + DAY <= empty_before:
        build = []  # an empty lake's backfill wrote 89 days of hourly zeros (2,136 partitions)
    hourly = RollupReport()
    for hour in build:  # never forced: a forced hour could replace good rows with partial ones
        if hour + HOUR <= now:  # (a forced day that is not over builds only its past hours)
            _hourly_one(lake, hour, False, hourly, con)
    report.hours.extend(hourly.periods)
    for table, n in hourly.rows.items():
        report.count(table, n)
    missing = [h for h, _ in hourly.refused if not has_hourly_snapshot(lake, h)]
    if missing and not force:
        report.refused.append((day, _incomplete(day, missing)))
        return
    sources = day_sources(lake, day)
    pipeline, stage = build_day(lake, day, con)
    if not force:
        # snapshot retention may have dropped an hour of the day while it was read (as above)
        gone = dropped_periods(lake, "snapshot_hours")
        lost = [h for h in (day + k * HOUR for k in range(24))
                if h in gone and not has_hourly_snapshot(lake, h)]
        if lost:
            report.refused.append((day, _refusal(day, f"hourly snapshot hour {utc_text(lost[0])}")))
            return
    _publish(lake, report, "daily", day, (pipeline, stage), {"sources": sources})


def _publish(lake: Lake, report: RollupReport, period: str, start: datetime, tables: tuple[pa.Table, pa.Table],
             manifest: dict) -> None:
    """Write a period's pipeline and stage snapshots, then its manifest; count them."""
    for name, table in zip((f"pipeline_{period}", f"stage_{period}"), tables, strict=True):
        lake.replace_partition(table, lake.snapshot_partition(name, start))
        report.count(name, table.num_rows)
    write_manifest(manifest_path(lake, period, start), manifest)
    report.periods.append(start)


def build_day(
    lake: Lake, day: datetime, con: duckdb.DuckDBPyConnection | None = None
) -> tuple[pa.Table, pa.Table]:
    """The pipeline_daily and stage_daily rows of one day, from its hourly rows only."""
    if con is None:
        with _session() as own:
            return build_day(lake, day, own)
    day = _as_day(day)
    sketch.install(con)  # the sketch-reading macros: an hourly-only run never defines them
    params = _period_params(day, day + DAY)
    out = []
    for hourly, daily in (("pipeline_hourly", "pipeline_daily"), ("stage_hourly", "stage_daily")):
        files = [f for k in range(24)
                 for f in parquet_files(lake.snapshot_partition(hourly, day + k * HOUR))]
        check_snapshot_files(files)  # another table's or hour's file: the day fails, named
        out.append(_daily_rows(con, hourly, daily, files, params))
    return out[0], out[1]


def _daily_rows(con: duckdb.DuckDBPyConnection, hourly: str, daily: str, files: list[Path],
                params: dict) -> pa.Table:
    """The `daily` rows of a day from its `hourly` files (none: the empty day's rows)."""
    if files:
        con.read_parquet([duckdb_path(f) for f in files]).create_view("hourly_rows")
    else:
        _empty_hourly_view(con, hourly)
    extra = {"stages": list(PROCESSING_STAGES)} if daily == "stage_daily" else {}
    return run_sql(con, f"rollups/{daily}", **params, **extra).to_arrow_table()


@functools.cache
def snapshot_schemas() -> dict[str, pa.Schema]:
    """Each snapshot table's Arrow schema as this version writes it: the rollup SQL's rows of a
    quiet hour and of an empty day (its types do not depend on the rows)."""
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    with _session() as con:
        pipeline, stage = _quiet_hour(con, epoch)
        sketch.install(con)
        params = _period_params(epoch, epoch + DAY)
        return {"pipeline_hourly": pipeline.schema, "stage_hourly": stage.schema,
                **{daily: _daily_rows(con, hourly, daily, [], params).schema
                   for hourly, daily in (("pipeline_hourly", "pipeline_daily"),
                                         ("stage_hourly", "stage_daily"))}}


# -- backfill -------------------------------------------------------------------------------
def backfill(
    lake: Lake, start: datetime, end: datetime, now: datetime, force: bool = False,
    progress: bool = True, map_periods: PeriodMap | None = None,
    retention: RetentionConfig | None = None,
) -> RollupReport:
    """Rebuild every complete hour in [start, end), then every complete day, in order.

    With `map_periods` (e.g. on a cluster) the hours are built by it, then, once all of them
    are written, the days, which are built from the hourly rows. A period before the first day
    the lake holds anything (`first_known_day`; every period of an empty lake) that snapshot
    retention (`retention`, default RetentionConfig()) would delete at `now` is skipped, and
    `report.skipped_before` says where the backfill began: the platform's rows of zeros are
    built for every period retention keeps, as the schedules build them on a quiet lake.
    """
    start, end = arguments.utc_time(start, "start"), arguments.utc_time(end, "end")
    now = arguments.utc_now(now)
    if end <= start:
        raise ValueError(f"backfill end {utc_text(end)} must be after start {utc_text(start)}")
    arguments.period_start(floor_hour(start), "start", "2026-02-10T00:00:00Z")
    report = RollupReport()
    # before the lake's first day there is nothing to build from, and periods retention
    # deletes are not kept: `--start 2000-01-01` on a 3-day lake wrote every hour of 26 years
    # (hours of work, 200,000+ partitions of zeros) for snapshot retention to delete
    from voice_monitor.retention import RetentionConfig

    first = first_known_day(lake)
    cut = (retention or RetentionConfig()).cutoffs(now)
    h0 = max(floor_hour(start), _first_kept(first, cut["hourly_snapshots"], floor_hour, HOUR))
    d0 = max(floor_day(start), _first_kept(first, cut["daily_snapshots"], floor_day, DAY))
    if min(h0, d0) > floor_hour(start):
        report.skipped_before = min(h0, d0, end)
    hours, h = [], h0
    while h < end and h + HOUR <= now:
        hours.append(h)
        h += HOUR
    days, d = [], d0
    while d < end and d + DAY <= now:
        days.append(d)
        d += DAY
    check_manifest_folders(lake, "hourly", "daily")
    if map_periods is not None:
        report.add(map_periods("hourly", lake, hours, force, now))
        report.add(map_periods("daily", lake, days, force, now))
        if report.failed:
            raise RollupFailedError(report)
        return report
    # days with nothing to build from whose hours retention would not keep: no hourly rows
    empty_before = min(first or h0, h0)
    daily_one = partial(_daily_one, now=now, empty_before=empty_before)
    steps = [(_hourly_one, h) for h in hours] + [(daily_one, d) for d in days]
    with _session() as con:
        if not progress:
            for step, period in steps:
                _isolated(step, lake, period, force, report, con)
            if report.failed:
                raise RollupFailedError(report)
            return report
        from rich.progress import Progress

        with Progress(transient=False) as bar:
            task = bar.add_task("backfill", total=len(steps))
            for step, period in steps:
                kind = "hour" if step is _hourly_one else "day"
                bar.update(task, description=f"{kind} {utc_text(period)}")
                _isolated(step, lake, period, force, report, con)
                bar.advance(task)
    if report.failed:
        raise RollupFailedError(report)
    return report


def _first_kept(first: datetime | None, cutoff: datetime, floor, unit) -> datetime:
    """The first period a backfill builds: the lake's first day, or the first period retention
    keeps (period_start >= `cutoff`), whichever is earlier."""
    kept = floor(cutoff) if floor(cutoff) == cutoff else floor(cutoff) + unit
    return kept if first is None else min(first, kept)


def first_known_day(lake: Lake) -> datetime | None:
    """The start of the first UTC day the lake holds anything a rollup builds from or keeps
    (an event hour, a pipeline snapshot, an event hour retention dropped); None if nothing."""
    known = [*lake.event_hours(), *lake.snapshot_periods("pipeline_hourly"),
             *lake.snapshot_periods("pipeline_daily"), *dropped_periods(lake, "event_hours")]
    return floor_day(min(known)) if known else None


# -- helpers --------------------------------------------------------------------------------
def _as_day(day) -> datetime:
    """A day (a date, a UTC datetime, or ISO text 'YYYY-MM-DD') as the datetime of its start."""
    if isinstance(day, str):
        arguments.period_text(day, "day", "day")
        try:
            day = date.fromisoformat(day.strip())
        except ValueError:
            raise ValueError(f"day {day!r} is not a day; use YYYY-MM-DD, e.g. 2026-02-15") from None
    if isinstance(day, datetime):
        return floor_day(arguments.utc_time(day, "day"))
    if not isinstance(day, date):
        raise ValueError(f"day {day!r} is not a day; pass a date or 'YYYY-MM-DD', e.g. 2026-02-15")
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


# refusals name the Python argument, force=True; the command line says --force (cli.rollups)
def _refusal(period: datetime, what: str) -> str:
    return (f"refusing to rebuild {utc_text(period)}: {what} was dropped by retention, so a "
            f"rebuild would lose data; the existing snapshot is kept. Use force=True to "
            f"rebuild it from what is in the lake now")


def _not_over(day: datetime, now: datetime) -> str:
    return (f"refusing to build the daily snapshot of {day:%Y-%m-%d}: the day is not over at now "
            f"{utc_text(now)}, so its hourly rows are incomplete; build it at or after "
            f"{utc_text(day + DAY)}, or use force=True to build it from the hours so far")


def _future(hour: datetime, now: datetime) -> str:
    return (f"refusing to build the hourly snapshot of {utc_text(hour)}: the hour has not begun "
            f"at now {utc_text(now)}; build it at or after {utc_text(hour + HOUR)} (or pass a "
            f"later now), or use force=True to build it from what is in the lake now")


def _incomplete(day: datetime, missing: list[datetime]) -> str:
    hours = ", ".join(f"{h:%H:%M}" for h in sorted(missing))
    return (f"refusing to build the daily snapshot of {day:%Y-%m-%d}: {len(missing)} of its 24 "
            f"hourly snapshots are missing ({hours}) and cannot be built because their events "
            f"(or the look-back hours they pair with) were dropped by retention; the existing "
            f"daily snapshot is kept. Use force=True to build the day from the hourly "
            f"rows there are")


__all__ = [
    "RefusedError",
    "RollupReport",
    "backfill",
    "build_day",
    "build_hour",
    "days_to_build",
    "hours_to_build",
    "manifest_path",
    "run_daily",
    "run_hourly",
]
