"""How fresh the lake is: newest event, newest snapshots, last rollup (for the API and /metrics).

Everything here is read from file names, Parquet footers and file times: no event is scanned,
so the dashboard and a Prometheus scrape can ask every few seconds. A lake file never changes
once it is there (files are added and removed whole), so each footer is read once per process.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from voice_monitor import storage
from voice_monitor.lake import Lake, UnlistableFolderError, floor_day, floor_hour, parquet_files
from voice_monitor.rollup_plan import manifest_path
from voice_monitor.schema import UNIX_EPOCH

# The hourly rollup runs at :30 for the previous hour, the daily at 01:30 for the previous day;
# a snapshot is stale once the run that should have built a newer one is this late.
GRACE = timedelta(minutes=30)
EVENT_STALE_AFTER = timedelta(hours=1)  # as the inactivity check
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # any period: manifests of a kind share one folder
# landing accepts events stamped up to 5 minutes after its now (a producer's clock ahead): such
# an event is the newest at a live now, age 0; one further ahead means `now` is in the past
AHEAD = timedelta(minutes=5)
_HOUR, _DAY = timedelta(hours=1), timedelta(days=1)


def _newest_event(lake: Lake) -> datetime | None:
    hours = lake.event_hours()
    # a panel, not an answer: an hour folder this user may not list (`event_hours` yields it)
    # is passed over for the newest one it may; the reads that need it fail naming it
    while hours:
        try:
            files = lake.event_files(hours[-1])
            break
        except UnlistableFolderError:
            hours.pop()
    if not hours:
        return None
    stamps = [t for t in map(_newest_in_file, files) if t]
    if not stamps:
        return hours[-1]
    newest = max(stamps)
    return newest.replace(tzinfo=UTC) if newest.tzinfo is None else newest.astimezone(UTC)


def _newest_event_by(lake: Lake, now: datetime) -> datetime | None:
    """The newest event stamped at or before `now` (a read at a past `now`, contract §10): hours
    newest first from the one holding `now`; a file whose footer says it holds later events too
    has its timestamps read."""
    for hour in reversed([h for h in lake.event_hours() if h <= now]):
        stamps = []
        for path in lake.event_files(hour):
            newest = _newest_in_file(path)
            stamps.append(newest if newest is not None and newest <= now
                          else _newest_row_by(path, now))
        stamps = [t for t in stamps if t is not None]
        if stamps:
            return max(stamps)
    return None


def _newest_row_by(path, now: datetime) -> datetime | None:
    """The newest `timestamp` at or before `now` in one lake file (None: none, or unreadable)."""
    try:
        stamps = storage.parquet_file(path).read(columns=["timestamp"]).column("timestamp")
        newest = pc.max(pc.filter(stamps, pc.less_equal(stamps, pa.scalar(now, stamps.type))))
    except (OSError, ValueError, KeyError, pa.ArrowException):
        return None  # as _newest_in_file: an unreadable file is `lake check`'s business
    if not newest.is_valid:
        return None
    return UNIX_EPOCH + timedelta(microseconds=newest.cast(pa.timestamp("us", "UTC")).value)


def _period_by(lake: Lake, table: str, step: timedelta, now: datetime
               ) -> tuple[datetime | None, datetime | None]:
    """(newest period start, when its file was written) of the periods of a snapshot table that
    had ended by `now`: a past `now` (a later period's snapshot was not there yet)."""
    return _newest_period(lake, table, [p for p in lake.snapshot_periods(table) if p + step <= now])


_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
_NEWEST: dict[str, datetime] = {}  # lake file -> the newest timestamp its footer records
_NEWEST_MAX = 8192


def _newest_in_file(path) -> datetime | None:
    """The largest `timestamp` a lake file's footer records (None when unreadable or absent)."""
    key = str(path)
    if key in _NEWEST:
        return _NEWEST[key]
    newest = None
    try:
        meta = storage.parquet_file(path).metadata
        column = meta.schema.names.index("timestamp")
        unit = meta.schema.to_arrow_schema().field("timestamp").type.unit
        for group in range(meta.num_row_groups):
            stats = meta.row_group(group).column(column).statistics
            if stats is not None and stats.has_min_max:  # the raw integer: `.max` imports pandas
                newest = stats.max_raw if newest is None else max(newest, stats.max_raw)
    except (OSError, ValueError, AttributeError):
        return None  # an unreadable file is `lake check`'s business, not the freshness panel's
    if newest is not None:
        # by hand: Arrow's timezone-aware scalars import pandas too (seconds on a first call)
        newest = UNIX_EPOCH + timedelta(microseconds=newest * 1_000_000 // _PER_SECOND[unit])
        if len(_NEWEST) >= _NEWEST_MAX:
            _NEWEST.clear()  # files of hours long gone; the newest hour's are read again once
        _NEWEST[key] = newest
    return newest


def _newest_mtime(folder: Path, suffix: str, by: datetime | None = None) -> datetime | None:
    """When the newest file of `folder` ending in `suffix` was written (with `by`: the newest
    written at or before it)."""
    try:
        times = [e.stat().st_mtime for e in folder.iterdir() if e.name.endswith(suffix)]
    except (OSError, AttributeError):  # no such folder yet (or a store without file times)
        return None
    if by is not None:
        times = [t for t in times if t <= by.timestamp()]
    return datetime.fromtimestamp(max(times), UTC) if times else None


def _rollup_by(lake: Lake, kind: str, seen: datetime | None, now: datetime) -> datetime | None:
    """The last write of a rollup's bookkeeping as of `now`: at a past `now` (the newest write
    came more than AHEAD after it), the newest write at or before `now`, None if none was."""
    if seen is None or seen <= now + AHEAD:
        return seen
    return _newest_mtime(manifest_path(lake, kind, EPOCH).parent, ".json", by=now)


def _built_by(built: datetime | None, now: datetime) -> datetime | None:
    """A snapshot file's write time as of `now`: None when written after a past `now` (a later
    rebuild, a backfill, a demo lake: when the period was first built is not recorded)."""
    return None if built is not None and built > now + AHEAD else built


def _snapshot(lake: Lake, table: str) -> tuple[datetime | None, datetime | None]:
    """(newest period start, when its file was written) of a snapshot table."""
    return _newest_period(lake, table, lake.snapshot_periods(table))


def _newest_period(lake: Lake, table: str, periods: list[datetime]
                   ) -> tuple[datetime | None, datetime | None]:
    """(the last of `periods`, when its file was written) of a snapshot table."""
    if not periods:
        return None, None
    try:
        files = parquet_files(lake.snapshot_partition(table, periods[-1]))
    except UnlistableFolderError:  # a panel: when it was built is unknown (reads name it)
        files = []
    built = datetime.fromtimestamp(max(f.stat().st_mtime for f in files), UTC) if files else None
    return periods[-1], built


def _age(moment: datetime | None, now: datetime) -> float | None:
    return None if moment is None else max(0.0, (now - moment).total_seconds())


def moments(lake: Lake) -> dict:
    """When the newest event, snapshots and rollup runs are (what `freshness` judges at a `now`)."""
    hourly, hourly_built = _snapshot(lake, "pipeline_hourly")
    daily, daily_built = _snapshot(lake, "pipeline_daily")
    return {
        "newest_event_at": _newest_event(lake),
        "newest_hourly_snapshot": hourly,
        "newest_hourly_snapshot_built_at": hourly_built,
        "newest_daily_snapshot": daily,
        "newest_daily_snapshot_built_at": daily_built,
        "last_hourly_rollup_at": _newest_mtime(manifest_path(lake, "hourly", EPOCH).parent, ".json"),
        "last_daily_rollup_at": _newest_mtime(manifest_path(lake, "daily", EPOCH).parent, ".json"),
    }


def freshness(lake: Lake, now: datetime | None = None, seen: dict | None = None) -> dict:
    """Newest event and snapshots, the last rollup write, their ages in seconds and staleness.

    `seen` is a `moments(lake)` read earlier (a cache's); by default the lake is read now.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    seen = moments(lake) if seen is None else seen
    newest_event = seen["newest_event_at"]
    if newest_event is not None and newest_event > now + AHEAD:  # a past now: the lake then
        newest_event = _newest_event_by(lake, now)
    hourly, hourly_built = seen["newest_hourly_snapshot"], seen["newest_hourly_snapshot_built_at"]
    if hourly is not None and hourly + _HOUR > now:
        hourly, hourly_built = _period_by(lake, "pipeline_hourly", _HOUR, now)
    daily, daily_built = seen["newest_daily_snapshot"], seen["newest_daily_snapshot_built_at"]
    if daily is not None and daily + _DAY > now:
        daily, daily_built = _period_by(lake, "pipeline_daily", _DAY, now)
    expected_hour = floor_hour(now - GRACE) - timedelta(hours=1)
    expected_day = floor_day(now - timedelta(hours=1) - GRACE) - timedelta(days=1)
    return {
        "now": now,
        "newest_event_at": newest_event,
        "newest_event_age_s": _age(newest_event, now),
        "events_stale": newest_event is None or now - newest_event > EVENT_STALE_AFTER,
        "newest_hourly_snapshot": hourly,
        "newest_hourly_snapshot_built_at": _built_by(hourly_built, now),
        "hourly_snapshot_age_s": _age(hourly + timedelta(hours=1) if hourly else None, now),
        "hourly_stale": hourly is None or hourly < expected_hour,
        "newest_daily_snapshot": daily,
        "newest_daily_snapshot_built_at": _built_by(daily_built, now),
        "daily_snapshot_age_s": _age(daily + timedelta(days=1) if daily else None, now),
        "daily_stale": daily is None or daily < expected_day,
        "last_hourly_rollup_at": _rollup_by(lake, "hourly", seen["last_hourly_rollup_at"], now),
        "last_daily_rollup_at": _rollup_by(lake, "daily", seen["last_daily_rollup_at"], now),
    }
