"""The lake layout: every path under the lake root is named here, and files appear atomically.

    events/date=YYYY-MM-DD/hour=HH/*.parquet            raw events, by event time (UTC)
    quarantine/date=YYYY-MM-DD/*.parquet                rejected input, by date received
    snapshots/{pipeline,stage}_hourly/date=…/hour=…/    hourly snapshot partitions
    snapshots/{pipeline,stage}_daily/date=…/            daily snapshot partitions
    alerts/                                             alert store
    dimensions/organizations.parquet                    organization names
    state/                                              counters, rollup bookkeeping
    .tmp/w-<host>-<pid>-<start>/                        files being written, per process (never read)
    corrupt/                                            unreadable files moved aside (never read)
    .voice-monitor-lake                                 marker: this folder is a lake

A lake is created only on purpose (`Lake.create`: `voice-monitor init`, `ingest`, `demo`,
`serve`, a local producer, a landing through the Python API: `Lake.check_landing`). Every other entry point opens it with `open_lake`, which refuses a
path that is not a lake, so a mistyped or unmounted path never looks like a healthy empty lake.
`Lake(path)` itself is a plain handle and checks nothing.

The root is a local folder or `s3://bucket/prefix` (contract §13): the layout is the same, and
how bytes are published, removed and locked on each is decided here and in `storage`.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import stat
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from voice_monitor import disk_space, storage, temp_files
from voice_monitor.arguments import utc_text
from voice_monitor.folder_sync import sync_folders

DEFAULT_LAKE = "./data"
LAKE_ENV = "VOICE_MONITOR_LAKE"

SNAPSHOT_TABLES = ("pipeline_hourly", "stage_hourly", "pipeline_daily", "stage_daily")
HOURLY_TABLES = ("pipeline_hourly", "stage_hourly")
DAILY_TABLES = ("pipeline_daily", "stage_daily")

LAKE_MARKER = ".voice-monitor-lake"
# A folder holding one of these is a lake made before the marker existed.
LAKE_FOLDERS = ("events", "snapshots", "quarantine")

# What `Lake.create` makes in every new lake besides its marker: a lake holding only these
# (relative paths) is as empty as `voice-monitor init` leaves it (see `contents`)
MADE_WITH_LAKE = (LAKE_MARKER, f"state/{disk_space.RESERVE_NAME}")
# Files that do not make a folder anything else: the repository's own ./data holds a README
# (where `init` and the demo make a lake)
NOT_LAKE_CONTENT = ("README.md", ".gitkeep")

_DATE_DIR = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
_HOUR_DIR = re.compile(r"^hour=(\d{2})$")
# Where each data folder keeps its Parquet files: the levels of partition folders below it
# ("date", "hour"), or one fixed file name. Anything else there is out of place (`misplaced`).
PARTITION_LEVELS: dict[str, tuple[str, ...] | str] = {
    "events": ("date", "hour"),
    "quarantine": ("date",),
    "alerts": ("date",),
    "dimensions": "organizations.parquet",
    **{f"snapshots/{t}": ("date", "hour") if t in ("pipeline_hourly", "stage_hourly")
       else ("date",) for t in ("pipeline_hourly", "stage_hourly", "pipeline_daily",
                                "stage_daily")},
}


def partition_day(name: str) -> datetime | None:
    """The UTC day of a `date=YYYY-MM-DD` folder name, or None (another name, or no such day)."""
    match = _DATE_DIR.match(name)
    if not match:
        return None
    try:
        return datetime.strptime(match.group(1), "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:  # date=2026-13-45
        return None


def partition_hour(name: str) -> int | None:
    """The hour (0-23) of an `hour=HH` folder name, or None (another name, or hour=24 and up)."""
    match = _HOUR_DIR.match(name)
    return int(match.group(1)) if match and int(match.group(1)) < 24 else None


def contents(root: Path, keep: Iterable[str] = ()) -> list[Path]:
    """What the folder `root` holds beyond what every new lake is made with (`MADE_WITH_LAKE`:
    the marker, `state/reserve`) and the relative paths in `keep`: the outermost such entries,
    a folder holding some of those looked into (a `state/` holding its reserve and a counter
    store gives the store's files). Empty: a lake as `init` leaves it, or no lake yet."""
    return _contents(root, "", frozenset({*MADE_WITH_LAKE, *keep}))


def _contents(folder: Path, prefix: str, kept: frozenset[str]) -> list[Path]:
    found = []
    for entry in folder.iterdir():
        rel = prefix + entry.name
        if rel in kept:
            continue
        if any(path.startswith(rel + "/") for path in kept) and entry.is_dir() and (
                storage.is_remote(entry) or not entry.is_symlink()):
            found.extend(_contents(entry, rel + "/", kept))
        else:
            found.append(entry)
    return found


def misplaced(rel: str) -> str | None:
    """Why the Parquet file at `rel` (relative to the lake root, `/`-separated) is not where the
    layout puts that folder's files, or None when it is (or lies outside the data folders).

    Readers skip such a file (it belongs to no period); `voice-monitor lake check` lists it."""
    parts = rel.split("/")
    for folder, levels in PARTITION_LEVELS.items():
        depth = folder.count("/") + 1
        if parts[:depth] != folder.split("/"):
            continue
        below = parts[depth:]
        if isinstance(levels, str):
            return None if below == [levels] else f"{folder}/ holds only {levels}"
        expected = "/".join(f"{level}=" + ("YYYY-MM-DD" if level == "date" else "HH")
                            for level in levels) + "/*.parquet"
        ok = len(below) == len(levels) + 1 and all(
            (partition_day if level == "date" else partition_hour)(name) is not None
            for level, name in zip(levels, below, strict=False))
        return None if ok else f"outside the layout {folder}/{expected}"
    return None


def floor_hour(moment: datetime) -> datetime:
    """The start of the UTC hour containing `moment`."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def floor_day(moment: datetime) -> datetime:
    """The start of the UTC day containing `moment`."""
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


class NoLakeError(ValueError):
    """A path that does not exist or holds no lake, given where an existing lake is needed."""


# the folders of the lake's data (what `lake check` reads; a folder's name in messages starts
# from one of them: `data_name`)
DATA_FOLDERS = ("events", "quarantine", "snapshots", "dimensions", "alerts")


class UnlistableFolderError(ValueError):
    """A lake folder this user may not list (no read or execute permission): a read that needs
    its files fails naming it and the fix, where a listing would have left them out without a
    word (DuckDB's glob, pathlib's glob). Access is the fix: `lake check` never moves it."""

    def __init__(self, folder: str | os.PathLike[str], reason: str = "Permission denied"):
        self.folder, self.reason = closed_folder(folder), reason
        super().__init__(
            f"cannot list lake folder {data_name(self.folder)} ({reason}), so the files in it "
            "cannot be read; give this user read access (chmod -R u+rX "
            f"{shlex.quote(str(self.folder))}, or run as the lake's owner)")


def data_name(folder: str | os.PathLike[str]) -> str:
    """A lake folder's path from its data folder on (`events/date=…/hour=12`), as `lake check`
    names it; the whole path when it lies in none."""
    parts = Path(folder).parts
    starts = [i for i, part in enumerate(parts) if part in DATA_FOLDERS]
    return "/".join(parts[starts[-1]:]) if starts else str(folder)


def closed_folder(folder: str | os.PathLike[str]) -> Path:
    """The outermost folder from the data folder down to `folder` that this user may not list
    or enter (`date=…` when it is closed, not each `hour=` below it); `folder` if none is."""
    folder = Path(folder)
    parts = folder.parts
    starts = [i for i, part in enumerate(parts) if part in DATA_FOLDERS]
    for depth in range(starts[-1] + 1 if starts else len(parts), len(parts) + 1):
        here = Path(*parts[:depth])
        if not os.access(here, os.R_OK | os.X_OK):
            return here
    return folder


def listing(folder: Path) -> list[os.DirEntry]:
    """The entries of a local lake folder; one this user may not list is `UnlistableFolderError`
    (a missing folder is the caller's FileNotFoundError)."""
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except PermissionError as exc:
        raise UnlistableFolderError(folder, exc.strerror or "Permission denied") from exc


_PARTITIONS_KEPT = 1024  # a handle's event_partition answers kept, at most


def _under(*parts: str) -> cached_property:
    """A Lake attribute: the path `parts` below the lake root, made at its first use and kept
    (a handle's root never changes; a landing asks for these paths several times)."""
    return cached_property(lambda lake: lake.root.joinpath(*parts))


class Lake:
    """A lake root and the paths in it (a plain handle: see `open_lake` and `Lake.create`)."""

    def __init__(self, root: str | os.PathLike[str]):
        if isinstance(root, str) and not root.strip():  # an unset variable: not "." or ./data
            raise NoLakeError(empty_path_message(root))
        self.root = storage.lake_path(root)
        self.remote = storage.is_remote(self.root)
        # known to hold a lake (made or opened through this handle, or made by its first
        # landing): a landing then refuses it gone (`check_landing`)
        self.found = False
        self._partitions: dict[datetime, Path] = {}  # event_partition's answers, per hour given

    def __repr__(self) -> str:
        return f"Lake({str(self.root)!r})"

    @classmethod
    def create(cls, root: str | os.PathLike[str] | Lake) -> Lake:
        """Make `root` a lake (folders and marker); an existing lake is opened as it is."""
        lake = root if isinstance(root, Lake) else cls(root)
        if lake.remote:
            if not (lake.root / LAKE_MARKER).is_file():
                lake.put(lake.root / LAKE_MARKER, _marker_text().encode())
            return lake
        if lake.root.exists() and not lake.root.is_dir():
            raise NoLakeError(file_path_message(lake.root))
        try:
            lake.root.mkdir(parents=True, exist_ok=True)
        except NotADirectoryError as exc:  # a folder on the way is a file
            raise NoLakeError(file_path_message(lake.root, file_in_the_way(lake.root))) from exc
        marker = lake.root / LAKE_MARKER
        if not marker.is_file():
            if marker.is_dir():  # (replacing it failed "Is a directory", said as the lake's)
                raise folder_is_a_file(marker, "file")
            tmp = lake.root / f"{LAKE_MARKER}.{new_file_stem()}.tmp"
            try:
                tmp.write_text(_marker_text())
                os.replace(tmp, marker)
            except OSError:  # (a full disk): no empty marker file left behind in the folder
                tmp.unlink(missing_ok=True)
                raise
            disk_space.keep_reserve(lake.state_dir)  # room for retention on a full disk
        check_folders(lake)
        lake.found = True
        return lake

    def check_landing(self) -> None:
        """Before a landing writes anything. The handle's first landing makes its lake, marker
        and all (`Lake.create`: landing through the Python API makes its lake as a local producer
        does, contract §4); a later one refuses the lake gone since (deleted, unmounted), where
        it would scatter events/, quarantine/ and state/ without the marker: one stat of the
        marker per landing (older lakes, without one, are found by `exists`). A lake on an
        object store is checked by the landing itself (`landing.commit`, `dup_index.current`)."""
        if self.remote:
            return
        if not self.found:
            Lake.create(self)
        elif not self.marker_file.is_file() and not self.exists():
            raise NoLakeError(no_lake_message(self.root))

    def exists(self) -> bool:
        """Whether the root holds a lake: its marker, or (older lakes) an events/, snapshots/
        or quarantine/ folder. An empty folder, or one holding only a README, is not a lake."""
        if not self.remote and not self.root.is_dir():
            return False
        return self.marker_file.is_file() or any(
            (self.root / folder).is_dir() for folder in LAKE_FOLDERS)

    # -- layout ---------------------------------------------------------------------------
    events_dir = _under("events")
    quarantine_dir = _under("quarantine")
    snapshots_dir = _under("snapshots")
    alerts_dir = _under("alerts")
    organizations_file = _under("dimensions", "organizations.parquet")
    state_dir = _under("state")
    tmp_dir = _under(".tmp")
    marker_file = _under(LAKE_MARKER)

    @property
    def local_state_dir(self) -> Path:
        """A local folder for state that cannot live in an object store (the embedded counter
        store, a producer's spool): `state/` of a local lake, `storage.local_state_dir` else."""
        return storage.local_state_dir(self.root) if self.remote else self.state_dir

    def event_partition(self, hour: datetime) -> Path:
        """Folder of the events whose timestamp falls in the UTC hour starting at `hour`."""
        folder = self._partitions.get(hour)
        if folder is None:  # (a landing asks for each of its hours' folders several times)
            h = floor_hour(hour)
            folder = self.events_dir / f"date={h:%Y-%m-%d}" / f"hour={h:%H}"
            if len(self._partitions) >= _PARTITIONS_KEPT:
                self._partitions.clear()
            self._partitions[hour] = folder
        return folder

    def quarantine_partition(self, day: date | datetime) -> Path:
        return self.quarantine_dir / f"date={day:%Y-%m-%d}"

    def snapshot_partition(self, table: str, period_start: datetime) -> Path:
        """Folder of one snapshot period: hourly tables by date and hour, daily by date."""
        if table not in SNAPSHOT_TABLES:
            raise ValueError(f"unknown snapshot table {table!r}; expected one of {SNAPSHOT_TABLES}")
        start = period_start.astimezone(UTC)
        folder = self.snapshots_dir / table / f"date={start:%Y-%m-%d}"
        return folder / f"hour={start:%H}" if table in HOURLY_TABLES else folder

    # -- listing --------------------------------------------------------------------------
    def event_hours(self) -> list[datetime]:
        """UTC hour starts of every event partition that holds at least one file."""
        return [hour for hour, _ in hour_dirs(self.events_dir)]

    def event_files(self, hour: datetime) -> list[Path]:
        return parquet_files(self.event_partition(hour))

    def snapshot_periods(self, table: str) -> list[datetime]:
        """Period starts of every partition of a snapshot table."""
        base = self.snapshots_dir / table
        if table in HOURLY_TABLES:
            return [hour for hour, _ in hour_dirs(base)]
        return [day for day, _ in date_dirs(base)]

    def quarantine_days(self) -> list[datetime]:
        return [day for day, _ in date_dirs(self.quarantine_dir)]

    # -- writing --------------------------------------------------------------------------
    def writer_tmp_dir(self) -> Path:
        """This process's folder under .tmp/ (`w-<host>-<pid>-<process start>`), created."""
        return temp_files.writer_dir(self.tmp_dir)

    def temp_path(self, suffix: str = ".parquet") -> Path:
        """A fresh path under .tmp/, on the same file system as the lake (so rename is atomic)."""
        return self.writer_tmp_dir() / (new_file_stem() + suffix)

    def write_file(self, table: pa.Table, folder: Path, after: int = -1, **options) -> Path:
        """Add one Parquet file to `folder`, atomically; concurrent writers never collide (each
        file has a unique name, sorting after a name whose clock is `after`: see
        `new_file_stem`). `options` go to `pq.write_table`. An event file written into a lake
        on an object store is noted as this host's first (own_files.py: real-time reads then
        know the files of their window that another host landed; noted before its PUT, a file
        this host's read lists is never taken for another host's)."""
        dest = folder / (new_file_stem(after) + ".parquet")
        if self.remote and str(folder.parent.parent) == str(self.events_dir):
            from voice_monitor import own_files

            own_files.record(self, folder, dest.name)
        return self.publish(table, dest, **options)

    def publish(self, table: pa.Table, dest: Path, **options) -> Path:
        """Make `table` the file at `dest` (replacing it), atomically: written to .tmp/ and
        renamed over, or one PUT on an object store. `options` go to `pq.write_table`."""
        if self.remote:
            self.put(dest, storage.parquet_bytes(table, **options))
            return dest
        tmp = self.temp_path()
        write_parquet(table, tmp, **options)
        try:
            return _rename_into(tmp, dest)
        except OSError:  # (a folder at `dest`): no temp file left for a long-lived process
            tmp.unlink(missing_ok=True)
            raise

    def publish_bytes(self, dest: Path, data: bytes) -> Path:
        """Make `data` the content of `dest` (a small state file), atomically."""
        if self.remote:
            self.put(dest, data)
            return dest
        tmp = self.temp_path(".tmp")
        try:
            tmp.write_bytes(data)
            return _rename_into(tmp, dest)
        except OSError:  # (a full disk): its space back at once, not at the next clean-up
            tmp.unlink(missing_ok=True)
            raise

    def put(self, dest: Path, data: bytes) -> None:
        """One PUT of `data` at `dest` in a lake on an object store. A PUT finds no key missing,
        only a bucket (the store's NoSuchBucket, which s3fs makes a bare FileNotFoundError "The
        specified bucket does not exist"): that is a missing lake, named with its fix."""
        try:
            storage.put(dest, data)
        except FileNotFoundError as exc:
            raise NoLakeError(no_bucket_message(self.root)) from exc

    def replace_partition(self, table: pa.Table, folder: Path) -> Path:
        """Make `table` the whole content of `folder`, atomically (one file, renamed over; on an
        object store one PUT over the key)."""
        dest = self.publish(table, folder / "part-0.parquet")
        for stale in parquet_files(folder):
            if stale != dest:
                stale.unlink(missing_ok=True)
        return dest

    def drop_partition(self, folder: Path) -> None:
        """Remove a whole partition folder and any parent left empty (a prefix on a store)."""
        if self.remote:
            storage.remove_tree(folder)
            return
        shutil.rmtree(folder, ignore_errors=True)
        parent = folder.parent
        while parent != self.root and parent.exists() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent

    def clean_tmp(self, older_than: timedelta = temp_files.LIVE_WRITE_LIMIT) -> int:
        """Delete what crashed writers left under .tmp/; returns how many files (or folders).

        See `temp_files.clean`: a dead process's folder at once, anything else only once older
        than `older_than`, so a file a live writer is still writing is never removed.
        """
        if self.remote or not self.tmp_dir.is_dir():  # an object store has no .tmp/
            return 0
        return temp_files.clean(self.tmp_dir, older_than)


def _rename_into(tmp: Path, dest: Path) -> Path:
    folders = make_folder(dest.parent)
    os.replace(tmp, dest)
    sync_folders(folders)
    return dest


def make_folder(folder: Path) -> list[Path]:
    """Create `folder` (and missing parents); returns the folders to fsync after a rename into
    it: `folder`, the parent of each folder created here, and always the two folders above it
    (a partition's day and table folders), whose new entries another writer may have made and
    not yet synced (`date=…/` made by a landing in another hour, which holds another lock)."""
    changed = [folder, folder.parent, folder.parent.parent]
    missing = folder
    while not missing.is_dir():
        changed.append(missing.parent)
        missing = missing.parent
    if missing != folder:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:  # a file where a folder should be
            raise folder_blocked(folder) from exc
    return changed


def no_lake_message(root: str | os.PathLike[str]) -> str:
    """The one line every entry point prints for a path that holds no lake."""
    return (f"no lake at {root}; create it with voice-monitor init "
            f"{shlex.quote(storage.shared_url(root))}")


def no_bucket_message(root: str | os.PathLike[str]) -> str:
    """The line for a lake on an object store whose bucket does not exist (deleted, or never
    made: `init` writes into a bucket, it does not create one)."""
    bucket = str(root).partition("://")[2].split("/", 1)[0]
    return (f"no bucket {bucket!r} for the lake at {root} (deleted, or not made yet?); create "
            f"the bucket on the object store, then the lake in it with voice-monitor init "
            f"{shlex.quote(str(root))}")


def missing_remote_message(lake: Lake) -> str:
    """Why a lake on an object store is found missing: its bucket, else its marker."""
    return no_bucket_message(lake.root) if _bucket_missing(lake) else no_lake_message(lake.root)


def _bucket_missing(lake: Lake) -> bool:
    """Whether a lake on an object store lacks its bucket (asked only once the lake is found
    missing; a store that will not say, e.g. no permission on the bucket itself, is not)."""
    if storage.scheme_of(str(lake.root)) == "memory":  # fsspec's in-process store: no buckets
        return False
    bucket = lake.root.path.split("/", 1)[0]
    try:
        lake.root.fs.info(bucket)
    except FileNotFoundError:
        return True
    except Exception:  # noqa: BLE001 (any other answer: the usual "no lake" line)
        return False
    return False


def file_in_the_way(root: str | os.PathLike[str]) -> Path | None:
    """The file standing where a local lake path, or a folder it lies in, should be; else None."""
    for path in (Path(root), *Path(root).parents):
        try:
            mode = os.stat(path).st_mode
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError:
            return None  # not ours to judge (permissions): the command says what it meets
        return None if stat.S_ISDIR(mode) else path
    return None


def file_path_message(root: str | os.PathLike[str], file: str | os.PathLike[str] | None = None
                      ) -> str:
    """Why a lake path that is a file, or lies inside one (`file`), is refused."""
    if file is not None and Path(file) != Path(root):
        return (f"lake path {str(root)!r} lies inside {str(file)!r}, which is a file, not a "
                "folder; pass a lake folder, e.g. ./data")
    return (f"lake path {str(root)!r} is a file, not a folder; pass the lake's folder, e.g. "
            "./data, or create a lake in a new folder with voice-monitor init DIR")


def empty_path_message(root: str) -> str:
    """Why an empty lake path (an unset variable in `--lake "$LAKE"`) is refused."""
    return f"lake path {root!r} is empty; pass the lake's directory, e.g. ./data"


def as_lake(root: str | os.PathLike[str] | Lake) -> Lake:
    """`root` as a Lake handle (a path is taken as one), checking nothing on disk."""
    if isinstance(root, Lake):
        return root
    if not isinstance(root, str | os.PathLike):
        raise ValueError(f"lake {root!r} is not a path; pass a folder or s3://bucket/prefix "
                         "as text, a pathlib.Path or a Lake")
    return Lake(root)


def open_lake(root: str | os.PathLike[str] | Lake, create: bool = False) -> Lake:
    """The lake at `root`; `create=True` makes it if needed, else a non-lake is `NoLakeError`."""
    lake = as_lake(root)
    if create:
        return Lake.create(lake)
    if not lake.exists():
        if lake.remote and _bucket_missing(lake):
            raise NoLakeError(no_bucket_message(lake.root))
        file = None if lake.remote else file_in_the_way(lake.root)
        if file is not None:  # init would refuse it too
            raise NoLakeError(file_path_message(lake.root, file))
        raise NoLakeError(no_lake_message(lake.root))
    check_folders(lake)
    lake.found = True
    return lake


# the folders the lake keeps (PARTITION_LEVELS' and their parents, its state and temp files)
_OWN_FOLDERS = tuple(dict.fromkeys(
    [*(f.split("/")[0] for f in PARTITION_LEVELS), *PARTITION_LEVELS, "state", ".tmp"]))


def check_folders(lake: Lake) -> None:
    """Refuse a lake one of whose own folders is a file (`cp x.jsonl data/events`): reads took
    it for an empty lake and a landing failed on a bare "Not a directory" (one stat a folder)."""
    if lake.remote:
        return
    for rel in _OWN_FOLDERS:
        path = os.path.join(lake.root, rel)
        try:
            if stat.S_ISDIR(os.stat(path).st_mode):
                continue
        except (FileNotFoundError, NotADirectoryError):
            continue  # not made yet (or its parent is the file: reported as that)
        raise folder_is_a_file(path)


class LakeFolderError(NoLakeError):
    """A lake's own folder that is a file, or its own file that is a folder."""


def move_aside(path: str | os.PathLike[str]) -> str:
    """The command that moves `path` aside, beside itself: `mv PATH PATH.moved`, quoted."""
    path = str(path)
    return f"mv {shlex.quote(path)} {shlex.quote(path + '.moved')}"


def folder_is_a_file(path: str | os.PathLike[str], kind: str = "folder") -> LakeFolderError:
    """The error for a lake's own folder (`kind` "folder") that is a file, or its own file
    ("file") that is a folder: move it out of the lake."""
    path = str(path)
    other = "file" if kind == "folder" else "folder"
    return LakeFolderError(
        f"lake {kind} {path!r} is a {other}, not a {kind}; move it out of the lake "
        f"({move_aside(path)}) and run the command again")


def folder_blocked(folder: str | os.PathLike[str]) -> LakeFolderError:
    """The error for a local lake folder that could not be made or entered ("[Errno 20] Not a
    directory", "[Errno 17] File exists"): names the file standing where it, or a folder above
    it, should be (`state/rollups` a file, where `state/rollups/hourly` was wanted)."""
    return folder_is_a_file(file_in_the_way(folder) or folder)


def check_folder(folder: str | os.PathLike[str]) -> None:
    """Refuse a local lake folder (missing or not) where it, or a folder above it, is a file."""
    if file_in_the_way(folder) is not None:
        raise folder_blocked(folder)


_GLOB_CHARS = re.compile(r"([\[*?])")


def duckdb_path(path: str | os.PathLike[str]) -> str:
    """A path for DuckDB's file readers, which expand `*`, `?` and `[…]` in every path they are
    given (lists included): each such character is bracketed (`[` → `[[]`), so the path matches
    only itself and a lake at `x/lake[1]` never reads `x/lake1`."""
    return _GLOB_CHARS.sub(r"[\1]", str(path))


def new_file_stem(after: int = -1) -> str:
    """A unique file name that sorts in landing order: a nanosecond clock first, never earlier
    than `after` + 1 (the newest `stem_clock` among the names it must sort after), so a clock
    that is behind (another host's, or one stepped back) still names files in landing order."""
    return f"{max(time.time_ns(), min(after + 1, _LAST_CLOCK)):020d}-{uuid.uuid4().hex[:12]}"


_LAST_CLOCK = 10**20 - 1  # the largest clock 20 digits hold


def stem_clock(name: str) -> int:
    """The nanosecond clock a file's name starts with (`new_file_stem`); -1 if it starts with
    anything else (a file named by hand or by another tool)."""
    head = name[:20]
    return int(head) if len(head) == 20 and head.isascii() and head.isdigit() else -1


def write_parquet(table: pa.Table, path: Path, **options) -> None:
    """Write and fsync a Parquet file, so a rename afterwards publishes complete bytes."""
    pq.write_table(table, path, **{**storage.PARQUET_OPTIONS, **options})
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def parquet_files(folder: Path) -> list[Path]:
    """The Parquet files of one partition folder, in landing order."""
    if storage.is_remote(folder):
        return [folder / name for name in storage.find(folder)
                if "/" not in name and name.endswith(".parquet")]
    # files only: a folder named x.parquet (Spark's or DuckDB's partitioned output) is no file
    # of the partition; `lake check` lists the files inside it as out of place
    try:
        entries = listing(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(Path(e.path) for e in entries
                  if Path(e.name).suffix == ".parquet" and e.is_file())


def _remote_dirs(base, pattern: re.Pattern, files_only: bool) -> list[tuple[str, Path]]:
    """(name, folder) of the sub-prefixes of `base` matching `pattern`, from one LIST; with
    `files_only`, only those holding a Parquet file directly."""
    names = set()
    for key in storage.find(base):
        head, _, rest = key.partition("/")
        if pattern.match(head) and rest and (not files_only or (
                "/" not in rest and rest.endswith(".parquet"))):
            names.add(head)
    return [(name, base / name) for name in sorted(names)]


def date_dirs(base: Path) -> Iterator[tuple[datetime, Path]]:
    """(day, folder) of the `date=YYYY-MM-DD` partition folders under `base`, oldest first."""
    if storage.is_remote(base):  # an object store has no empty folders
        for name, entry in _remote_dirs(base, _DATE_DIR, files_only=False):
            if (day := partition_day(name)) is not None:
                yield day, entry
        return
    try:
        entries = listing(base)
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in sorted(Path(e.path) for e in entries):
        day = partition_day(entry.name)  # date=garbage, date=2026-13-45: not a partition
        if day is not None and entry.is_dir():
            yield day, entry


def hour_dirs(base: Path, with_files: bool = True) -> Iterator[tuple[datetime, Path]]:
    """(hour start, folder) of the `date=…/hour=HH` partition folders under `base`, oldest
    first; with `with_files` only those holding a Parquet file (retention wants them all).

    With `with_files`, a folder this user may not list is yielded as if it held files (a
    `date=` one as its 24 hours): the read of a period that needs it lists it and fails naming
    it (`UnlistableFolderError`), and a read of other periods never meets it. Left out, its
    events would be missing from every answer without a word."""
    for day, day_dir in date_dirs(base):
        if storage.is_remote(day_dir):
            for name, entry in _remote_dirs(day_dir, _HOUR_DIR, files_only=with_files):
                if (hour := partition_hour(name)) is not None:
                    yield day + timedelta(hours=hour), entry
            continue
        try:
            entries = sorted(Path(e.path) for e in listing(day_dir))
        except UnlistableFolderError:
            if not with_files:
                raise
            for hour in range(24):
                yield day + timedelta(hours=hour), day_dir / f"hour={hour:02d}"
            continue
        for entry in entries:
            hour = partition_hour(entry.name)  # hour=99 is no hour of this day
            if hour is not None and entry.is_dir() and (
                    not with_files or _holds_parquet(entry)):
                yield day + timedelta(hours=hour), entry


def _holds_parquet(folder: Path) -> bool:
    """Whether a local partition folder holds a Parquet file, or may (this user cannot list it)."""
    try:
        return any(e.name.endswith(".parquet") for e in listing(folder))
    except UnlistableFolderError:
        return True
    except (FileNotFoundError, NotADirectoryError):
        return False


def connect(database: str = ":memory:", read_only: bool = False,
            beside: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that works in UTC whatever the machine's TZ. `beside`: another
    connection to that one's database (~0.03 ms, where a new database costs ~30 ms of CPU),
    for another thread; closing `beside` closes it too."""
    con = duckdb.connect(database, read_only=read_only) if beside is None else beside.cursor()
    con.execute("SET TimeZone = 'UTC'")
    storage.register_filesystems(con)  # object-store lakes, read through fsspec
    return con


# Table expression over event files (bound as $files) with the Hive keys typed explicitly:
# DuckDB would read hour=07 as text where Polars reads an integer.
EVENTS_READER = (
    "read_parquet($files, hive_partitioning = true, union_by_name = true, "
    "hive_types = {'date': DATE, 'hour': INTEGER})"
)


def _tombstone_file(lake: Lake, kind: str) -> Path:
    return lake.state_dir / f"dropped_{kind}.txt"


def record_dropped(lake: Lake, kind: str, periods: list[datetime]) -> None:
    """Remember that retention dropped these periods of `kind` (e.g. "event_hours").

    Appends one ISO line per period (O_APPEND, so concurrent writers interleave whole lines);
    an object store cannot append, so there each call PUTs one new object under
    `state/dropped_<kind>/`. Rollups read them to refuse rebuilding a period whose source is gone.
    """
    if not periods:
        return
    path = _tombstone_file(lake, kind)
    text = "".join(utc_text(p) + "\n" for p in periods)
    if lake.remote:
        lake.put(path.parent / f"dropped_{kind}" / f"{new_file_stem()}.txt", text.encode())
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        data = memoryview(text.encode())
        while data:  # a short write (a full disk) is finished or raises, never left torn
            data = data[os.write(fd, data):]
        os.fsync(fd)
    finally:
        os.close(fd)


def dropped_periods(lake: Lake, kind: str) -> set[datetime]:
    """Every period of `kind` that retention has dropped, as UTC datetimes.

    A rollup asks once per hour it builds; each record is parsed once per process and version
    (local: size, mtime, inode of the append-only file; on a store: the ETag of each object,
    one per retention run, all from one LIST), rather than read again every time."""
    path = _tombstone_file(lake, kind)
    if lake.remote:
        folder = path.parent / f"dropped_{kind}"
        try:
            listed = folder.fs.ls(folder.path, detail=True)
        except FileNotFoundError:
            listed = []
        records = [(folder / info["name"].rsplit("/", 1)[-1],
                    (int(info.get("size") or 0), str(info.get("ETag") or info.get("LastModified"))))
                   for info in listed if info.get("type") != "directory"]
    else:
        try:
            found = path.stat()
        except (FileNotFoundError, NotADirectoryError):  # (a file where state/ should be)
            found = None
        if found is not None and stat.S_ISDIR(found.st_mode):
            # retention cannot record there either: said, with the fix
            raise folder_is_a_file(path, "file")
        records = [] if found is None else [
            (path, (found.st_size, found.st_mtime_ns, found.st_ino))]
    periods: set[datetime] = set()
    for where, version in records:
        cached = _dropped_read.get(str(where))
        if cached is None or cached[0] != version:
            cached = (version, _parse_dropped(where, where.read_bytes()))
            _dropped_read[str(where)] = cached
        periods |= cached[1]
    return periods


# parsed records of dropped periods: path -> (version, periods); see `dropped_periods`
_dropped_read: dict[str, tuple[tuple, frozenset[datetime]]] = {}


def _parse_dropped(where, data: bytes) -> frozenset[datetime]:
    # every whole stamp, wherever it stands: a line cut short by a crash (its partitions were
    # never deleted: the record is written first) is skipped, and the next run's line, appended
    # right after it, still read; it made every rollup fail on "Invalid isoformat string"
    periods = set()
    *ended, _cut_short = data.decode("utf-8", "replace").split("\n")
    for number, line in enumerate(ended, 1):
        found = {moment for stamp in _STAMP.findall(line)
                 if (moment := _stamp_time(stamp)) is not None}
        if not found and line.strip():
            # damage (retention writes whole stamps only): skipped, the period that line
            # held looked never dropped, and a rollup rebuilt its kept snapshot from nothing
            raise DamagedRecordError(where, number, line)
        periods |= found
    periods |= {moment for stamp in _STAMP.findall(_cut_short)
                if (moment := _stamp_time(stamp)) is not None}
    return frozenset(periods)


class DamagedRecordError(ValueError):
    """Retention's record of dropped periods holds a line that is no time: which period it
    held cannot be told, so no rollup can know which periods it must refuse."""

    def __init__(self, path, number: int, line: str):
        shown = line if len(line) <= 40 else line[:40] + "…"
        super().__init__(
            f"retention's record of dropped periods {path} is damaged at line {number} "
            f"({shown!r}), so a rollup cannot tell which periods it must refuse to rebuild; "
            "write the UTC time that line held (one like 2026-02-15T02:00:00Z; the lines "
            "around it are in order), or delete the line if it held none, then run the "
            "command again")


def _stamp_time(stamp: str) -> datetime | None:
    try:
        return datetime.fromisoformat(stamp)
    except ValueError:
        return None


# written with Z; files written by earlier versions hold +00:00, read alike
_STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:\+00:00|Z)")


def _marker_text() -> str:
    return json.dumps({"voice_monitor_lake": 1, "created_at": utc_text(datetime.now(UTC))}) + "\n"

