"""Unreadable lake files (contract §4): found, recorded, reported, moved aside on request.

A Parquet file that cannot be read (truncated, corrupt) must never stop the rest of the lake.
Nothing here costs anything while files read fine: an operation runs its reads inside `guard`,
and only when a read fails are the files involved probed (the file DuckDB names in its error,
and the files the operation says it read). An unreadable one is recorded under
`state/unreadable/` (what the `lake_file_unreadable` health check reports) and the failure
becomes one `UnreadableFileError` naming it and the fix. Any other failure is re-raised as is.

A folder a read needs that this user may not list fails that read as `UnlistableFolderError`
(lake.py), recorded here too (`record_folder`) for the same check.

`voice-monitor lake check` probes every file; `--move-aside` moves the unreadable ones under
`corrupt/` (same relative path) with a `.json` note beside each: where it came from, when, why.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import re
import shlex
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from voice_monitor import disk_space, read_only, storage
from voice_monitor.arguments import utc_text
from voice_monitor.lake import (
    DATA_FOLDERS,
    SNAPSHOT_TABLES,
    Lake,
    LakeFolderError,
    UnlistableFolderError,
    folder_blocked,
    listing,
    misplaced,
    new_file_stem,
    open_lake,
)
from voice_monitor.schema import EVENT_SCHEMA

log = logging.getLogger(__name__)
# what a failed read of a Parquet file raises (DuckDB, Arrow, or the OS under Arrow)
READ_ERRORS = (duckdb.Error, pa.ArrowException, OSError)
CHECKED_FOLDERS = DATA_FOLDERS
CORRUPT_DIR = "corrupt"
UNLISTABLE = "this user cannot list the folder"  # a recorded folder's reason starts so
_NAMED_FILE = re.compile(r"""['"]([^'"]+\.parquet)['"]""")
_KEY_GONE = re.compile(r"FileNotFoundError: (.+\.parquet)\s*$", re.M)


class ForeignFileError(pa.ArrowInvalid):
    """A Parquet file in events/ that holds no events (another table's file copied there):
    read like an unreadable file, so the periods that need it fail naming it (contract §4)."""


_EVENT_REQUIRED = ("event_id", "event_type", "timestamp")
_EVENT_NAMES = frozenset(EVENT_SCHEMA.names)
_events_checked: dict[str, tuple] = {}  # path -> signature of the file found to hold events


def event_file_problem(schema: pa.Schema) -> str | None:
    """Why a file with `schema` is no events file (missing a required column, or holding a
    column that is no event field), or None."""
    missing = [name for name in _EVENT_REQUIRED if name not in schema.names]
    if missing:
        return f"not an events file: no column {', '.join(missing)}"
    foreign = sorted(set(schema.names) - _EVENT_NAMES)
    if foreign:
        shown = ", ".join(foreign[:4]) + (", ..." if len(foreign) > 4 else "")
        return f"not an events file: column(s) {shown} are no event fields"
    return None


def organizations_file_problem(schema: pa.Schema) -> str | None:
    """Why a file with `schema` cannot be the organizations dimension, or None."""
    missing = [name for name in ("organization_id", "name") if name not in schema.names]
    if not missing:
        return None
    return (f"not an organizations file: no column {', '.join(missing)} (it needs "
            "organization_id and name; load names with voice-monitor orgs load FILE.csv)")


def check_organizations_file(paths: Iterable) -> None:
    """Raise `ForeignFileError` naming the organizations file if it lacks its two columns."""
    for path in paths:
        try:
            problem = organizations_file_problem(storage.read_schema(path))
        except (*READ_ERRORS, FileNotFoundError):
            continue  # gone, or unreadable: the read that follows reports it
        if problem is not None:
            raise ForeignFileError(f"{problem}: '{path}'")


def check_event_files(paths: Iterable) -> None:
    """Raise `ForeignFileError` naming the first of these event files that holds no events.

    Reads each file's footer once per process (remembered by its signature, so a replaced file
    is read again); a file that cannot be read or is gone is left to the read that follows."""
    def problem(path) -> str | None:
        found = event_file_problem(storage.read_schema(path))
        return None if found is None else f"{found}, another table's file? '{path}'"

    _check_once(_events_checked, paths, problem)


_CHECKED_MAX = 65_536  # files remembered as found right, per kind; then forgotten all at once


def _check_once(checked: dict[str, tuple], paths: Iterable,
                problem: Callable[[object], str | None]) -> None:
    """Raise `ForeignFileError` with `problem(path)`'s words for the first of `paths` it finds
    wrong (None: right). A file found right is remembered in `checked` (path -> signature) and
    not asked again until it changes (a replaced file is asked again); one that is gone or
    cannot be read is left to the read that follows."""
    for path in paths:
        key = str(path)
        try:
            sig = storage.signature(path)
            if checked.get(key) == sig:
                continue
            found = problem(path)
        except READ_ERRORS:  # (FileNotFoundError among them: an OSError)
            continue
        if found is not None:
            raise ForeignFileError(found)
        if len(checked) >= _CHECKED_MAX:
            checked.clear()
        checked[key] = sig


# the columns every version of a snapshot table has (contract §6): a file without one is
# another table's (a stage file in pipeline_hourly/ read as pipeline rows) or no snapshot
_SNAPSHOT_KEYS = ("period_type", "period_start", "period_end", "organization_id", "computed_at")
SNAPSHOT_REQUIRED = {
    "pipeline": (*_SNAPSHOT_KEYS, "event_count", "artifacts_received"),
    "stage": (*_SNAPSHOT_KEYS, "pipeline_stage", "started", "succeeded", "failed"),
}


def snapshot_file_problem(table: str, schema: pa.Schema) -> str | None:
    """Why a file with `schema` cannot be one of `table`'s snapshot files (a column the table
    always has is missing, or one has another type than the rollup writes: another table's or
    version's file), or None. Other columns missing or extra are allowed (older or newer
    versions)."""
    from voice_monitor.rollups import snapshot_schemas  # (rollups imports this module)

    missing = [name for name in SNAPSHOT_REQUIRED[table.split("_")[0]]
               if name not in schema.names]
    if missing:
        shown = ", ".join(missing[:4]) + (", ..." if len(missing) > 4 else "")
        return f"not a {table} file: no column {shown}"
    expected = snapshot_schemas()[table]
    wrong = [f"{field.name} is {field.type}, not {expected.field(field.name).type}"
             for field in schema
             if field.name in expected.names and field.type != expected.field(field.name).type]
    if not wrong:
        return None
    shown = "; ".join(wrong[:3]) + ("; ..." if len(wrong) > 3 else "")
    return f"not a {table} file: column {shown}"


def snapshot_rows_problem(path, data: pa.Table) -> str | None:
    """Why the rows `data` read from the snapshot file at `path` cannot be its partition's (its
    columns, `snapshot_file_problem`; or a row of another period: a file copied from another
    partition, counted twice in a range), or None; None too for a file of no snapshot table."""
    table = _snapshot_table(path)
    if table is None:
        return None
    problem = snapshot_file_problem(table, data.schema)
    expected = _partition_start(path, table)
    if problem is not None or data.num_rows == 0 or expected is None:
        return problem
    starts = data.column("period_start")
    first, last = pc.min(starts).as_py(), pc.max(starts).as_py()
    if first == last == expected:
        return None
    other = first if first != expected else last
    return (f"not a file of its partition: it holds rows of the period "
            f"{'none' if other is None else utc_text(other)}, not {utc_text(expected)}")


def _partition_start(path, table: str) -> datetime | None:
    """The period start of the partition holding the snapshot file at `path` (of `table`)."""
    parts = Path(str(path)).parts
    hourly = table.endswith("_hourly")
    day, hour = parts[-3 if hourly else -2][len("date="):], parts[-2][len("hour="):]
    try:
        return datetime.fromisoformat(f"{day}T{hour if hourly else '00'}:00:00+00:00")
    except ValueError:
        return None  # a folder out of place: not read as a partition


_snapshots_checked: dict[str, tuple] = {}  # path -> signature of the file found in place


def check_snapshot_files(paths: Iterable) -> None:
    """Raise `ForeignFileError` naming the first of these snapshot files that is not its
    partition's, as its footer tells: a column its table always has missing, a period column
    not a time, or row-group statistics of `period_start` outside its partition's period.
    Once per file per process (by its signature); for the readers that do not load the rows
    themselves (the SQL views, the daily rollup). A file that cannot be read is left to the
    read that follows."""
    def problem(path) -> str | None:
        found = _footer_problem(path, _snapshot_table(path), storage.parquet_file(path))
        return None if found is None else f"{found}: '{path}'"

    # (a file of no snapshot partition is not read as one)
    _check_once(_snapshots_checked, (path for path in paths if _in_partition(path)), problem)


def _in_partition(path) -> bool:
    """Whether `path` lies in a snapshot table's partition folder (one with a period)."""
    table = _snapshot_table(path)
    return table is not None and _partition_start(path, table) is not None


