"""Reading the event log: recent events, artifact timelines, failed and active artifacts.

Every query de-duplicates by (event_id, hour), first landed wins (the `events` view). Pages
are keyset-paginated (see `pagination`). Recent-event pages read hour partitions newest first,
a few at a time, and stop as soon as the page is full, so a page does not scan the whole log;
the last few pages are kept while the files they were read from are the same.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from voice_monitor import arguments, read_around
from voice_monitor.integrity import (
    UnreadableFileError,
    guard,
    move_aside_command,
    reads_lake,
    relative,
)
from voice_monitor.lake import Lake
from voice_monitor.pagination import (
    CursorError,
    Page,
    cap_limit,
    cursor_moment,
    decode_cursor,
    encode_cursor,
    shown_cursor,
    to_micros,
)
from voice_monitor.sql import run_sql
from voice_monitor.views import with_sources

RETRY_TYPES = ["retry_failed", "retry_initiated", "retry_succeeded"]


def _files(lake: Lake, hours: list[datetime]) -> list[Path]:
    return [f for hour in hours for f in lake.event_files(hour)]


def _hours_until(lake: Lake, now: datetime | None) -> list[datetime]:
    """The hours that can hold events stamped at or before `now` (all if None)."""
    return [h for h in lake.event_hours() if now is None or h <= now]


class EventFilesUnreadableWarning(UserWarning):
    """Warned by `recent_events`, `artifact_timeline`, `retry_history`, `failed_artifacts` and
    `active_artifacts` when event files they read cannot be read (corrupt, truncated, another
    table's): the hours holding them are left out of the answer, every other hour is read as it
    is (contract §4). A page of `recent_events` warns only for an hour it reached.
    The answer may then miss those hours' events (a timeline's, an artifact's completion that
    would take it off a list). `files` holds (lake-relative name, problem) of each, `hours` the
    starts of the hours left out (UTC). The files are recorded for the `lake_file_unreadable`
    alert."""

    def __init__(self, message: str, files: list[tuple[str, str]],
                 hours: list[datetime]) -> None:
        super().__init__(message)
        self.files, self.hours = files, hours


READ_AROUND_ROUNDS = 8  # a read meets each unreadable file once: more are named at once


def _read_around(lake: Lake, query: str, hours: list[datetime], read):
    """`read(con)` over the event files of `hours`, leaving out each hour that holds a file
    that cannot be read (a period is read whole or not at all: its first-landed copy may be
    in that file), warned as `EventFilesUnreadableWarning` naming the files and the fix. One
    damaged file anywhere in retention failed every timeline, failed and active list, also of
    artifacts with no event in its hour."""
    files = {hour: lake.event_files(hour) for hour in hours}
    skipped: list[tuple] = []
    for _ in range(READ_AROUND_ROUNDS):
        try:
            with guard(lake):  # names the file and records it for lake_file_unreadable
                answer = read(with_sources(raw_events=[f for h in files for f in files[h]]))
            break
        except UnreadableFileError as exc:
            hour_of = {relative(lake, f): h for h in files for f in files[h]}
            bad = {hour_of.get(relative(lake, f)) for f, _ in exc.files}
            if not exc.files or None in bad:
                raise  # not (only) event files of this read's hours
            skipped.extend(exc.files)
            files = {h: found for h, found in files.items() if h not in bad}
    else:
        raise UnreadableFileError(lake, skipped)
    if skipped:
        left_out = sorted(set(hours) - set(files))
        read_around.warn(EventFilesUnreadableWarning(
            _unreadable_message(lake, query, skipped, left_out),
            [(relative(lake, f), why) for f, why in skipped], left_out))
    return answer


def _unreadable_message(lake: Lake, query: str, files: list[tuple],
                        hours: list[datetime]) -> str:
    """What `EventFilesUnreadableWarning` says: the hours left out, the files and the fix."""
    utc = arguments.utc_text
    shown = ", ".join(utc(h) for h in hours[:3]) + (", ..." if len(hours) > 3 else "")
    names = ", ".join(relative(lake, f) for f, _ in files[:3]) + (
        f" and {len(files) - 3} more" if len(files) > 3 else "")
    return (f"{query}: the events of {len(hours)} hour(s) ({shown}) are left out of this "
            f"answer: unreadable lake file {names} ({files[0][1]}); move it aside with: "
            f"{move_aside_command(lake)}")


@reads_lake
def recent_events(
    lake: Lake,
    event_types: str | list[str] | None = None,
    stage: str | None = None,
    organization_id: str | None = None,
    artifact_id: str | None = None,
    start: datetime | str | None = None,
    end: datetime | str | None = None,
    errors_only: bool = False,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """Events newest first, all filters together; `limit` is capped at 500."""
    limit = cap_limit(limit)
    start, end = arguments.time_range(start, end)
    filters = {
        "event_types": arguments.event_types(event_types),
        "stage": arguments.stage(stage),
        "organization_id": arguments.identifier(organization_id, "organization_id"),
        "artifact_id": arguments.identifier(artifact_id, "artifact_id"),
        "start": start and start.isoformat(),
        "end": end and end.isoformat(),
        "errors_only": arguments.flag(errors_only, "errors_only"),
    }
    after_ts = after_id = None
    if cursor is not None:
        after_ts, after_id = decode_cursor(cursor, "recent_events", filters)
    hours = [h for h in reversed(lake.event_hours())
             if (end is None or h < end)
             and (start is None or h + timedelta(hours=1) > start)
             and (after_ts is None or h <= after_ts)]
    params = {**filters, "start": start, "end": end, "after_ts": after_ts, "after_id": after_id}
    key = (str(lake.root), repr(filters), limit, cursor)
    kept = _pages.get(key)
    if kept is not None and kept.holds(lake, hours):
        if kept.warning is not None:  # the page's hours left out are said at each answer
            read_around.warn(kept.warning)
        return kept.page
    frames: list[pl.DataFrame] = []
    found, batch, read, files, single = 0, 1, [], [], False
    skipped: list[tuple] = []
    left_out: list[datetime] = []
    # Hours are disjoint, so rows of a newer batch all sort before rows of an older one:
    # read 1, 2, 4, ... hours newest first until the page (plus one row to know if more exist).
    while hours and found <= limit:
        chunk = hours[:batch]
        chunk_files = _files(lake, chunk)
        try:
            with guard(lake):
                frame = _newest(with_sources(raw_events=chunk_files), params, limit + 1 - found)
        except UnreadableFileError as exc:
            if len(chunk) > 1:
                # an unreadable file in the batch: an hour at a time from here, so that only
                # an hour the page reaches is left out (and said)
                batch, single = 1, True
                continue
            mine = {relative(lake, f) for f in chunk_files}
            if not exc.files or any(relative(lake, f) not in mine for f, _ in exc.files):
                raise  # not (only) an event file of this hour
            # the hour is left out whole (its first-landed copy of an event may be in the
            # damaged file) and the page goes on with the older hours. Exact across pages: the
            # cursor is the last row shown, in an hour newer or older than this one, and the
            # next page's rows are those after it in (timestamp, event_id) order, as without
            # the hour; no row of another hour is dropped or shown twice
            skipped.extend(exc.files)
            left_out.append(chunk[0])
            frame = None
        hours = hours[len(chunk):]
        read += chunk
        files += chunk_files
        if frame is not None:
            frames.append(frame)
            found += frame.height
        batch *= 1 if single else 2
    rows = pl.concat(frames) if frames else _empty_page(lake)
    next_cursor = None
    if rows.height > limit:
        rows = rows.head(limit)
        last = rows.row(limit - 1, named=True)
        next_cursor = encode_cursor("recent_events", filters,
                                    [to_micros(last["timestamp"]), last["event_id"]])
    page = Page(rows, next_cursor)
    warning = None
    if skipped:
        warning = EventFilesUnreadableWarning(
            _unreadable_message(lake, "recent_events", skipped, sorted(left_out)),
            [(relative(lake, f), why) for f, why in skipped], sorted(left_out))
        read_around.warn(warning)
    # the hours left out are kept among those read, their files too: moved aside, the page
    # is read again
    _pages.put(key, _Kept(tuple(read), tuple(map(str, files)), not hours, page, warning))
    return page


@dataclass(frozen=True)
class _Kept:
    """A page of `recent_events` and what it was read from: the newest hours it read, their
    files, and whether those were all the hours there were."""

    hours: tuple[datetime, ...]
    files: tuple[str, ...]
    every_hour: bool
    page: Page
    warning: EventFilesUnreadableWarning | None = None

    def holds(self, lake: Lake, hours: list[datetime]) -> bool:
        """Whether the page is still the answer: the same newest hours (no newer one since; no
        other at all if it read every hour) with the same files. A lake file never changes once
        there and older hours' rows sort after the page's, so nothing else can change it."""
        same_hours = (list(self.hours) == hours if self.every_hour
                      else tuple(hours[:len(self.hours)]) == self.hours)
        return same_hours and tuple(map(str, _files(lake, list(self.hours)))) == self.files


class _Pages:
    """The last few pages asked for, per lake and question (a dashboard's first page is asked
    by every open page every 15 s; on a lake that is not landing, each time the same)."""

    SIZE = 32

    def __init__(self):
        self._kept: OrderedDict[tuple, _Kept] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> _Kept | None:
        with self._lock:
            return self._kept.get(key)

    def put(self, key: tuple, kept: _Kept) -> None:
        with self._lock:
            self._kept[key] = kept
            self._kept.move_to_end(key)
            while len(self._kept) > self.SIZE:
                self._kept.popitem(last=False)


_pages = _Pages()


def _newest(con, params: dict, wanted: int) -> pl.DataFrame:
    """Up to `wanted` de-duplicated rows of the current sources, newest first."""
    scan = wanted + 16
    while True:
        frame = run_sql(con, "queries/recent_events", **params, scan_limit=scan).pl()
        first = frame.filter(pl.col("first_copy")).drop("first_copy")
        # fewer than `scan` rows: the sources are exhausted; else enough winners, or look further
        if frame.height < scan or first.height >= wanted:
            return first.head(wanted)
        scan *= 4


def _empty_page(lake: Lake) -> pl.DataFrame:
    con = with_sources(raw_events=None)
    return _newest(con, {"event_types": None, "stage": None, "organization_id": None,
                         "artifact_id": None, "start": None, "end": None, "errors_only": False,
                         "after_ts": None, "after_id": None}, 1)


@reads_lake
def _artifact_events(lake: Lake, artifact_id: str, event_types: list[str] | None,
                     now: datetime | str | None) -> pl.DataFrame:
    artifact_id = arguments.identifier(artifact_id, "artifact_id")
    if artifact_id is None:
        raise ValueError("artifact_id is required; pass the id of one artifact")
    now = arguments.utc_time(now, "now")
    query = "retry_history" if event_types else "artifact_timeline"
    hours = _read_around(lake, query, _hours_until(lake, now), lambda con: run_sql(
        con, "queries/artifact_hours", artifact_id=artifact_id).fetchall())
    wanted = sorted(datetime(d.year, d.month, d.day, h, tzinfo=UTC) for d, h in hours)
    return _read_around(lake, query, wanted, lambda con: run_sql(
        con, "queries/artifact_events", artifact_id=artifact_id, event_types=event_types,
        now=now).pl())


def artifact_timeline(lake: Lake, artifact_id: str, now: datetime | str | None = None) -> pl.DataFrame:
    """Every event of one artifact, oldest first; with `now`, only those stamped at or before
    it (the artifact as it was then)."""
    return _artifact_events(lake, artifact_id, None, now)


def retry_history(lake: Lake, artifact_id: str, now: datetime | str | None = None) -> pl.DataFrame:
    """The retry_initiated / retry_succeeded / retry_failed events of one artifact, oldest first;
    with `now`, only those stamped at or before it."""
    frame = _artifact_events(lake, artifact_id, RETRY_TYPES, now)
    return frame.select("timestamp", "event_id", "event_type", "pipeline_stage", "retry_attempt",
                        "error_code", "error_message")


@reads_lake
def failed_artifacts(
    lake: Lake, since: datetime | str | None = None, limit: int = 50, cursor: str | None = None,
    now: datetime | str | None = None,
) -> Page:
    """Artifacts whose latest terminal event is artifact_failed, newest failure first.

    With `now`, only events stamped at or before it count (the lake as it was then).
    """
    limit = cap_limit(limit)
    since = arguments.utc_time(since, "since")
    now = arguments.utc_time(now, "now")
    if since is not None and now is not None and since > now:  # an empty page said nothing
        raise ValueError(f"since {arguments.utc_text(since)} is after now "
                         f"{arguments.utc_text(now)}, and only events stamped at or before now "
                         "are read; give a since before now")
    filters = {"since": since and since.isoformat()}
    if now is not None:  # another now is another answer: its pages do not continue this one's
        filters["now"] = now.isoformat()
    after_ts = after_id = None
    if cursor is not None:
        after_ts, after_id = decode_cursor(cursor, "failed_artifacts", filters)
    rows = _read_around(lake, "failed_artifacts", _hours_until(lake, now), lambda con: run_sql(
        con, "queries/failed_artifacts", since=since, now=now, after_ts=after_ts,
        after_id=after_id, limit=limit + 1).pl())
    return _page(rows, limit, "failed_artifacts", filters, "failed_at")


@reads_lake
def active_artifacts(
    lake: Lake, limit: int = 50, cursor: str | None = None, now: datetime | str | None = None
) -> Page:
    """Artifacts received with no terminal event: current stage and time in it, longest first.

    Only events stamped at or before `now` count, so a past `now` shows the lake as it was then.
    Without `now`, the clock's; a cursor continues at its first page's now (which artifacts
    are open, and for how long, depends on it), so the pages of one walk never mix two moments.
    """
    limit = cap_limit(limit)
    now = arguments.utc_time(now, "now")
    after_ts = after_id = None
    if cursor is not None:
        issued = cursor_moment(cursor)
        if now is not None and issued is not None and now != issued:
            raise CursorError(
                f"bad cursor {shown_cursor(cursor)}: it was issued for now "
                f"{arguments.utc_text(issued)}, not {arguments.utc_text(now)}; give that now "
                "again, or no now to continue at it")
        now = now or issued
    now = now or datetime.now(UTC)
    filters = {"now": now.isoformat()}
    if cursor is not None:
        after_ts, after_id = decode_cursor(cursor, "active_artifacts", filters)
    rows = _read_around(lake, "active_artifacts", _hours_until(lake, now), lambda con: run_sql(
        con, "queries/active_artifacts", now=now, after_ts=after_ts, after_id=after_id,
        limit=limit + 1).pl())
    return _page(rows, limit, "active_artifacts", filters, "stage_entered_at", at=now)


def _page(rows: pl.DataFrame, limit: int, query: str, filters: dict, time_column: str,
          at: datetime | None = None) -> Page:
    if rows.height <= limit:
        return Page(rows, None)
    rows = rows.head(limit)
    last = rows.row(limit - 1, named=True)
    key = [to_micros(last[time_column]), last["artifact_id"]]
    return Page(rows, encode_cursor(query, filters, key, at))


__all__ = [
    "EventFilesUnreadableWarning",
    "Page",
    "active_artifacts",
    "artifact_timeline",
    "failed_artifacts",
    "recent_events",
    "retry_history",
]
