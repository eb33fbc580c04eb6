"""Retention: drop expired partitions of the lake (contract §7).

Everything is decided from folder names alone (a partition's period is in its path), so a run
costs one directory listing, never a row scan, and catches up on everything expired however long
it has not run. A partition is dropped only when its whole period is past the cut-off:

    event hour partitions       hour end     <= now - events          (48 h)
    hourly snapshot partitions  period_start <  now - hourly_snapshots (7 d)
    daily snapshot partitions   period_start <  now - daily_snapshots  (90 d)
    quarantine date partitions  day end      <= now - quarantine       (30 d)
    alerts                      older than      now - alerts           (90 d; the alert store prunes)
    counter state               older than      now - counter_state    (2 h)

Dropped event hours and hourly snapshot hours are written to the lake's tombstones first, so a
rollup can refuse to rebuild a period whose source is gone (contract §6).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from voice_monitor import arguments, copy_log, disk_space, read_only, storage
from voice_monitor import lake as lake_layout
from voice_monitor.integrity import (
    UnreadableFileError,
    event_file_problem,
    known_unreadable,
    move_aside_command,
    relative,
)
from voice_monitor.lake import DAILY_TABLES, HOURLY_TABLES, Lake
from voice_monitor.rollup_plan import check_manifest_folders, manifest_folder, manifest_path
from voice_monitor.temp_files import LIVE_WRITE_LIMIT, writer_name

# The hourly rollup builds the hour before `now` and pairs each success with a start event up to
# 24 h earlier, so it reads event hours starting up to 25 h before the top of the current hour.
PAIRING_LOOK_BACK = timedelta(hours=24)
MIN_EVENT_RETENTION = PAIRING_LOOK_BACK + timedelta(hours=1)
# The daily rollup at 01:30 builds yesterday from its hourly rows: up to 2 days back.
MIN_HOURLY_SNAPSHOT_RETENTION = timedelta(days=2)
# Real-time counters read the current minute and the 59 before it.
MIN_COUNTER_STATE = timedelta(hours=1)
# Longer keeps nothing more (no event is older than 2000) and takes a cut-off off the calendar.
MAX_RETENTION = timedelta(days=36_500)

ONLY_CHOICES = ("events", "snapshots")


@dataclass(frozen=True)
class RetentionConfig:
    """How long each part of the lake is kept; every number is configurable."""

    events: timedelta = timedelta(hours=48)
    hourly_snapshots: timedelta = timedelta(days=7)
    daily_snapshots: timedelta = timedelta(days=90)
    quarantine: timedelta = timedelta(days=30)
    alerts: timedelta = timedelta(days=90)
    counter_state: timedelta = timedelta(hours=2)
    tmp_files: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if not isinstance(value, timedelta):
                raise ValueError(f"retention {name}={value!r} is not a timedelta; use e.g. "
                                 f"timedelta(hours=48)")
            if value <= timedelta(0) and name not in ("events", "counter_state",
                                                     "hourly_snapshots"):  # their minimum says
                default = self.__dataclass_fields__[name].default
                shown = f"{default.days} d" if default % timedelta(days=1) == timedelta(0) \
                    else _hours(default)
                raise ValueError(f"retention {name} {_hours(value)} keeps nothing; keep it "
                                 f"longer than 0 h (the default is {shown})")
            if value > MAX_RETENTION:
                raise ValueError(f"retention {name} of {value.days:,} days is longer than "
                                 "36,500 days (100 years), the most it takes; 36,500 days "
                                 "already keeps everything a lake holds")
        if self.events < MIN_EVENT_RETENTION:
            raise ValueError(
                f"event retention {_hours(self.events)} is shorter than the rollups need: the "
                f"hourly rollup builds the previous hour and pairs latencies up to "
                f"{_hours(PAIRING_LOOK_BACK)} back, so keep events at least "
                f"{_hours(MIN_EVENT_RETENTION)}"
            )
        if self.counter_state < MIN_COUNTER_STATE:
            raise ValueError(
                f"counter state retention {_hours(self.counter_state)} is shorter than the "
                f"real-time window; keep it at least {_hours(MIN_COUNTER_STATE)}"
            )
        if self.tmp_files < LIVE_WRITE_LIMIT:
            # a live writer's own files older than this go too (temp_files.clean): one still
            # being written, or written and waiting for its rename, would vanish under it
            raise ValueError(
                f"retention tmp_files {self.tmp_files.total_seconds():g} s is shorter than a "
                f"live writer may take over one file, and its temporary files would be deleted "
                f"as it writes them; keep it at least {_hours(LIVE_WRITE_LIMIT)} (the default)")
        if self.hourly_snapshots < MIN_HOURLY_SNAPSHOT_RETENTION:
            raise ValueError(
                f"hourly snapshot retention {_hours(self.hourly_snapshots)} is shorter than the "
                f"daily rollup needs: it builds yesterday from hourly rows, so keep them at least "
                f"{_hours(MIN_HOURLY_SNAPSHOT_RETENTION)}"
            )

    def cutoffs(self, now: datetime) -> dict[str, datetime]:
        """The cut-off time of each kind of data for a run at `now`."""
        now = now.astimezone(UTC)
        return {
            "events": now - self.events,
            "hourly_snapshots": now - self.hourly_snapshots,
            "daily_snapshots": now - self.daily_snapshots,
            "quarantine": now - self.quarantine,
            "alerts": now - self.alerts,
            "counter_state": now - self.counter_state,
        }


@dataclass
class RetentionReport:
    """What a retention run deleted (or, with dry_run, would delete)."""

    now: datetime
    dry_run: bool
    only: str | None
    cutoffs: dict[str, datetime]
    deleted: list[str] = field(default_factory=list)  # paths relative to the lake root
    counter_rows: int = 0
    tmp_files: int = 0
    # expired partitions kept because they hold an unreadable file: (path, message naming it)
    kept: list[tuple[str, str]] = field(default_factory=list)
    # why the counter store could not be pruned (a corrupt file: its path and the fix), if so
    counter_store_error: str | None = None
    # False: the run stopped part way on `error` (what is listed was dropped; the rest of what
    # expired, the counter store and temp files were not seen to)
    complete: bool = True
    error: str | None = None

    def counts(self) -> dict[str, int]:
        """How many partitions of each kind (events, snapshots/<table>, quarantine, alerts)."""
        totals: dict[str, int] = {}
        for path in self.deleted:
            parts = path.split("/")
            kind = "/".join(parts[:2]) if parts[0] == "snapshots" else parts[0]
            totals[kind] = totals.get(kind, 0) + 1
        return totals

    def as_dict(self) -> dict:
        """A JSON-ready summary."""
        return {
            "now": self.now, "dry_run": self.dry_run, "only": self.only, "cutoffs": self.cutoffs,
            "deleted": self.deleted, "counts": self.counts(),
            "counter_rows": self.counter_rows, "tmp_files": self.tmp_files,
            "kept": [{"partition": p, "message": m} for p, m in self.kept],
            "counter_store_error": self.counter_store_error,
            "complete": self.complete, "error": self.error,
        }


def run_retention(lake: Lake, now: datetime, config: RetentionConfig | None = None,
                  dry_run: bool = False, only: str | None = None) -> RetentionReport:
    """Drop every partition past its cut-off; `only` picks event or snapshot retention.

    A run that fails after it dropped partitions raises its error with the report of what it
    dropped as the error's `retention_report`: the CLI and the flows say that first."""
    if only not in (None, *ONLY_CHOICES):
        raise ValueError(f"unknown retention scope {only!r}; expected one of {ONLY_CHOICES} or None")
    config = config or RetentionConfig()
    now = arguments.utc_now(now)
    report = RetentionReport(now=now, dry_run=dry_run, only=only, cutoffs=config.cutoffs(now))
    try:
        _drop_expired(lake, config, report)
    except Exception as exc:
        # a folder this user may not write, say, after others were dropped: they went unsaid
        if report.deleted and not dry_run:
            report.complete, report.error = False, str(exc)
            with contextlib.suppress(AttributeError):  # (an exception without a __dict__)
                exc.retention_report = report
        raise
    return report