def _footer_problem(path, table: str, parquet: pq.ParquetFile) -> str | None:
    schema = parquet.schema_arrow
    missing = [name for name in SNAPSHOT_REQUIRED[table.split("_")[0]]
               if name not in schema.names]
    if missing:
        shown = ", ".join(missing[:4]) + (", ..." if len(missing) > 4 else "")
        return f"not a {table} file: no column {shown}"
    for name in ("period_start", "period_end"):
        if not pa.types.is_timestamp(schema.field(name).type):
            return f"not a {table} file: column {name} is {schema.field(name).type}"
    expected = _partition_start(path, table)
    metadata = parquet.metadata
    for group in range(metadata.num_row_groups if expected is not None else 0):
        row_group = metadata.row_group(group)
        for column in range(row_group.num_columns):
            chunk = row_group.column(column)
            stats = chunk.statistics
            if chunk.path_in_schema != "period_start" or stats is None or not stats.has_min_max:
                continue
            other = next((t for t in (stats.min, stats.max) if t != expected), None)
            if other is not None:
                return (f"not a file of its partition: it holds rows of the period "
                        f"{utc_text(other)}, not {utc_text(expected)}")
    return None


def _snapshot_table(path: Path) -> str | None:
    """The snapshot table whose partition `path` lies in (snapshots/<table>/date=…[/hour=…]/)."""
    parts = Path(str(path)).parts
    for at in (-5, -4):
        if (len(parts) >= -at and parts[at] == "snapshots" and parts[at + 1] in SNAPSHOT_TABLES
                and parts[at + 2].startswith("date=")):
            return parts[at + 1]
    return None


