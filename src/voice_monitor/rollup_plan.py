"""Which periods a rollup builds (contract §6, §7): decided from listings and manifests only.

Next to each snapshot partition a small manifest under state/rollups/ records what it was built
from (event file names and sizes for an hour, hourly snapshot files for a day), so "changed
since it was built" is a directory listing; no event is read. Retention's tombstones
(`lake.dropped_periods`) say which sources are gone on purpose: a source that retention removed
is not a change, and a snapshot that retention removed is never rebuilt automatically.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timedelta
from pathlib import Path

from voice_monitor import copy_log, storage
from voice_monitor.arguments import FIRST_EVENT, utc_text
from voice_monitor.lake import (
    Lake,
    UnlistableFolderError,
    check_folder,
    dropped_periods,
    floor_day,
    floor_hour,
    folder_blocked,
    folder_is_a_file,
    parquet_files,
)

log = logging.getLogger(__name__)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
HOURLY_SNAPSHOTS = ("pipeline_hourly", "stage_hourly")


# -- hours ------------------------------------------------------------------------------------
def hours_to_build(lake: Lake, now: datetime, keep_hourly: timedelta) -> list[datetime]:
    """The previous complete hour, every retained hour changed since its snapshot, and gaps.

    Never an hour whose hourly snapshot retention dropped (tombstoned), nor one that starts
    before the hourly-snapshot cut-off `now - keep_hourly` (retention would drop it again).
    """
    previous = floor_hour(now) - HOUR
    cutoff = now - keep_hourly
    gone = dropped_periods(lake, "snapshot_hours")

    def wanted_at_all(h: datetime) -> bool:
        # before 2000 no event can be (an explicit --hour there is refused as a bad argument):
        # a `now` early in 2000 or in 1970-1999 builds nothing there, not a row of zeros
        return h >= cutoff and h >= FIRST_EVENT and h not in gone

    listing = event_listing(lake)
    dropped = dropped_periods(lake, "event_hours")
    wanted = {previous} if wanted_at_all(previous) else set()
    for h in listing:
        if h <= previous and wanted_at_all(h) and hour_changed(lake, h, listing, dropped):
            wanted.add(h)
    if listing:
        # an hour with no events and no snapshot still gets its zero platform row
        built = set(lake.snapshot_periods("pipeline_hourly"))
        # from the first event, but never before the cut-off: a `now` far past the events (a
        # typo for the year 9998) would otherwise walk millions of hours, none of them wanted
        h = max(min(listing), floor_hour(cutoff))
        while h < previous:
            if h not in built and h not in dropped and wanted_at_all(h):
                wanted.add(h)
            h += HOUR
    return sorted(wanted)


def hour_changed(
    lake: Lake, hour: datetime, listing: dict[datetime, list], dropped: set[datetime]
) -> bool:
    """Whether the hour has no manifest, or its sources differ from what it was built from."""
    manifest = read_manifest(manifest_path(lake, "hourly", hour))
    if manifest is None:
        return True
    for recorded_key, recorded in manifest["sources"].items():
        h = datetime.fromisoformat(recorded_key)
        if h in dropped and h not in listing:
            continue  # a source hour retention removed: not new data, nothing to rebuild
        if listing.get(h, []) != recorded:
            return True
    return False


def has_hourly_snapshot(lake: Lake, hour: datetime) -> bool:
    """Both hourly snapshot partitions of the hour hold a file."""
    return all(parquet_files(lake.snapshot_partition(t, hour)) for t in HOURLY_SNAPSHOTS)


# -- days -------------------------------------------------------------------------------------
def days_to_build(lake: Lake, now: datetime) -> list[datetime]:
    """The previous complete day and every retained day whose hourly rows changed since."""
    previous = floor_day(now) - DAY
    gone = dropped_periods(lake, "snapshot_hours")
    wanted = {previous} if previous >= FIRST_EVENT else set()  # as hours_to_build
    for d in {floor_day(h) for h in lake.snapshot_periods("pipeline_hourly")}:
        if d >= previous + DAY:
            continue
        try:
            if day_changed(lake, d, gone):
                wanted.add(d)
        except UnlistableFolderError:  # built, and it fails naming the folder (that day only)
            wanted.add(d)
    return sorted(wanted)


def day_sources(lake: Lake, day: datetime) -> dict[str, list]:
    """The hourly snapshot files (name, size, mtime) of each hour of the day."""
    sources = {}
    for k in range(24):
        h = day + k * HOUR
        files = [f for table in HOURLY_SNAPSHOTS
                 for f in parquet_files(lake.snapshot_partition(table, h))]
        sources[key(h)] = [[f"{f.parent.parent.parent.name}/{f.name}", size, ns]
                           for f, (size, ns) in zip(files, storage.sizes_and_versions(files),
                                                    strict=True)]
    return sources


def day_changed(lake: Lake, day: datetime, gone: set[datetime]) -> bool:
    """Whether the day's hourly rows differ from what its daily snapshot was built from.

    An hour whose hourly snapshot retention dropped (tombstoned, and no file now) is not a
    change: removing old rows is not new data, so it triggers no rebuild (and no refusal).
    """
    manifest = read_manifest(manifest_path(lake, "daily", day))
    if manifest is None:
        return True
    for hour_key, files in day_sources(lake, day).items():
        if files == manifest["sources"].get(hour_key, []):
            continue
        if not files and datetime.fromisoformat(hour_key) in gone:
            continue
        return True
    return False


def stale_hours(lake: Lake, day: datetime) -> tuple[list[datetime], list[datetime]]:
    """(hours of the day to build before the day, hours whose snapshot retention dropped).

    To build: hours with no hourly snapshot (and not dropped by retention), and hours whose
    events changed since their snapshot was built ("dirty"). Whether each can be built
    (its events retained) is the hourly rollup's decision.
    """
    gone = dropped_periods(lake, "snapshot_hours")
    listing = event_listing(lake)
    dropped = dropped_periods(lake, "event_hours")
    build, lost = [], []
    for h in (day + k * HOUR for k in range(24)):
        present = has_hourly_snapshot(lake, h)
        if h in gone:
            if not present:
                lost.append(h)  # never rebuilt automatically: retention removed it on purpose
        elif not present or hour_changed(lake, h, listing, dropped):
            build.append(h)
    return build, lost


# -- later copies recorded by an hour's own rollup or its landings ------------------------------
# how the recorded later copies were ranked; a manifest without it was written when copies were
# ranked by ingested_at first, and its record is not used (the copies are found again)
COPIES_RANKED_BY = "file name, row"


def recorded_copies(lake: Lake, hour: datetime, files: list[list]) -> dict[str, str] | None:
    """The later copies the hour's own rollup recorded (file name -> row numbers "3,17,…"), if
    that rollup read exactly `files` (names and sizes, as `describe` lists them); else None.

    An event file is never rewritten under its name (landing and compaction publish new names;
    retention and `lake check` remove files), so the same listing is the same rows and the same
    copies, as the manifests' change detection already assumes; a late file, a compaction or a
    removed file changes the listing, and the record is not used. The record and the listing
    it was made from are one manifest, written whole (one rename, or one PUT).
    """
    manifest = read_manifest(manifest_path(lake, "hourly", hour))
    if (not files or manifest is None or "later_copies" not in manifest
            or manifest.get("copies_ranked_by") != COPIES_RANKED_BY):
        return None
    if manifest["sources"].get(key(hour)) != files:
        return None
    if manifest.get("later_copies_crc") != copy_log.copies_crc(manifest["later_copies"]):
        return None  # damaged, or written before the CRC: found again (copy_log.copies_crc)
    return manifest["later_copies"]


def known_copies(lake: Lake, hour: datetime, files: list[list]) -> dict[str, str] | None:
    """The hour's later copies for exactly `files`, as its own rollup recorded them
    (`recorded_copies`), else as its landings logged them (`copy_log`); else None."""
    recorded = recorded_copies(lake, hour, files)
    if recorded is not None or not files or lake.remote:
        return recorded
    return copy_log.later_copies(copy_log.log_path(lake, hour), files)


# -- manifests --------------------------------------------------------------------------------
def manifest_path(lake: Lake, kind: str, period: datetime) -> Path:
    """Where the record of what a snapshot period was built from lives ("hourly" or "daily")."""
    name = f"{period:%Y-%m-%dT%H}" if kind == "hourly" else f"{period:%Y-%m-%d}"
    return manifest_folder(lake, kind) / f"{name}.json"


def manifest_folder(lake: Lake, kind: str) -> Path:
    """The folder of the manifests of `kind` ("hourly" or "daily")."""
    return lake.state_dir / "rollups" / kind


def check_manifest_folders(lake: Lake, *kinds: str) -> None:
    """Refuse, before anything is built, a local lake where a file stands in the way of the
    manifests of `kinds` (`state/rollups` a file): one line naming it, with the fix."""
    if not lake.remote:
        for kind in kinds:
            check_folder(manifest_folder(lake, kind))


def read_manifest(path: Path) -> dict | None:
    """The manifest at `path`, or None when there is none or it is damaged (not UTF-8, not
    JSON, not the shape written here): the period then counts as changed and is built again,
    which writes a good manifest in its place."""
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except IsADirectoryError as exc:  # no manifest can be written there either: said, with the fix
        raise folder_is_a_file(path, "file") from exc
    except NotADirectoryError as exc:  # nor where its folder (state/rollups/…) is a file
        raise folder_blocked(path.parent) from exc
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        log.warning("rollup manifest %s cannot be read (%s); its period is built again", path, exc)
        return None
    if not _well_formed(manifest):
        log.warning("rollup manifest %s is not a manifest; its period is built again", path)
        return None
    # keys as `key` writes them now: a manifest written before holds '+00:00' where it is 'Z'
    # (the same hour, which would otherwise count as changed and be built again)
    manifest["sources"] = {key(datetime.fromisoformat(name)): files
                           for name, files in manifest["sources"].items()}
    return manifest


def _well_formed(manifest) -> bool:
    if not isinstance(manifest, dict) or not isinstance(manifest.get("sources"), dict):
        return False
    if not isinstance(manifest.get("later_copies", {}), dict):
        return False
    for name, files in manifest["sources"].items():
        if not isinstance(files, list):
            return False
        try:
            datetime.fromisoformat(name)
        except (TypeError, ValueError):
            return False
    return True


def write_manifest(path: Path, manifest: dict) -> None:
    if storage.is_remote(path):  # one PUT replaces the object whole
        storage.put(path, json.dumps(manifest, sort_keys=True).encode())
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:  # a file where a folder should be
        raise folder_blocked(path.parent) from exc
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(manifest, sort_keys=True))
        os.replace(tmp, path)
    except OSError:  # (a full disk): no stray temp file beside the manifests
        tmp.unlink(missing_ok=True)
        raise


# what `event_listing` gives an hour whose folder this user may not list: it equals no
# manifest's files, so the hour (and each hour built from it) is built, and fails naming it
UNLISTED = [["(a folder this user cannot list)", -1]]


def event_listing(lake: Lake) -> dict[datetime, list]:
    """Every event hour partition and its files (name, size)."""
    found = {}
    for h in lake.event_hours():
        try:
            found[h] = describe(lake.event_files(h))
        except UnlistableFolderError:
            found[h] = UNLISTED
    return found


def describe(files: list[Path]) -> list[list]:
    return [[f.name, size] for f, (size, _) in zip(files, storage.sizes_and_versions(files),
                                                   strict=True)]


def key(moment: datetime) -> str:
    """A period as a manifest's key: UTC with Z, as every other time the lake writes."""
    return utc_text(moment)