def _drop_expired(lake: Lake, config: RetentionConfig, report: RetentionReport) -> None:
    """`run_retention`'s work, said in `report` as it goes."""
    cut, dry_run, only = report.cutoffs, report.dry_run, report.only
    # in this process's .tmp/ folder: if the run dies, the next landing removes it whole
    trash = lake.tmp_dir / writer_name() / f"retention-{lake_layout.new_file_stem()}"
    if not dry_run:
        _check_state_folders(lake, only)

    try:
        if only in (None, "events"):
            hours = expired_event_hours(lake, cut["events"])
            dropped = _drop(lake, hours, "event_hours", dry_run, report, trash)
            if dropped and not dry_run:  # their landings' copy logs (copy_log.py) go with them
                copy_log.forget(lake, [hour for hour, _ in dropped])
        if only in (None, "snapshots"):
            hours = [p for table in HOURLY_TABLES
                     for p in expired_snapshot_periods(lake, table, cut["hourly_snapshots"])]
            hours = _drop(lake, hours, "snapshot_hours", dry_run, report, trash)
            days = [p for table in DAILY_TABLES
                    for p in expired_snapshot_periods(lake, table, cut["daily_snapshots"])]
            days = _drop(lake, days, None, dry_run, report, trash)
            if not dry_run:
                # what a dropped snapshot was built from no longer matters
                _forget_manifests(lake, "hourly", hours)
                _forget_manifests(lake, "daily", days)
        _drop(lake, expired_quarantine_days(lake, cut["quarantine"]), None, dry_run, report, trash)
        if not dry_run:
            _sweep_after_crash(lake, cut, only)
    finally:
        # the space comes back here; if this is interrupted, Lake.clean_tmp finishes it later
        if not lake.remote:
            shutil.rmtree(trash, ignore_errors=True)
    report.deleted += _prune_alerts(lake, cut["alerts"], dry_run)
    if not dry_run:
        from voice_monitor.counters import CounterStoreError  # (as _prune_counters: numpy...)

        try:
            report.counter_rows = _prune_counters(lake, cut["counter_state"])
        except (CounterStoreError, OSError, sqlite3.Error) as exc:
            # a corrupt, read-only or locked store failed the run after its partitions were
            # dropped, and what was dropped went unsaid: the report says it, and the store's
            # error with its fix
            report.counter_store_error = _counter_store_problem(lake, exc)
        report.tmp_files = lake.clean_tmp(older_than=config.tmp_files)
        if not lake.remote:
            disk_space.keep_reserve(lake.state_dir)  # again, if a full disk took it