def _in_events(path: Path) -> bool:
    """Whether `path` lies where the layout puts event files (events/date=…/hour=…/)."""
    parts = Path(str(path)).parts
    return len(parts) >= 4 and parts[-4] == "events" and parts[-3].startswith("date=")


class UnreadableFileError(ValueError):
    """Lake files that cannot be read: named, with the command that moves them aside."""

    def __init__(self, lake: Lake, files: list[tuple[Path, str]]):
        self.files = files
        names = ", ".join(relative(lake, path) for path, _ in files)
        super().__init__(
            f"unreadable lake file {names} ({files[0][1]}); move it aside with: "
            f"{move_aside_command(lake)}")


def move_aside_command(lake: Lake) -> str:
    return f"voice-monitor lake check --move-aside --lake {shlex.quote(storage.shared_url(lake.root))}"


def _store_key(lake: Lake, text: str) -> str:
    """An object-store path as its filesystem names it ('memory:///x' and 'memory://x' agree)."""
    return type(lake.root.fs)._strip_protocol(str(text)).rstrip("/")


def relative(lake: Lake, path: Path) -> str:
    if lake.remote:
        root, key = _store_key(lake, lake.root.path) + "/", _store_key(lake, path)
        return key[len(root):] if key.startswith(root) else str(path)
    try:
        return Path(path).relative_to(lake.root).as_posix()
    except ValueError:
        pass
    try:  # an absolute path (DuckDB's, from a resolved glob) under a lake given relative
        return Path(path).resolve().relative_to(Path(lake.root).resolve()).as_posix()
    except (ValueError, OSError):
        return str(path)


