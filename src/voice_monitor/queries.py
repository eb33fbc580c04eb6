"""The read API (contract §10): metrics from snapshots, and the event-log queries.

Metrics read the snapshot partitions of the asked range only (hourly tables for ranges up to
7 days, daily beyond); the SQL lives in `sql/queries/` and user input travels as parameters.
The event-log queries live in `event_log` and are re-exported here.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import warnings
from collections.abc import Callable
from datetime import datetime, timedelta

import polars as pl

from voice_monitor import arguments, read_around, storage
from voice_monitor.counters import realtime_metrics
from voice_monitor.event_log import (
    EventFilesUnreadableWarning,
    active_artifacts,
    artifact_timeline,
    failed_artifacts,
    recent_events,
    retry_history,
)
from voice_monitor.integrity import (
    ForeignFileError,
    UnreadableFileError,
    guard,
    move_aside_command,
    reads_lake,
    relative,
)
from voice_monitor.lake import Lake, UnlistableFolderError, floor_day, floor_hour, parquet_files
from voice_monitor.pagination import MAX_LIMIT, Page
from voice_monitor.schema import PROCESSING_STAGES
from voice_monitor.sql import run_sql
from voice_monitor.views import with_sources

HOURLY_LIMIT = timedelta(days=7)
_STEP = {"hour": timedelta(hours=1), "day": timedelta(days=1)}


MAX_PERIODS = 40_000  # rows of one range read: over 100 years of days, 4.5 years of hours


def periods_spanned(start: datetime, end: datetime, period: str | None = None) -> tuple[str, int]:
    """(period, how many periods overlap [start, end)) of an ordered UTC range: `period=None`
    is the range's length's choice. A read refuses more than MAX_PERIODS of them; the CLI
    checks this before reading."""
    if period is None:
        period = "hour" if end - start <= HOURLY_LIMIT else "day"
    if period not in _STEP:
        raise ValueError(f"unknown period {arguments.shown(period)}; use 'hour' or 'day', or "
                         "leave it out to have the range's length choose")
    floor = floor_hour if period == "hour" else floor_day
    return period, (floor(end - timedelta(microseconds=1)) - floor(start)) // _STEP[period] + 1


def _periods(start, end, period: str | None) -> tuple[str, datetime, datetime]:
    """(period, first period start, last period start) of the periods overlapping [start, end)."""
    start, end = arguments.time_range(start, end, required=True)
    period, count = periods_spanned(start, end, period)
    floor = floor_hour if period == "hour" else floor_day
    first, last = floor(start), floor(end - timedelta(microseconds=1))
    if count > MAX_PERIODS:  # every period is a row (no gaps): 8,000 years of days never end
        raise ValueError(
            f"the range {start:%Y-%m-%dT%H:%MZ} to {end:%Y-%m-%dT%H:%MZ} spans {count:,} "
            f"{period}s, more than the {MAX_PERIODS:,} one read returns; narrow it"
            + (" or read daily periods" if period == "hour" else ""))
    return period, first, last


def period_bounds(start, end, period: str | None = None, now=None) -> tuple:
    """(period, first, last) of the snapshot periods a read of [start, end) covers, and with
    `now` the start of the last period ended by then: two reads with the same bounds read the
    same snapshot rows (the server's caches key on this)."""
    period, first, last = _periods(start, end, period)
    if now is None:
        return period, first, last
    return period, first, last, _last_ended(period, now)


def _last_ended(period: str, now) -> datetime:
    """The start of the last `period` that had ended by `now` (a period [s, s + step) has
    ended at s + step <= now)."""
    floor = floor_hour if period == "hour" else floor_day
    return floor(arguments.utc_time(now, "now") - _STEP[period])


def _snapshot_files(lake: Lake, kind: str, period: str, first: datetime, last: datetime,
                    missing: list[datetime] | None = None,
                    now: datetime | str | None = None) -> dict[str, list[str] | None]:
    """Raw snapshot views of `kind` (pipeline|stage): the asked period's files, the other empty.
    The periods with no file (no snapshot) are added to `missing`, if given. With `now`, a
    period that had not ended by then has no snapshot yet at that moment: its file (built
    later, from events stamped after `now`) is not read, and the period is missing."""
    table = f"{kind}_{'hourly' if period == 'hour' else 'daily'}"
    base = str(lake.snapshots_dir / table)
    files: list[str] = []
    missing = [] if missing is None else missing
    listed_last = last if now is None else min(last, _last_ended(period, now))
    moment = first
    while moment <= listed_last and lake.remote:  # one LIST per partition on an object store
        found = [str(f) for f in parquet_files(lake.snapshot_partition(table, moment))]
        if not found:
            missing.append(moment)
        files.extend(found)
        moment += _STEP[period]
    while moment <= listed_last:
        # plain strings and os.listdir: this runs for every period of the range
        folder = (f"{base}/date={moment:%Y-%m-%d}/hour={moment:%H}" if period == "hour"
                  else f"{base}/date={moment:%Y-%m-%d}")
        try:
            names = sorted(n for n in os.listdir(folder) if n.endswith(".parquet"))
        except FileNotFoundError:
            names = []
        except PermissionError as exc:  # never read as a period without rows
            raise UnlistableFolderError(folder, exc.strerror) from exc
        if not names:
            missing.append(moment)
        files.extend(f"{folder}/{n}" for n in names)
        moment += _STEP[period]
    while moment <= last:  # not ended by `now`
        missing.append(moment)
        moment += _STEP[period]
    other = f"{kind}_{'daily' if period == 'hour' else 'hourly'}"
    return {f"raw_{table}": files, f"raw_{other}": None}


class SnapshotFilesUnreadableWarning(UserWarning):
    """Warned by the metric reads when snapshot files of their range cannot be read (corrupt,
    truncated, another table's): the periods they hold are read as having no snapshot (a zero
    row with `computed_at` null; left out of totals, among their missing periods), every other
    period as it is (contract §4). `files` holds (lake-relative name, problem) of each,
    `periods` the starts of the periods they hold (UTC). The files are recorded for the
    `lake_file_unreadable` alert."""

    def __init__(self, message: str, files: list[tuple[str, str]],
                 periods: list[datetime]) -> None:
        super().__init__(message)
        self.files, self.periods = files, periods


_PARTITION = re.compile(r"/date=(\d{4}-\d{2}-\d{2})(?:/hour=(\d{2}))?/[^/]+$")
READ_AROUND_ROUNDS = 8  # a read meets each unreadable file once: more are named at once


def _period_of(path) -> datetime | None:
    """The start of the snapshot period whose partition holds the file at `path`."""
    found = _PARTITION.search(str(path).replace("\\", "/"))
    if found is None:
        return None
    day, hour = found.groups()
    return datetime.fromisoformat(f"{day}T{hour or '00'}:00:00+00:00")


def _read_around(lake: Lake, query: str, period: str, missing: list[datetime],
                 **sources):
    """`with_sources(**sources)` without the snapshot files that cannot be read, and without
    the other files of their periods (a period is read whole or not at all); those periods are
    added to `missing` and warned (`SnapshotFilesUnreadableWarning`). One damaged hour failed
    a whole range's read (`metrics historical`, the API, the dashboard's charts)."""
    skipped: list[tuple] = []
    for _ in range(READ_AROUND_ROUNDS):
        try:
            with guard(lake):  # names the file and records it for lake_file_unreadable
                con = with_sources(**sources)
            break
        except UnreadableFileError as exc:
            listed = {relative(lake, f) for files in sources.values() for f in files or ()}
            if not exc.files or any(relative(lake, f) not in listed or _period_of(f) is None
                                    for f, _ in exc.files):
                raise  # not (only) snapshot files of this read's periods
            bad = {_period_of(f) for f, _ in exc.files}
            skipped.extend(exc.files)
            sources = {raw: files if files is None else
                       [f for f in files if _period_of(f) not in bad]
                       for raw, files in sources.items()}
    else:
        raise UnreadableFileError(lake, skipped)
    if skipped:
        periods = sorted({_period_of(f) for f, _ in skipped})
        missing[:] = sorted({*missing, *periods})
        warning = SnapshotFilesUnreadableWarning(
            unreadable_message(lake, query, period, skipped, periods),
            [(relative(lake, f), why) for f, why in skipped], periods)
        read_around.warn(warning)
    return con


unreadable_noted = read_around.unreadable_noted  # (the server's name for it)


def unreadable_message(lake: Lake, query: str, period: str, files: list[tuple],
                       periods: list[datetime]) -> str:
    """What `SnapshotFilesUnreadableWarning` says: the periods read as having no snapshot,
    the files and the fix."""
    utc = arguments.utc_text
    shown = ", ".join(utc(p) for p in periods[:3]) + (", ..." if len(periods) > 3 else "")
    names = ", ".join(relative(lake, f) for f, _ in files[:3]) + (
        f" and {len(files) - 3} more" if len(files) > 3 else "")
    root = shlex.quote(storage.shared_url(lake.root))
    return (f"{query}: {len(periods)} {period}(s) ({shown}) read as having no snapshot: "
            f"unreadable lake file {names} ({files[0][1]}); move it aside with: "
            f"{move_aside_command(lake)}, then build the {period}(s) again with: voice-monitor "
            f"backfill --start {utc(periods[0])} --end {utc(periods[-1] + _STEP[period])} "
            f"--lake {root}")


class PeriodsNotBuiltWarning(UserWarning):
    """Warned by `stage_breakdown` and `org_breakdown` when periods of their range have no
    snapshot (not built yet, or dropped by retention): their totals leave those periods out.
    `periods` holds the starts of those periods (UTC)."""

    def __init__(self, message: str, periods: list[datetime]) -> None:
        super().__init__(message)
        self.periods = periods


def what_builds(period: str) -> str:
    """What builds an `hour`'s or a `day`'s snapshot and when: the end of every warning and
    note (Python's, the command line's) about periods with no snapshot."""
    when, command = (("at :30 after it ends", "rollup hourly") if period == "hour"
                     else ("at 01:30 after it ends", "rollup daily"))
    article = "an" if period == "hour" else "a"
    return (f"{article} {period}'s snapshot is built {when} ('voice-monitor {command}' builds "
            "the ended ones of the last 7 days now, 'voice-monitor backfill --start T --end T' "
            "any range)")


def not_built_message(query: str, period: str, first: datetime, last: datetime,
                      missing: list[datetime]) -> str:
    """What the warning (and `--json`'s line on stderr) says: which periods the totals of
    `query` leave out, and what builds them."""
    count, utc = (last - first) // _STEP[period] + 1, arguments.utc_text
    shown = ", ".join(utc(m) for m in missing[:3]) + (", ..." if len(missing) > 3 else "")
    return (f"{query}: {len(missing)} of the {count} {period}(s) from {utc(first)} to "
            f"{utc(last + _STEP[period])} have no snapshot ({shown}), left out of these "
            f"totals: {what_builds(period)}")


# the names of the reads `_totals` made (they sum snapshot rows): each warns
# PeriodsNotBuiltWarning, and has `.with_gaps`, the read without the warning
TOTALS: set[str] = set()


def _totals(query: str, read: Callable) -> Callable[..., pl.DataFrame]:
    """The public `query`: `read` (returning the frame and its range's periods with no
    snapshot) behind `reads_lake`, warning `PeriodsNotBuiltWarning` when there are any, so a
    notebook's totals never silently miss hours (the CLI prints its own note)."""
    listed = reads_lake(read)

    @functools.wraps(listed)
    def totals(*args, **kwargs) -> pl.DataFrame:
        frame, (period, first, last, missing) = listed(*args, **kwargs)
        if missing:
            warnings.warn(PeriodsNotBuiltWarning(
                not_built_message(query, period, first, last, missing), missing), stacklevel=2)
        return frame

    # the read without the warning: (frame, (period, first, last, periods with no snapshot)),
    # for a caller that says the periods itself (the server's answers, its charts)
    totals.with_gaps = listed
    TOTALS.add(query)
    return totals


# query -> (snapshot kind, whether every period of the range gets a row)
_SCOPED = {"historical_metrics": ("pipeline", True), "stage_breakdown": ("stage", False),
           "stage_history": ("stage", True)}


def _scoped(query: str, doc: str) -> Callable[..., pl.DataFrame]:
    """The public read `query(lake, start, end, organization_id=None, period=None, now=None)`:
    it runs `sql/queries/<query>.sql` over one scope's snapshot rows of the range. A gap-free
    read shows a period with no snapshot as its row's null computed_at; the totals warn of
    them. With `now`, the lake as it was then: a period not ended by `now` has no snapshot."""
    kind, gapless = _SCOPED[query]

    def read(lake: Lake, start: datetime | str, end: datetime | str,
             organization_id: str | None = None, period: str | None = None,
             now: datetime | str | None = None):
        organization_id = arguments.identifier(organization_id, "organization_id")
        period, first, last = _periods(start, end, period)
        missing: list[datetime] = []
        con = _read_around(lake, query, period, missing,
                           **_snapshot_files(lake, kind, period, first, last, missing, now))
        params = {"step": _STEP[period]} if gapless else {}
        if kind == "stage":
            params["stages"] = list(PROCESSING_STAGES)
        frame = run_sql(con, f"queries/{query}", period=period, first=first, last=last,
                        organization_id=organization_id, **params).pl()
        return frame if gapless else (frame, (period, first, last, missing))

    read.__name__ = read.__qualname__ = query
    read.__doc__ = doc
    return reads_lake(read) if gapless else _totals(query, read)


historical_metrics = _scoped(
    "historical_metrics",
    "Pipeline snapshot rows for [start, end): hourly up to 7 days, daily beyond, no gaps.")
stage_breakdown = _scoped(
    "stage_breakdown",
    "Per processing stage, totals over [start, end): counts, failure rate, latency; warns "
    "PeriodsNotBuiltWarning when periods of the range have no snapshot.")
stage_history = _scoped(
    "stage_history",
    "Stage snapshot rows per period and processing stage of [start, end), no gaps.")


def _org_breakdown(
    lake: Lake, start: datetime | str, end: datetime | str, period: str | None = None,
    now: datetime | str | None = None,
):
    """Per organization, totals and rates over [start, end) with names, most received first;
    warns PeriodsNotBuiltWarning when periods of the range have no snapshot (with `now`, also
    those not ended by then)."""
    period, first, last = _periods(start, end, period)
    names = _organization_names(lake)
    missing: list[datetime] = []
    con = _read_around(lake, "org_breakdown", period, missing,
                       **_snapshot_files(lake, "pipeline", period, first, last, missing, now),
                       raw_organizations=names)
    frame = run_sql(con, "queries/org_breakdown", period=period, first=first, last=last).pl()
    return frame, (period, first, last, missing)


class OrganizationNamesUnreadableWarning(UserWarning):
    """Warned by `org_breakdown` when dimensions/organizations.parquet cannot be read or is
    not an organizations file: the totals are read all the same, every name 'Unknown'."""


def _organization_names(lake: Lake) -> list | None:
    """The organizations file for `org_breakdown`'s names, or None when there is none or it
    cannot be read (warned): names are the user's decoration of the totals, and contract §10
    shows a missing one as 'Unknown', so a damaged file must not hide every organization's
    metrics (it failed `metrics orgs` and the API's metrics/orgs outright)."""
    problem = organization_names_problem(lake)
    if problem is not None:
        warnings.warn(OrganizationNamesUnreadableWarning(
            f"organization names shown as 'Unknown': {problem}; or load the names again with: "
            "voice-monitor orgs load FILE.csv"), stacklevel=3)
        return None
    return [lake.organizations_file] if lake.organizations_file.is_file() else None


def organization_names_problem(lake: Lake) -> str | None:
    """Why dimensions/organizations.parquet gives `org_breakdown` no names (the unreadable-file
    error, naming it and the move-aside command), or None when it is readable or absent."""
    path = lake.organizations_file
    if not path.is_file():
        return None
    try:
        with guard(lake):  # names the file, and records it for the lake_file_unreadable alert
            with_sources(raw_organizations=[path])
    except (UnreadableFileError, ForeignFileError) as exc:
        return str(exc)
    return None


_org_breakdown.__name__ = _org_breakdown.__qualname__ = "org_breakdown"
org_breakdown = _totals("org_breakdown", _org_breakdown)


@reads_lake
def periods_without_snapshot(lake: Lake, start: datetime | str, end: datetime | str,
                             period: str | None = None,
                             now: datetime | str | None = None) -> list[datetime]:
    """Starts of the periods of [start, end) with no pipeline snapshot (not built yet, or
    dropped by retention): what `org_breakdown` leaves out of its totals (`stage_breakdown`
    sums the stage snapshots, which hourly rollups build beside them: its warning names its
    own); with `now`, also those not ended by then."""
    period, first, last = _periods(start, end, period)
    missing: list[datetime] = []
    _snapshot_files(lake, "pipeline", period, first, last, missing, now)
    return missing


__all__ = [
    "EventFilesUnreadableWarning",
    "MAX_LIMIT",
    "Page",
    "OrganizationNamesUnreadableWarning",
    "PeriodsNotBuiltWarning",
    "SnapshotFilesUnreadableWarning",
    "active_artifacts",
    "artifact_timeline",
    "failed_artifacts",
    "historical_metrics",
    "org_breakdown",
    "periods_without_snapshot",
    "realtime_metrics",
    "recent_events",
    "retry_history",
    "stage_breakdown",
    "stage_history",
]