def _sweep_after_crash(lake: Lake, cut: dict[str, datetime], only: str | None) -> None:
    """What a run killed between its drops and their bookkeeping left: the copy logs and
    rollup manifests of expired periods that have no partition any more, and emptied expired
    date folders. The run that drops a partition removes them; after a killed one no later run
    found that partition again, so they stayed for good. A kept partition (one holding an
    unreadable file) keeps its own. On an object store only manifests: it keeps no copy log
    and has no folders."""
    emptied = []  # (base whose date=… folders hold hour partitions, cut-off of the hours' end)
    if only in (None, "events") and not lake.remote:
        for log in _named(copy_log.log_folder(lake), ".log"):
            hour = _stamp(log.stem, "%Y-%m-%dT%H")
            if (hour and hour + timedelta(hours=1) <= cut["events"]
                    and not lake.event_partition(hour).exists()):
                log.unlink(missing_ok=True)
        emptied.append((lake.events_dir, cut["events"]))
    if only in (None, "snapshots"):
        for kind, tables, form in (("hourly", HOURLY_TABLES, "%Y-%m-%dT%H"),
                                   ("daily", DAILY_TABLES, "%Y-%m-%d")):
            cutoff = cut[f"{kind}_snapshots"]
            for manifest in _named(manifest_folder(lake, kind), ".json"):
                start = _stamp(manifest.stem, form)
                if start and start < cutoff and not any(
                        lake.snapshot_partition(t, start).exists() for t in tables):
                    manifest.unlink(missing_ok=True)
        if not lake.remote:
            emptied += [(lake.snapshots_dir / t, cut["hourly_snapshots"]) for t in HOURLY_TABLES]
    for base, cutoff in emptied:
        for day, folder in _day_folders(base):
            if day + timedelta(days=1) <= cutoff:  # every hour of that day expired
                _remove_if_empty(lake, folder)