def probe(path: Path) -> str | None:
    """Why the Parquet file at `path` cannot be read whole, or None (also when it is gone); a
    file in events/ that holds no events (`event_file_problem`) cannot be used either."""
    try:  # a store's file fetched first: a network failure is no verdict on the file
        source = storage.fetched(path)
    except Exception:  # noqa: BLE001 (gone, or the read that failed reports its own error)
        return None
    table = _snapshot_table(path)
    groups = []
    try:
        # pages written with a checksum are verified: damage that still decodes is found
        parquet = pq.ParquetFile(source, page_checksum_verification=True)
        for group in range(parquet.num_row_groups):
            read = parquet.read_row_group(group)
            if table is not None:  # a small snapshot file: its rows are checked too
                groups.append(read)
    except FileNotFoundError:
        return None  # dropped or compacted away since it was listed: not corrupt
    except Exception as exc:  # any failure to read it is the answer
        return " ".join(f"{type(exc).__name__}: {exc}".split())
    if _in_events(path):  # readable, but another table's file: as unusable as a corrupt one
        return event_file_problem(parquet.schema_arrow)
    if table is not None:  # so is a snapshot file of another table, version or partition
        return snapshot_rows_problem(path, pa.concat_tables(groups) if groups
                                     else parquet.schema_arrow.empty_table())
    if Path(str(path)).parent.name == "dimensions" and Path(str(path)).name == "organizations.parquet":
        return organizations_file_problem(parquet.schema_arrow)
    return None


def find_unreadable(paths: Iterable[Path]) -> list[tuple[Path, str]]:
    """(path, reason) of every file in `paths` that cannot be read."""
    found = []
    for path in dict.fromkeys(p if storage.is_remote(p) else Path(p) for p in paths):
        reason = probe(path)
        if reason is not None:
            found.append((path, reason))
    return found


@contextmanager
def guard(lake: Lake, candidates: Callable[[], Iterable[Path]] | None = None) -> Iterator[None]:
    """Turn a failed read into `UnreadableFileError` when a lake file is unreadable.

    Probed after a failure only: the file named in the error, and `candidates()` if given.
    """
    try:
        yield
    except UnlistableFolderError as exc:
        record_folder(lake, exc)
        raise
    except READ_ERRORS as exc:
        unreadable = unreadable_error(lake, exc, candidates() if candidates else ())
        if unreadable is None:
            raise
        raise unreadable from exc


def unreadable_error(lake: Lake, exc: BaseException, candidates: Iterable[Path] = ()
                     ) -> UnreadableFileError | None:
    """The unreadable lake files behind a failed read (recorded), or None if there are none.

    On an object store a file is fetched whole before it is judged, so a network error never
    looks like a corrupt file (the failed read is then reported as it is).
    """
    # the files named in its message, or all those a combine read (views.CombineError)
    texts = [*_NAMED_FILE.findall(str(exc)), *map(str, getattr(exc, "files", ()))]
    named = [_named_path(lake, text) for text in texts]
    found = find_unreadable([*(p for p in named if p is not None), *candidates])
    if not found:
        return None
    try:
        record(lake, found)
    except LakeFolderError as exc:  # only a note for the health check: the read's error stands
        log.warning("%s; until then the health check is not told of unreadable files", exc)
    return UnreadableFileError(lake, found)


def reads_lake(func: Callable) -> Callable:
    """For a public read function whose first argument is the lake: open it (refusing a path
    that holds no lake), run it again if a file it listed vanished (`retrying`), and report an
    unreadable file as one `UnreadableFileError`."""

    @functools.wraps(func)
    def wrapper(lake, *args, **kwargs):
        lake = open_lake(lake)
        with guard(lake):
            return retrying(lake, lambda: func(lake, *args, **kwargs))

    return wrapper


# A read lists a folder's files, then opens them; compaction (and retention) may delete one in
# between: its rows are then in a compacted file (or were dropped on purpose). Running the read
# again lists the folder anew. A file that keeps vanishing means a compaction each time: a few
# runs suffice in practice; the last failure is raised as is.
VANISHED_RETRIES = 8
_VANISHED = re.compile(r"No such file or directory|No files found that match|FileNotFoundError"
                       r"|does not exist", re.I)


