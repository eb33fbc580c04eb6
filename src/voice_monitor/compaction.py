"""Compaction: rewrite each closed event hour as one file sorted for artifact lookups.

Landing adds many small files to an hour; reading them costs a file open each, and their
rows are in arrival order, so finding one artifact means reading every row. Compaction merges
a closed hour into one file sorted by artifact (then time) with small row groups, so a
timeline lookup reads one row group per hour (min/max statistics), and keeps every row.

Query results do not change (tests/test_compaction.py proves it on twin lakes):
- copies of an event stay in landing order inside the new file (see
  sql/compaction/event_hour.sql), and
- the new file is named after the newest file it replaces plus `~compacted`, so it sorts
  after all of them and before any file that lands later (file names are landing order).
The new file appears atomically before the old ones are deleted; while both exist the old
copies win (they sort first) and are identical; the old files go newest first, so those a crash
leaves are the oldest, and each event's first copy stays first. A crash in between leaves them:
the compacted file lists its sources in its Parquet metadata, so the next run deletes exactly
those (they are already inside it) and merges any other file, whatever its name sorts like.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from voice_monitor import arguments, storage
from voice_monitor.hour_locks import hour_locks
from voice_monitor.integrity import UnreadableFileError, check_event_files, guard
from voice_monitor.lake import Lake, UnlistableFolderError, connect, duckdb_path
from voice_monitor.schema import EVENT_SCHEMA
from voice_monitor.sql import run_sql

MARK = "~compacted"
SOURCES_KEY = b"voice_monitor.compacted_from"
ROW_GROUP_ROWS = 8192
DEFAULT_GRACE = timedelta(hours=1)


@dataclass
class CompactionReport:
    """Hours compacted and files replaced."""

    hours: list[datetime] = field(default_factory=list)
    files_removed: int = 0
    # hours left as they are because a file in them cannot be read: (hour, message naming it)
    unreadable: list[tuple[datetime, str]] = field(default_factory=list)


def _sources(compacted: Path) -> set[str]:
    """Names of the files merged into a compacted file (kept in its Parquet metadata)."""
    metadata = storage.read_schema(compacted).metadata or {}
    return set(json.loads(metadata.get(SOURCES_KEY, b"[]")))


def _latest_compacted(files: list[Path]) -> Path | None:
    marked = [f for f in files if f.stem.endswith(MARK)]
    return max(marked) if marked else None


def compact_hour(lake: Lake, hour: datetime) -> int:
    """Compact one event hour into one file; returns how many files it replaced (0 = none).

    Under the hour's landing lock: a landing counting duplicates against the hour's files never
    has one deleted under it, and no file lands in the hour while it is being merged."""
    with hour_locks(lake, [hour]):
        return _compact_hour(lake, hour)


def _compact_hour(lake: Lake, hour: datetime) -> int:
    files = lake.event_files(hour)
    done = _latest_compacted(files)
    removed = 0
    if done is not None:
        # files the newest compacted file names as its sources are already inside it (a crash
        # between its rename and their deletion left them): delete, never merge twice. Any
        # other file, whatever its name, is merged.
        merged = _sources(done)
        for stale in _newest_first([f for f in files if f.name in merged]):
            stale.unlink(missing_ok=True)
            removed += 1
        files = [f for f in files if f.name not in merged]
    if not files or files == [done]:
        return removed
    check_event_files(files)  # another table's file is never merged in: the hour stays as is
    con = connect()
    try:
        table = run_sql(con, "compaction/event_hour", files=[duckdb_path(f) for f in files])
        table = table.to_arrow_table().select(EVENT_SCHEMA.names).cast(EVENT_SCHEMA)
    finally:
        con.close()
    sources = json.dumps([f.name for f in files]).encode()
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), SOURCES_KEY: sources})
    newest = max(files)
    # sorts right after the newest input (even a compacted one: "." < "~"), before later landings
    # (a fresh name: published by rename, or by one PUT on an object store)
    lake.publish(table, newest.parent / f"{newest.stem}{MARK}.parquet",
                 row_group_size=ROW_GROUP_ROWS)
    for old in _newest_first(files):
        old.unlink(missing_ok=True)
    return removed + len(files)


def _newest_first(files: list[Path]) -> list[Path]:
    """The order to delete merged files in, so that a crash part-way never changes which copy
    of an event is first: the files left are the oldest, each id's first copy is in them or
    else in the compacted file (which sorts after them), as landed. Oldest first, a later copy
    left behind in a newer file sorted before the compacted file holding its first copy, and
    won until the next run deleted it."""
    return sorted(files, key=lambda f: f.name, reverse=True)


def compact_lake(lake: Lake, now: datetime, grace: timedelta = DEFAULT_GRACE) -> CompactionReport:
    """Compact every event hour that closed at least `grace` before `now` and needs it.

    An hour holding an unreadable file is left exactly as it is and listed in `unreadable`.
    """
    cutoff = arguments.utc_now(now) - grace
    report = CompactionReport()
    for hour in lake.event_hours():
        if hour + timedelta(hours=1) > cutoff:
            continue
        try:
            files = lake.event_files(hour)
        except UnlistableFolderError as exc:  # a folder this user may not list: left as it is
            report.unreadable.append((hour, str(exc)))
            continue
        if len(files) == 1 and files[0].stem.endswith(MARK):
            continue
        try:
            with guard(lake, lambda h=hour: lake.event_files(h)):
                report.files_removed += compact_hour(lake, hour)
        except UnreadableFileError as exc:
            report.unreadable.append((hour, str(exc)))  # its files stay where they are
            continue
        report.hours.append(hour)
    return report