def _named(folder: Path, suffix: str) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.suffix == suffix)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _stamp(text: str, form: str) -> datetime | None:
    try:
        return datetime.strptime(text, form).replace(tzinfo=UTC)
    except ValueError:
        return None


def _check_state_folders(lake: Lake, only: str | None) -> None:
    """Before anything is dropped: a file where the state folder retention cleans up after its
    drops should be (`state/copies`, `state/rollups`) failed the run half-way, after it had
    dropped partitions and before it said which; refused first, naming the file and the fix."""
    if only in (None, "snapshots"):
        check_manifest_folders(lake, "hourly", "daily")
    if only in (None, "events") and not lake.remote:
        lake_layout.check_folder(copy_log.log_folder(lake))


def expired_event_hours(lake: Lake, cutoff: datetime) -> list[tuple[datetime, Path]]:
    """Event hour partitions whose hour ends at or before `cutoff`."""
    return [(hour, path) for hour, path in _hour_folders(lake.events_dir)
            if hour + timedelta(hours=1) <= cutoff]


def expired_snapshot_periods(lake: Lake, table: str, cutoff: datetime) -> list[tuple[datetime, Path]]:
    """Snapshot partitions of `table` whose period starts before `cutoff`."""
    base = lake.snapshots_dir / table
    folders = _hour_folders(base) if table in HOURLY_TABLES else _day_folders(base)
    return [(start, path) for start, path in folders if start < cutoff]


def expired_quarantine_days(lake: Lake, cutoff: datetime) -> list[tuple[datetime, Path]]:
    """Quarantine date partitions whose whole day of receipt is at or before `cutoff`."""
    return [(day, path) for day, path in _day_folders(lake.quarantine_dir)
            if day + timedelta(days=1) <= cutoff]


def _hours(span: timedelta) -> str:
    return f"{span / timedelta(hours=1):g} h"


def _drop(lake: Lake, partitions: list[tuple[datetime, Path]], tombstone: str | None,
          dry_run: bool, report: RetentionReport, trash: Path) -> list[tuple[datetime, Path]]:
    """Drop these partitions but those holding an unreadable file; returns the dropped ones.
    What a dropped partition holds that is not its own (`_without_unreadable`) stays there."""
    partitions, foreign = _without_unreadable(lake, partitions, report)
    if not partitions:
        return partitions
    if dry_run:
        report.deleted += [path.relative_to(lake.root).as_posix() for _, path in partitions]
        return partitions
    if tombstone:
        # written before deleting, so a crash in between can only over-remember
        periods = sorted({start for start, _ in partitions})
        try:
            lake_layout.record_dropped(lake, tombstone, periods)
        except OSError as exc:
            # a disk full to the last byte: the lake's reserve gives the room to say what is
            # dropped (a cut-short line is skipped by its readers), then the space is freed
            if lake.remote or not disk_space.is_full(exc) or not disk_space.use_reserve(
                    lake.state_dir):
                raise
            lake_layout.record_dropped(lake, tombstone, periods)
    if lake.remote:
        # no rename on an object store: each partition's prefix is deleted (a reader at that
        # moment may see part of an expired partition), or, where it holds what is not its
        # own, only its own objects
        for _, path in partitions:
            if path not in foreign:
                lake.drop_partition(path)
            else:
                kept = {entry.name for entry in foreign[path]}
                own = [f"{path.path}/{key}" for key in storage.find(path)
                       if key.split("/")[0] not in kept]
                if own:
                    path.fs.rm(own)
            report.deleted.append(path.relative_to(lake.root).as_posix())  # said as it goes: a failure may follow
        return partitions
    trash.mkdir(parents=True, exist_ok=True)
    parents = set()
    for _, path in partitions:
        gone = trash / lake_layout.new_file_stem()
        if path in foreign:
            # not retention's to delete: it never moves, only the partition's own files go
            # (renamed away with the partition and put back, a kill in between left it in
            # the dead run's .tmp/, which the next landing deletes)
            gone.mkdir()
            kept = {entry.name for entry in foreign[path]}
            for name in sorted(os.listdir(path)):
                if name not in kept:
                    os.rename(path / name, gone / name)
        else:
            # one rename takes the whole partition out of the lake at once; a reader sees all
            # of it or none, and a writer landing into it then gets an error, not a lost file
            os.rename(path, gone)
        report.deleted.append(path.relative_to(lake.root).as_posix())  # said as it goes: a failure may follow
        parents.add(path.parent)
    for parent in sorted(parents, key=lambda p: len(p.parts), reverse=True):
        _remove_if_empty(lake, parent)
    return partitions