def vanished(lake: Lake, exc: BaseException) -> bool:
    """Did a read fail because a lake file it had listed is gone (not for any other reason)?"""
    if isinstance(exc, FileNotFoundError) and exc.filename:
        texts = [str(exc.filename)]
    elif isinstance(exc, FileNotFoundError) and lake.remote and len(exc.args) == 1:
        texts = [str(exc.args[0])]  # a store's filesystem (fsspec) gives the path alone
    # Arrow's FileNotFoundError names the file only in its message ("Failed to open local file")
    elif isinstance(exc, READ_ERRORS) and _VANISHED.search(str(exc)):
        # DuckDB reading a store through fsspec says the Python traceback: the key after
        # "FileNotFoundError: " is the file gone; the quoted path is the view's glob, which
        # never "exists", so a file compacted away under a query failed it ("Error: Traceback")
        texts = _KEY_GONE.findall(str(exc)) or _NAMED_FILE.findall(str(exc))
    else:
        return False
    if lake.remote:  # named by its key (bucket/prefix/...) or its URL; one HEAD request each
        named = [_named_path(lake, text) for text in texts]
        return bool(named) and all(p is not None and not p.exists() for p in named)
    named = [Path(text) for text in texts]
    return bool(named) and all(_inside(lake, p) and not p.exists() for p in named)


def retrying(lake: Lake, read: Callable[[], object], attempts: int = VANISHED_RETRIES):
    """`read()`, run again (up to `attempts` times in all) while it fails on a vanished file."""
    for attempt in range(1, attempts + 1):
        try:
            return read()
        except READ_ERRORS as exc:
            if attempt == attempts or not vanished(lake, exc):
                raise
            time.sleep(0.01 * attempt)
    raise AssertionError("unreachable")


def _named_path(lake: Lake, text: str):
    """The lake file an error message names (a local path or a store URL), or None."""
    if lake.remote:
        rel = relative(lake, text)
        return None if rel == str(text) else lake.root / rel
    path = Path(text)
    return path if _inside(lake, path) else None


def _inside(lake: Lake, path: Path) -> bool:
    try:
        path.resolve().relative_to(lake.root.resolve())
        return True
    except (ValueError, OSError):
        return False


# -- the record of unreadable files ----------------------------------------------------------
def _registry(lake: Lake) -> Path:
    return lake.local_state_dir / "unreadable"


def _entry_path(lake: Lake, rel: str) -> Path:
    return _registry(lake) / (hashlib.blake2b(rel.encode(), digest_size=10).hexdigest() + ".json")


def _signature(path: Path) -> list:
    if storage.is_remote(path):  # (ETag, size)
        return [str(part) for part in storage.signature(path)]
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def record(lake: Lake, found: list[tuple[Path, str]]) -> None:
    """Remember unreadable files (one small JSON each) for the health check."""
    folder = _registry(lake)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:  # a file where the folder should be
        raise folder_blocked(folder) from exc
    for path, reason in found:
        rel = relative(lake, path)
        try:
            entry = {"path": rel, "error": reason, "seen_at": utc_text(datetime.now(UTC)),
                     "signature": _signature(path)}
        except OSError:  # gone since, or a link that leads nowhere (`lake check` lists it)
            continue
        tmp = folder / f".{new_file_stem()}.tmp"
        try:
            tmp.write_text(json.dumps(entry))
            os.replace(tmp, _entry_path(lake, rel))
        except OSError as exc:
            tmp.unlink(missing_ok=True)  # never a stray temp file (a full disk)
            if not disk_space.is_full(exc):
                raise
            return  # a note for the health check, which cannot store an alert either then


def record_folder(lake: Lake, exc: UnlistableFolderError) -> None:
    """Remember a folder this user may not list, as `record` does an unreadable file (for the
    `lake_file_unreadable` check), where this user may write the record (a reader may not)."""
    try:
        record(lake, [(exc.folder, f"{UNLISTABLE} ({exc.reason})")])
    except OSError as error:
        if not read_only.denied(error):
            raise


def folder_problem(folder: Path) -> str | None:
    """Why this user cannot list the lake folder `folder` (as recorded), or None."""
    try:
        listing(folder)
    except UnlistableFolderError as exc:
        return f"{UNLISTABLE} ({exc.reason})"
    except OSError:  # gone, or no folder any more: nothing to list
        return None
    return None


def forget(lake: Lake, rel: str) -> None:
    with contextlib.suppress(NotADirectoryError):  # no record where the folder is a file
        _entry_path(lake, rel).unlink(missing_ok=True)