def _without_unreadable(lake: Lake, partitions: list[tuple[datetime, Path]],
                        report: RetentionReport
                        ) -> tuple[list[tuple[datetime, Path]], dict[Path, list[Path]]]:
    """Partitions holding no unreadable file; the others are kept, whole, and reported. And,
    per partition to drop, what it holds that is not its own (reported; kept in place).

    Unreadable = recorded as such (`integrity`) or a Parquet footer that cannot be read: one
    small read per file of an expired partition, never a row. Not its own: another table's
    file in an event hour (`integrity.event_file_problem`), or anything but a Parquet file
    (notes, a folder; on a store, objects under a deeper prefix): retention deletes only what
    the lake writes there.
    """
    known = {rel for rel, _ in known_unreadable(lake)}
    dropped, foreign = [], {}
    for start, path in partitions:
        events = _in(lake, path, lake.events_dir)
        bad, strays = [], []
        try:
            entries = _entries(lake, path)  # one listing for the Parquet files and the rest
        except lake_layout.UnlistableFolderError as exc:  # what it holds is unknown: kept whole
            report.kept.append((relative(lake, path), str(exc)))
            continue
        files = [entry for entry, _, _ in entries if entry.suffix == ".parquet"]
        for file in files:
            footer, reason = _footer(file)  # one read for both checks
            reason = reason or ("recorded as unreadable" if relative(lake, file) in known else None)
            if reason:
                bad.append((file, reason))
            elif events and footer is not None and (problem := _not_events(footer)):
                strays.append((file, f"is {problem}", f"move it aside with: "
                               f"{move_aside_command(lake)}"))
        if bad:
            report.kept.append((relative(lake, path), str(UnreadableFileError(lake, bad))))
            continue
        dropped.append((start, path))
        for entry, folder, file in entries:
            if entry.suffix != ".parquet" or not file:
                fix = (f"move it aside with: {move_aside_command(lake)}"
                       if entry.suffix == ".parquet" else "move it out of the lake")
                strays.append((entry, "is a folder" if folder else "is not a Parquet file", fix))
        if strays:
            foreign[path] = [entry for entry, _, _ in strays]
            report.kept.append((relative(lake, path), "its own files were dropped; " + "; ".join(
                f"{relative(lake, entry)} {why}, not retention's to delete: {fix}"
                for entry, why, fix in sorted(strays))))
    return dropped, foreign


def _in(lake: Lake, path: Path, folder: Path) -> bool:
    """Whether `path` lies under `folder` of the lake (a local path or a store's)."""
    return relative(lake, path).startswith(relative(lake, folder) + "/")


def _entries(lake: Lake, path: Path) -> list[tuple[Path, bool, bool]]:
    """What a partition holds, each entry with whether it is a folder (on a store: a name
    that objects lie under) and whether a file, from one listing."""
    if not lake.remote:  # scandir: the kinds come with the listing, no stat per entry
        try:
            listing = lake_layout.listing(path)  # one this user may not list: named
        except FileNotFoundError:
            return []
        return sorted((Path(e.path), e.is_dir(), e.is_file()) for e in listing)
    found: dict[str, bool] = {}
    for key in storage.find(path):
        name, _, rest = key.partition("/")
        found[name] = found.get(name, False) or bool(rest)
    return [(path / name, folder, not folder) for name, folder in sorted(found.items())]