def known_unreadable(lake: Lake) -> list[tuple[str, str]]:
    """(path relative to the lake, reason) of recorded files that are still there and unreadable.

    A file gone (moved aside, dropped) is forgotten; one changed since it was recorded is probed
    again. Files unchanged are not re-read, so the health check stays cheap.
    """
    folder = _registry(lake)
    if not folder.is_dir():
        return []
    found = []
    for entry_path in sorted(folder.glob("*.json")):
        try:
            entry = json.loads(entry_path.read_text())
        except FileNotFoundError:
            continue
        except (ValueError, IsADirectoryError):  # JSONDecodeError, UnicodeDecodeError, a
            entry = None  # folder by that name: a damaged record
        path = _entry_file(lake, entry)
        if path is None:  # damaged (a bad copy, a hand edit): no file to report; a read or
            # `lake check` that finds an unreadable file records it again
            log.warning("record of an unreadable lake file %s cannot be read; ignored (remove "
                        "it)", entry_path)
            continue
        try:
            changed = _signature(path) != entry["signature"]
        except FileNotFoundError:
            entry_path.unlink(missing_ok=True)
            continue
        if not lake.remote and path.is_dir():  # a folder: a chmod changes no signature
            reason = folder_problem(path)
        elif changed and _is_counter_store(lake, path):  # SQLite's check, not Parquet's
            from voice_monitor.counter_repair import store_problem

            reason = store_problem(lake)
        else:
            reason = probe(path) if changed else entry["error"]
        if reason is None:
            entry_path.unlink(missing_ok=True)
            continue
        found.append((entry["path"], reason))
    return sorted(found)


def _is_counter_store(lake: Lake, path: Path) -> bool:
    """Whether `path` is the lake's embedded counter store (recorded by the failure-rate check
    when SQLite cannot read it)."""
    from voice_monitor.counter_repair import store_path

    return str(path) == str(store_path(lake))


def _entry_file(lake: Lake, entry) -> Path | None:
    """The lake file a record names, or None when the record is not one `record` writes (or
    names a file outside the lake)."""
    if not (isinstance(entry, dict) and isinstance(entry.get("path"), str)
            and isinstance(entry.get("error"), str) and isinstance(entry.get("signature"), list)):
        return None
    path = lake.root / entry["path"]
    return path if lake.remote or _inside(lake, path) else None


# -- voice-monitor lake check --------------------------------------------------------------
def lake_files(lake: Lake) -> list[Path]:
    """Every Parquet file of the lake's data folders (not state/, .tmp/ or corrupt/)."""
    if lake.remote:  # one paged LIST per folder
        return sorted((lake.root / folder / key for folder in CHECKED_FOLDERS
                       for key in storage.find(lake.root / folder) if key.endswith(".parquet")),
                      key=str)
    return sorted(p for folder in CHECKED_FOLDERS for p in (lake.root / folder).rglob("*.parquet")
                  if p.is_file())


def broken_links(lake: Lake) -> list[tuple[Path, str]]:
    """(link, why) of every symbolic link named *.parquet under the data folders that leads to
    no file (dangling, or a loop): every read of its table failed on it ("Symlink loop", "No
    files found"), and `lake_files` (regular files only) never listed it."""
    if lake.remote:
        return []
    return [(p, "a symbolic link that leads to no file (dangling, or a loop)")
            for folder in CHECKED_FOLDERS for p in sorted((lake.root / folder).rglob("*.parquet"))
            if p.is_symlink() and not p.exists()]


def unlistable_folders(lake: Lake) -> list[tuple[Path, str]]:
    """(folder, why) of every folder under the data folders this user may not list (no read
    permission): the files in it are read by no command, which silently left them out."""
    if lake.remote:
        return []
    found: list[tuple[Path, str]] = []

    def note(exc: OSError) -> None:
        if exc.filename is not None and not isinstance(exc, FileNotFoundError):
            found.append((Path(exc.filename), exc.strerror or type(exc).__name__))

    for folder in CHECKED_FOLDERS:
        for _ in os.walk(lake.root / folder, onerror=note):
            pass
    return sorted(found)