def _not_events(footer: pq.FileMetaData) -> str | None:
    """Why a readable Parquet file in an event hour is no events file (another table's)."""
    try:
        return event_file_problem(footer.schema.to_arrow_schema())
    except pa.ArrowException:
        return None


def _footer(path: Path) -> tuple[pq.FileMetaData | None, str | None]:
    """(the file's Parquet footer, None), or (None, why it cannot be read); (None, None) when
    it is gone. One read serves the unreadable check and the events-columns check."""
    try:  # a store's file fetched first: a network failure fails the run, judging nothing
        source = storage.fetched(path)
    except FileNotFoundError:
        return None, None
    try:
        return pq.read_metadata(source), None
    except FileNotFoundError:
        return None, None
    except Exception as exc:  # whatever the footer's failure, the file is unreadable
        return None, " ".join(f"{type(exc).__name__}: {exc}".split())


def _forget_manifests(lake: Lake, kind: str, partitions: list[tuple[datetime, Path]]) -> None:
    for start in {start for start, _ in partitions}:
        manifest_path(lake, kind, start).unlink(missing_ok=True)


def _remove_if_empty(lake: Lake, folder: Path) -> None:
    # rmdir, not rename: it fails if a writer has just created something inside
    while folder != lake.root and folder.is_dir():
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def _day_folders(base: Path) -> list[tuple[datetime, Path]]:
    return list(lake_layout.date_dirs(base))


def _hour_folders(base: Path) -> list[tuple[datetime, Path]]:
    # every hour folder, empty or not (Lake.event_hours skips empty ones; retention must not)
    return list(lake_layout.hour_dirs(base, with_files=False))


def _prune_alerts(lake: Lake, cutoff: datetime, dry_run: bool) -> list[str]:
    # The alert store owns its format; it prunes itself when it offers prune_alerts.
    if not lake.alerts_dir.is_dir():
        return []  # no store yet: nothing to prune, and no reason to create one
    try:
        alerts = importlib.import_module("voice_monitor.health.alerts")
    except ModuleNotFoundError as exc:
        if exc.name != "voice_monitor.health.alerts":
            raise
        return []
    prune = getattr(alerts, "prune_alerts", None)
    return list(prune(lake, cutoff, dry_run)) if prune else []


def _counter_store_problem(lake: Lake, exc: Exception) -> str:
    """One line, with the fix, for the embedded counter store that `_prune_counters` failed on."""
    from voice_monitor.counters import CounterStoreError, unreadable_store

    path = lake.local_state_dir / "counters.sqlite"
    if isinstance(exc, CounterStoreError):  # not an SQLite file, or a folder in its place
        return str(exc)
    if read_only.denied(exc):  # the store, or the lake, read-only to this user
        return read_only.message(lake.root, exc)
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
        return unreadable_store(path, exc)  # damaged past its first page: "malformed"
    return (f"cannot prune the real-time counter store {path} ({exc}); run retention again (a "
            "landing prunes it too)")  # locked by another process for over a minute, I/O


def _prune_counters(lake: Lake, cutoff: datetime) -> int:
    from voice_monitor.counters import STATE_TTL, open_counters

    path = lake.local_state_dir / "counters.sqlite"
    if not path.exists():
        return 0  # never create the store just to prune it
    try:
        store = open_counters(lake)
        try:
            # the store forgets what is older than STATE_TTL before the time it is given
            return store.prune(cutoff + STATE_TTL)
        finally:
            store.close()
    except (OSError, sqlite3.Error) as exc:
        # a disk full to the last byte (SQLite has no room for its journal): the store is left
        # as it is. Nothing in it older than 2 hours counts in any window, and each landing
        # prunes it (it needs room anyway); retention with nothing else to drop succeeds
        if not disk_space.is_full(exc, path):
            raise
        return 0