def check_lake(lake: Lake) -> tuple[int, list[tuple[Path, str]]]:
    """(files checked, unreadable files with their reasons), each file read whole; the record
    of unreadable files is brought up to date."""
    files = lake_files(lake)
    found = sorted(find_unreadable(files) + broken_links(lake))
    closed = [(p, f"{UNLISTABLE} ({why})") for p, why in unlistable_folders(lake)]
    try:
        record(lake, found + closed)  # a closed folder stays recorded while it is closed
        bad = {relative(lake, p) for p, _ in found + closed}
        for rel, _ in known_unreadable(lake):
            if rel not in bad:
                forget(lake, rel)
    except OSError as exc:
        if not read_only.denied(exc):
            raise
        # a read-only lake: the check still answers; the record is for the health check,
        # which writes alerts to this lake and so runs where it is writable
    return len(files), found


def misplaced_files(lake: Lake) -> list[tuple[Path, str]]:
    """(path, why) of every Parquet file of the data folders that is not where the layout puts
    it (`events/date=garbage/hour=07/x.parquet`, `hour=99`, `events/x.parquet`): no reader
    reads it, so it is listed rather than silently ignored."""
    found = []
    for path in sorted([*lake_files(lake), *_folders_named_parquet(lake)], key=str):
        why = _FOLDER_NAMED_PARQUET if path.is_dir() else misplaced(relative(lake, path))
        if why is not None:
            found.append((path, why))
    return found


# A folder whose name ends in .parquet (Spark and DuckDB write a partitioned "file" so) is read
# as one file by a reader given its name, which fails ('is a directory'), naming `lake check
# --move-aside` as the fix: it is listed, and moved aside whole with what it holds.
_FOLDER_NAMED_PARQUET = ("a folder named like a Parquet file (Spark's or DuckDB's partitioned "
                         "output?), which its readers fail on; move it aside, then land what it "
                         "holds as files (voice-monitor ingest; orgs load FILE.csv for names)")


def _folders_named_parquet(lake: Lake) -> list[Path]:
    if lake.remote:  # a store has no folders: the key prefixes of its objects
        found = set()
        for folder in CHECKED_FOLDERS:
            for key in storage.find(lake.root / folder):
                parts = key.split("/")[:-1]
                named = [i for i, part in enumerate(parts) if part.endswith(".parquet")]
                if named:
                    found.add("/".join([folder, *parts[: named[0] + 1]]))
        return [lake.root / rel for rel in sorted(found)]
    return [p for folder in CHECKED_FOLDERS for p in (lake.root / folder).rglob("*.parquet")
            if p.is_dir()]


def move_aside(lake: Lake, found: list[tuple[Path, str]],
               place=os.rename) -> list[tuple[str, str]]:
    """Move each unreadable file to corrupt/<its path in the lake>, with a .json note beside it
    (original path, time, reason); returns (from, to) relative to the lake. `place(path,
    target)` puts it there on a local lake (`os.link`: a second name, the file left in place)."""
    moved = []
    for path, reason in found:
        if not (os.path.lexists(path) if isinstance(path, Path) else path.exists()):
            continue  # listed twice (unreadable and out of place): moved already
        rel = relative(lake, path)
        target = lake.root / CORRUPT_DIR / rel
        if target.exists():  # the same name moved aside before
            target = target.with_name(f"{target.stem}.{new_file_stem()}{target.suffix}")
        note = {"original_path": rel, "lake": storage.shared_url(lake.root),  # time as --json
                "moved_at": utc_text(datetime.now(UTC)), "error": reason}
        text = (json.dumps(note, indent=2) + "\n").encode()
        if lake.remote:  # no rename on a store: a copy, then the original deleted
            storage.put(target.with_name(target.name + ".json"), text)
            path.fs.mv(path.path, target.path, recursive=path.is_dir())
        else:
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
            except (FileExistsError, NotADirectoryError):  # corrupt/ (or below) is a file
                raise folder_blocked(target.parent) from None
            note_path = target.with_name(target.name + ".json")
            try:
                note_path.write_bytes(text)
            except OSError:  # (a full disk): no empty note left, the file stays where it is
                note_path.unlink(missing_ok=True)
                raise
            place(path, target)
        forget(lake, rel)
        moved.append((rel, relative(lake, target)))
    return moved
