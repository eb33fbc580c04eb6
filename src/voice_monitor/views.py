"""SQL views over the lake: the one place that writes SQL text around lake paths.

Each table has a `raw_<table>` view generated here over its Parquet files (Hive keys typed,
paths quoted), or over an empty typed relation when no file exists yet. The user-facing views
(`events`, `pipeline_hourly`, ...) are the files in `sql/views/`, written over the raw views and
the shared macros of `sql/macros/`, so the query API, `voice-monitor sql` and a catalog file all
share the same definitions.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import tempfile
import threading
import warnings
from collections.abc import Iterable
from pathlib import Path

import duckdb
import pyarrow as pa

from voice_monitor import disk_space, storage
from voice_monitor.integrity import (
    UnreadableFileError,
    check_event_files,
    check_organizations_file,
    check_snapshot_files,
    guard,
    move_aside_command,
    snapshot_rows_problem,
)
from voice_monitor.lake import (
    Lake,
    UnlistableFolderError,
    connect,
    duckdb_path,
    listing,
    new_file_stem,
    open_lake,
    parquet_files,
    partition_day,
    partition_hour,
)
from voice_monitor.schema import ALERT_RECORD_SCHEMA, EVENT_SCHEMA, QUARANTINE_SCHEMA, duckdb_type
from voice_monitor.sql import load_sql, sql_names

VIEWS = (
    "losing_copies",  # before `events`, which is defined over it
    "events",
    "quarantine",
    "pipeline_hourly",
    "pipeline_daily",
    "stage_hourly",
    "stage_daily",
    "alerts",
    "organizations",
)

_PERIOD = [("period_type", "VARCHAR"), ("period_start", "TIMESTAMPTZ"),
           ("period_end", "TIMESTAMPTZ"), ("organization_id", "VARCHAR")]
# Contract §6 columns: what a snapshot view shows, and the typed empty relation before rollups ran.
PIPELINE_COLUMNS = _PERIOD + [
    ("event_count", "BIGINT"), ("artifacts_received", "BIGINT"),
    ("artifacts_completed", "BIGINT"), ("artifacts_failed", "BIGINT"),
    ("overall_failure_rate", "DOUBLE"), ("e2e_latency_count", "BIGINT"),
    ("e2e_latency_avg_ms", "DOUBLE"), ("e2e_latency_p50_ms", "DOUBLE"),
    ("e2e_latency_p95_ms", "DOUBLE"), ("e2e_latency_p99_ms", "DOUBLE"),
    ("avg_transcript_confidence", "DOUBLE"), ("avg_claim_confidence", "DOUBLE"),
    ("claims_extracted_total", "BIGINT"), ("entities_resolved_total", "BIGINT"),
    ("auto_resolution_rate", "DOUBLE"), ("disambiguation_rate", "DOUBLE"),
    ("drafts_generated_total", "BIGINT"), ("drafts_confirmed", "BIGINT"),
    ("drafts_rejected", "BIGINT"), ("retries_initiated", "BIGINT"),
    ("retries_succeeded", "BIGINT"), ("retries_failed", "BIGINT"),
    ("total_ai_cost_usd", "DOUBLE"), ("avg_cost_per_artifact_usd", "DOUBLE"),
    ("computed_at", "TIMESTAMPTZ"),
]
STAGE_COLUMNS = _PERIOD + [
    ("pipeline_stage", "VARCHAR"), ("started", "BIGINT"), ("succeeded", "BIGINT"),
    ("failed", "BIGINT"), ("failure_rate", "DOUBLE"), ("latency_count", "BIGINT"),
    ("latency_avg_ms", "DOUBLE"), ("latency_p50_ms", "DOUBLE"), ("latency_p95_ms", "DOUBLE"),
    ("latency_p99_ms", "DOUBLE"), ("computed_at", "TIMESTAMPTZ"),
]
# The rollups' sufficient statistics (sums, counts, latency sketch) that range queries merge.
PIPELINE_EXTRA = [
    ("e2e_latency_sum_ms", "DOUBLE"), ("e2e_latency_min_ms", "DOUBLE"),
    ("e2e_latency_max_ms", "DOUBLE"), ("e2e_sketch_keys", "INTEGER[]"),
    ("e2e_sketch_counts", "BIGINT[]"), ("transcript_confidence_sum", "DOUBLE"),
    ("transcript_confidence_count", "BIGINT"), ("claim_confidence_weighted_sum", "DOUBLE"),
    ("auto_resolved_total", "BIGINT"), ("disambiguation_total", "BIGINT"),
]
STAGE_EXTRA = [
    ("latency_sum_ms", "DOUBLE"), ("latency_min_ms", "DOUBLE"), ("latency_max_ms", "DOUBLE"),
    ("latency_sketch_keys", "INTEGER[]"), ("latency_sketch_counts", "BIGINT[]"),
]
EVENT_COLUMNS = [(f.name, duckdb_type(f.name)) for f in EVENT_SCHEMA]
QUARANTINE_COLUMNS = [(f.name, "TIMESTAMPTZ" if f.name == "received_at" else "VARCHAR")
                      for f in QUARANTINE_SCHEMA]
ORGANIZATION_COLUMNS = [("organization_id", "VARCHAR"), ("name", "VARCHAR")]
# The alert store's lifecycle records (schema.ALERT_RECORD_SCHEMA), for the empty relation.
ALERT_COLUMNS = [(f.name, "TIMESTAMPTZ" if pa.types.is_timestamp(f.type) else
                  "DOUBLE" if pa.types.is_floating(f.type) else "VARCHAR")
                 for f in ALERT_RECORD_SCHEMA]

_HOUR_KEYS = [("date", "DATE"), ("hour", "INTEGER")]
_DATE_KEYS = [("date", "DATE")]
_FILE_COLS = [("filename", "VARCHAR"), ("file_row_number", "BIGINT")]

# raw view -> (folder under the lake root, glob below it, Hive keys, columns of the empty relation,
#              whether file name and row number are exposed: the de-dup order of events)
SOURCES: dict[str, tuple[str, str, list, list, bool]] = {
    "raw_events": ("events", "date=*/hour=*/*.parquet", _HOUR_KEYS, EVENT_COLUMNS, True),
    "raw_quarantine": ("quarantine", "date=*/*.parquet", _DATE_KEYS, QUARANTINE_COLUMNS, False),
    "raw_pipeline_hourly": ("snapshots/pipeline_hourly", "date=*/hour=*/*.parquet", _HOUR_KEYS,
                            PIPELINE_COLUMNS + PIPELINE_EXTRA, False),
    "raw_stage_hourly": ("snapshots/stage_hourly", "date=*/hour=*/*.parquet", _HOUR_KEYS,
                         STAGE_COLUMNS + STAGE_EXTRA, False),
    "raw_pipeline_daily": ("snapshots/pipeline_daily", "date=*/*.parquet", _DATE_KEYS,
                           PIPELINE_COLUMNS + PIPELINE_EXTRA, False),
    "raw_stage_daily": ("snapshots/stage_daily", "date=*/*.parquet", _DATE_KEYS,
                        STAGE_COLUMNS + STAGE_EXTRA, False),
    "raw_alerts": ("alerts", "date=*/*.parquet", _DATE_KEYS, ALERT_COLUMNS, False),
    "raw_organizations": ("dimensions", "organizations.parquet", [], ORGANIZATION_COLUMNS, False),
}


def quote_ident(name: str) -> str:
    """A SQL identifier, double-quoted."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """A SQL string literal, single-quoted."""
    return "'" + text.replace("'", "''") + "'"


def _empty_relation(columns: list[tuple[str, str]]) -> str:
    cols = ", ".join(f"cast(null as {kind}) as {quote_ident(name)}" for name, kind in columns)
    return f"select {cols} where false"


def source_sql(raw: str, paths: str | list[str] | None) -> str:
    """The table expression of a raw view over a glob or a list of files (None/[] = empty)."""
    _, _, keys, columns, file_cols = SOURCES[raw]
    if not paths:
        return _empty_relation(columns + keys + (_FILE_COLS if file_cols else []))
    listed = quote_literal(paths) if isinstance(paths, str) else (
        "[" + ", ".join(quote_literal(duckdb_path(p)) for p in paths) + "]")
    options = ["union_by_name = true"]
    literal = keys and _root_has_keys(paths, len(keys))
    if keys and not literal:
        types = ", ".join(f"{quote_literal(k)}: {t}" for k, t in keys)
        options.append(f"hive_partitioning = true, hive_types = {{{types}}}")
    else:
        options.append("hive_partitioning = false")
    if file_cols:
        options.append("filename = true, file_row_number = true")
    elif literal:
        options.append("filename = true")
    scan = f"read_parquet({listed}, {', '.join(options)})"
    if not literal:
        return _with_new_columns(raw, f"select * from {scan}")
    # DuckDB would read every `k=v` folder of the path as a key, the lake root's too (a lake
    # under `x/date=1999-01-01/` would date every event 1999-01-01): take the keys from the
    # last folders of each file's path only, as the layout puts them
    tail = "/date=([0-9]{4}-[0-9]{2}-[0-9]{2})/" + ("hour=([0-9]{2})/" if len(keys) == 2 else "")
    derived = [f"cast(regexp_extract(filename, {quote_literal(tail + '[^/]*$')}, {i + 1}) "
               f"as {kind}) as {quote_ident(name)}" for i, (name, kind) in enumerate(keys)]
    keep = "*" if file_cols else "* exclude (filename)"
    return _with_new_columns(raw, f"select {keep}, {', '.join(derived)} from {scan}")


# Sources whose older files may lack a column added since (quarantine's reason_category).
_GROWN = frozenset({"raw_quarantine"})


def _with_new_columns(raw: str, select: str) -> str:
    """`select`, plus as NULL each declared column that none of its files has yet."""
    if raw not in _GROWN:
        return select
    _, _, keys, columns, _ = SOURCES[raw]
    return f"{select} union all by name {_empty_relation(columns + keys)}"


def _root_has_keys(paths: str | list[str], levels: int) -> bool:
    """Whether the folders above a source's partitions hold a `=` (DuckDB reads it as a key)."""
    first = paths if isinstance(paths, str) else str(paths[0])
    return "=" in first.rsplit("/", levels + 2)[0]


def _failing(raw: str, exc: UnreadableFileError | UnlistableFolderError, fix: str = "") -> str:
    """A relation with the raw view's columns whose every read fails naming the unreadable file
    (as DuckDB names a file it cannot read, so the error is reported the same way) and `fix`,
    or the folder this user may not list and the fix."""
    _, _, keys, columns, file_cols = SOURCES[raw]
    message = (str(exc) if isinstance(exc, UnlistableFolderError)
               else f"unreadable lake file {quote_literal(str(exc.files[0][0]))}{fix}")
    # every column is the error's (NULL) result, not a constant NULL: a filter on a column
    # (`where organization_id is not null`) cannot be folded into "no rows" without the error
    cols = ", ".join(f"cast(failed as {kind}) as {quote_ident(name)}"
                     for name, kind in columns + keys + (_FILE_COLS if file_cols else []))
    fail = f"error({quote_literal(message)})"
    return f"select {cols} from (select {fail} as failed from range(1) where {fail} is null)"


def define_raw(con: duckdb.DuckDBPyConnection, raw: str, paths: str | list[str] | None) -> None:
    """(Re)define one raw view over `paths`."""
    con.execute(f"create or replace view {quote_ident(raw)} as {source_sql(raw, paths)}")


_CACHE_SIZE = 4096
_cache: dict[str, tuple[tuple, pa.Table]] = {}
_combined: dict[tuple, pa.Table] = {}
_cache_lock = threading.Lock()


def _evict(store: dict, size: int) -> None:
    while len(store) >= size:
        store.pop(next(iter(store)))


def read_cached(paths: Iterable[str | Path]) -> tuple[tuple, pa.Table] | None:
    """Small Parquet files (snapshot partitions) as one table, memoised by (path, inode, mtime).

    Snapshot partitions are replaced by rename, which changes the inode, so a rebuilt
    partition is never served stale. Returns (the files' signature, table), or None when
    there is no file.
    """
    signatures = []
    for path in map(str, paths):
        try:
            signatures.append((path, *storage.signature(path)))
        except FileNotFoundError:  # dropped by retention since it was listed
            continue
    if not signatures:
        return None
    key = tuple(signatures)
    combined = _combined.get(key)
    if combined is None:
        tables = []
        for path, *signature in signatures:
            hit = _cache.get(path)
            if hit is None or hit[0] != tuple(signature):
                # ParquetFile.read: much less per-call overhead than pq.read_table
                hit = (tuple(signature), _read_whole(path))
                with _cache_lock:
                    _evict(_cache, _CACHE_SIZE)
                    _cache[path] = hit
            tables.append(hit[1])
        try:
            combined = pa.concat_tables(tables, promote_options="default")
        except pa.ArrowException as exc:
            # a column of another type in one file ("Unable to merge: Field event_count has
            # incompatible types"), which Arrow does not name: every file handed to `guard`,
            # whose probe finds the one that is no file of its table (snapshot_file_problem)
            paths = [path for path, *_ in signatures]
            raise CombineError(f"{exc} ({_combining(paths, tables)})", paths) from exc
        with _cache_lock:
            _evict(_combined, 64)
            _combined[key] = combined
    return key, combined


class CombineError(pa.ArrowInvalid):
    """Arrow could not combine the files of a read (`files`, for `integrity.guard` to probe)."""

    def __init__(self, message: str, files: Iterable[str] = ()):
        super().__init__(message)
        self.files = list(files)


def _combining(paths: list[str], tables: list[pa.Table]) -> str:
    """The files a failed combine read, in one line however many (a range of a year's hours is
    thousands): their count and folder, the partitions they span, and where a column's type
    differs, how many files have each type and the first file of the rarest."""
    folder = os.path.commonprefix(paths).rpartition("/")[0]
    parts = sorted({path[len(folder) + 1:].rpartition("/")[0] for path in paths})
    span = f", {parts[0]} to {parts[-1]}" if parts[0] else ""
    said = f"combining {len(paths)} files under {folder}{span}"
    types: dict[str, dict[str, list[str]]] = {}
    for path, table in zip(paths, tables, strict=True):
        for column in table.schema:
            if column.type != pa.null():  # all nulls: takes the others' type
                types.setdefault(column.name, {}).setdefault(str(column.type), []).append(path)
    for name, seen in types.items():
        if len(seen) > 1:
            kind, files = min(seen.items(), key=lambda item: len(item[1]))
            counts = ", ".join(f"{kind} in {len(files)}" for kind, files in seen.items())
            return f"{said}; column {name} is {counts}; the first {kind} one: {files[0]}"
    return said


def _read_whole(path: str) -> pa.Table:
    """The file's rows; a snapshot file that is not its partition's (another table's, version's
    or period's: `snapshot_rows_problem`) fails naming it, for `guard`: read as rows, such a
    file doubled or hid its period's rows without a word, or failed a whole range at binding."""
    try:
        table = storage.parquet_file(path).read()
    except pa.ArrowException as exc:  # Arrow does not say which file: name it for `guard`
        raise pa.ArrowInvalid(f"{exc} (reading '{path}')") from exc
    problem = snapshot_rows_problem(path, table)
    if problem is not None:
        raise pa.ArrowInvalid(f"{problem} (reading '{path}')")
    return table


def define_raw_table(con: duckdb.DuckDBPyConnection, raw: str,
                     source: tuple[tuple, pa.Table] | None) -> None:
    """(Re)define one raw view over a cached table (None = the empty relation).

    The table is copied once into a DuckDB temp table per (view, files' signature) on this
    connection: scanning a native table is several times faster than an Arrow one.
    """
    if source is None:
        define_raw(con, raw, None)
        return
    key, table = source
    loaded: dict = _local.loaded
    name = loaded.pop((raw, key), None)
    if name is None:
        _local.serial += 1
        name = f"{raw}__{_local.serial}"
        con.register("__incoming", table)
        try:
            con.execute(f"create temp table {quote_ident(name)} as select * from __incoming")
        finally:
            con.unregister("__incoming")
        while len(loaded) >= 16:
            stale = loaded.pop(next(iter(loaded)))
            con.execute(f"drop table if exists {quote_ident(stale)}")
    loaded[(raw, key)] = name  # most recently used last
    con.execute(f"create or replace view {quote_ident(raw)} as select * from {quote_ident(name)}")


def lake_glob(lake: Lake, raw: str) -> str | list[str] | None:
    """The absolute glob of a raw view's files, or None when nothing matches yet; when the glob
    would also match files out of place (`events/date=garbage/hour=07/…`, `hour=99`), the list
    of the files in place instead, so one stray folder never breaks the view (contract §4)."""
    folder, pattern, *_ = SOURCES[raw]
    base = (lake.root / folder).resolve()
    levels = pattern.count("/")
    if not lake.remote:  # every folder listed first: DuckDB's glob skips a closed one silently
        placed, stray = _placed(base, levels)
    if not storage.matches_any(base, pattern):  # `base` is literal, only `pattern` a pattern
        return None
    if "=" in pattern:
        if lake.remote:
            placed, stray = _placed_remote(base, levels)
        if stray:
            return [str(path) for path in placed] or None
    return f"{duckdb_path(base)}/{pattern}"


def _placed_remote(base, levels: int) -> tuple[list, bool]:
    """`_placed` on an object store: from one LIST of `base`'s keys."""
    placed, stray = [], False
    checks = (partition_day, partition_hour)[:levels]
    for key in storage.find(base):
        parts = key.split("/")
        if (len(parts) != levels + 1 or not parts[-1].endswith(".parquet") or not all(
                part.startswith(("date=", "hour=")[i]) for i, part in enumerate(parts[:-1]))):
            continue  # the glob does not match it
        if all(check(part) is not None for check, part in zip(checks, parts, strict=False)):
            placed.append(base / key)
        else:
            stray = True
    return placed, stray


def _placed(base: Path, levels: int) -> tuple[list[Path], bool]:
    """(files in well-named `date=…[/hour=…]` folders under `base`, whether a folder the glob
    matches has another name). Every partition folder is listed, the files' folders too, so
    one this user may not list fails the view naming it (`UnlistableFolderError`) rather than
    being skipped by DuckDB's glob without a word; the files are listed only when one is out
    of place."""
    try:
        listed = {base: listing(base)}
    except (FileNotFoundError, NotADirectoryError):  # no such table yet (or a file in the way)
        return [], False
    folders = [base]
    stray = False
    for level in ("date", "hour")[:levels]:
        check = partition_day if level == "date" else partition_hour
        found = []
        for parent in folders:
            for entry in sorted(Path(e.path) for e in listed.pop(parent, None) or listing(parent)):
                if entry.name.startswith(f"{level}=") and entry.is_dir():
                    if check(entry.name) is None:
                        stray = True
                    else:
                        found.append(entry)
        folders = found
    if not stray:
        for folder in folders:  # what the glob reads below them: one access() each, and
            if folder not in listed and not os.access(folder, os.R_OK | os.X_OK):
                listing(folder)  # a listing only where it will fail, to name the folder
        return [], False
    return [f for folder in folders for f in parquet_files(folder)], True


def define_views(con: duckdb.DuckDBPyConnection, lake: Lake | None = None,
                 defer_unreadable: bool = False, catalog: str | None = None
                 ) -> dict[str, UnreadableFileError]:
    """Create every view on `con`: raw views over the whole lake (or empty), then the macros of
    sql/macros/ and the views of sql/views/.

    An unreadable file fails here, naming it; with `defer_unreadable` only the queries that
    read its table fail (naming it), and every other view still answers (contract §4). With
    `catalog` (the catalog file's path: its views outlive this process) an unreadable file is
    deferred too, its table's queries failing with why and how to clear it, while a folder this
    user may not list still fails here. Returns the raw views deferred for an unreadable file.
    """
    deferred: dict[str, UnreadableFileError] = {}
    for raw in SOURCES:
        if lake is None:
            define_raw(con, raw, None)
            continue
        try:
            with guard(lake):  # DuckDB reads the files' schemas here: an unreadable one is named
                if raw == "raw_events" and not lake.remote:  # another table's file in events/
                    check_event_files(f for h in lake.event_hours() for f in lake.event_files(h))
                if raw in _SNAPSHOT_RAWS and not lake.remote:  # another table's or hour's file
                    check_snapshot_files(_table_files(lake, raw))
                if raw == "raw_organizations" and lake.organizations_file.is_file():
                    check_organizations_file([lake.organizations_file])  # user-supplied
                define_raw(con, raw, lake_glob(lake, raw))
        except (UnreadableFileError, UnlistableFolderError) as exc:
            if not (defer_unreadable or catalog is not None
                    and isinstance(exc, UnreadableFileError)):
                raise
            fix = "" if catalog is None else _catalog_fix(lake, exc, catalog)
            con.execute(f"create or replace view {quote_ident(raw)} as {_failing(raw, exc, fix)}")
            if isinstance(exc, UnreadableFileError):
                deferred[raw] = exc
    for macro in sql_names("macros"):  # the views' shared SQL macros
        con.execute(load_sql(f"macros/{macro}"))
    for view in VIEWS:
        con.execute(load_sql(f"views/{view}"))
    return deferred


def _name_shared(con: duckdb.DuckDBPyConnection, lake: Lake) -> None:
    """A catalog's views over a lake this process reads as `s3store2://…` (a second store)
    defined again naming `s3://…`, as another process opens the lake (`storage.shared_url`):
    named so, no other process could read them."""
    alias = storage.read_as_shared(con, lake.root)
    if alias is None:
        return
    for (text,) in con.execute("select sql from duckdb_views() "
                               "where not internal and contains(sql, $p)",
                               {"p": f"{alias}://"}).fetchall():
        text = text.replace(f"{alias}://", "s3://")
        con.execute("create or replace " + text.removeprefix("CREATE "))


def _catalog_fix(lake: Lake, exc: UnreadableFileError, catalog: str) -> str:
    """What a catalog's view over an unreadable file says after its path: its view is SQL text
    in a file, so it fails until the file is moved aside and the catalog written again."""
    return (f" ({exc.files[0][1]}); move it aside with: {move_aside_command(lake)}, then write "
            f"the catalog again: {catalog_command(lake, catalog)}")


def catalog_command(lake: Lake, catalog: str) -> str:
    return (f"voice-monitor catalog {shlex.quote(catalog)} "
            f"--lake {shlex.quote(storage.shared_url(lake.root))}")


class CatalogViewsUnreadableWarning(UserWarning):
    """Warned by `write_catalog` for each table whose views fail when read: a file of it is
    unreadable (named, with the fix); the catalog's other views answer (contract §4)."""


_SNAPSHOT_RAWS = ("raw_pipeline_hourly", "raw_stage_hourly", "raw_pipeline_daily",
                  "raw_stage_daily")


def _table_files(lake: Lake, raw: str) -> list[Path]:
    """The Parquet files of a snapshot table's partitions, as its view's glob finds them."""
    folder, pattern, *_ = SOURCES[raw]
    base = lake.root / folder
    try:
        return sorted(base.glob(pattern))
    except OSError:  # an unlistable folder: the view's own listing names it
        return []


_local = threading.local()


def _quiet(con: duckdb.DuckDBPyConnection) -> None:
    """No progress bar on stderr (CLI output stays clean)."""
    # inside Jupyter without ipywidgets DuckDB refuses the change (and draws no bar there)
    with contextlib.suppress(duckdb.InvalidInputException):
        con.execute("SET enable_progress_bar = false")


def connection() -> duckdb.DuckDBPyConnection:
    """This thread's query connection (views defined, empty sources); opening one costs ~20 ms."""
    con = getattr(_local, "con", None)
    if con is None:
        con = connect()
        con.execute("SET parquet_metadata_cache = true")
        _quiet(con)
        define_views(con)
        con.execute(load_sql("staging/sketch"))  # the rollups' sketch macros, to merge ranges
        _local.con = con
        _local.defined = {}  # raw view -> the source it is defined over now
        _local.loaded = {}  # (raw view, files' signature) -> temp table holding them
        _local.serial = 0
        _local.filesystems = storage.register_filesystems(con)
    else:
        # a lake on a store opened after this connection was made (a long-lived process)
        _local.filesystems = storage.register_filesystems(con, _local.filesystems)
    return con


def with_sources(**paths: Iterable[str | Path] | None) -> duckdb.DuckDBPyConnection:
    """The thread's connection with the named raw views over these files (e.g. raw_events=[...]).

    Event files are scanned by DuckDB; the small snapshot and dimension files are served from
    the in-process cache (`read_cached`).
    """
    con = connection()
    defined = _local.defined
    for raw, files in paths.items():
        if raw in ("raw_events", "raw_quarantine"):
            source = tuple(map(str, files)) if files else None
            if raw == "raw_events" and source:
                check_event_files(source)  # footers read once per process
            if defined.get(raw, False) != source:  # the view already reads these files
                define_raw(con, raw, list(source) if source else None)
        else:
            if raw == "raw_organizations" and files:
                check_organizations_file(files)  # user-supplied: its two columns, named
            cached = read_cached(files or [])
            source = cached[0] if cached else None
            if defined.get(raw, False) != source:
                define_raw_table(con, raw, cached)
        defined[raw] = source
    return con


def lake_connection(lake: Lake | str, database: str = ":memory:",
                    defer_unreadable: bool = False) -> duckdb.DuckDBPyConnection:
    """A new connection with every view over the whole lake (`voice-monitor sql`, the catalog);
    `defer_unreadable`: see `define_views`. `lake`: a Lake or a path; one that holds no lake is
    `NoLakeError` (never views over nothing, as if it were an empty lake)."""
    lake = open_lake(lake)
    con = connect(database)
    _quiet(con)
    define_views(con, lake, defer_unreadable)
    return con


# The catalog holds only views (SQL text), so it is written in the v1.0 storage format:
# DuckDB 1.0 and later can open it (the default, v2.0, needs DuckDB 2.0 or later).
CATALOG_STORAGE_VERSION = "v1.0.0"


def _check_catalog_target(lake: Lake, target: Path) -> None:
    """Refuse a catalog path that would replace data: a lake folder, or a file not a catalog."""
    folders = {folder.split("/")[0] for folder, *_ in SOURCES.values()} | {"state"}
    for folder in sorted(folders) if not lake.remote else []:  # a catalog file is local
        inside = (lake.root / folder).resolve()
        if target.is_relative_to(inside):
            raise ValueError(f"catalog path {str(target)!r} is inside the lake's {folder}/ folder; "
                             f"write it elsewhere, e.g. {lake.root / 'catalog.duckdb'}")
    if target.is_file():
        with open(target, "rb") as handle:
            if handle.read(12)[8:12] != b"DUCK":  # every DuckDB database file has this magic
                raise ValueError(f"{str(target)!r} exists and is not a DuckDB database; choose "
                                 "another path (the catalog only replaces an earlier catalog)")


def write_catalog(lake: Lake | str, path: str | Path, make_folders: bool = True) -> Path:
    """Write a DuckDB database file holding the views over this lake's absolute paths
    (creating its folder, unless `make_folders` is false: then a missing folder is refused).
    `lake`: a Lake or a path; one that holds no lake is `NoLakeError`."""
    text = os.fspath(path)
    if not text.strip():  # Path('') is '.', the working folder
        raise ValueError(f"catalog path {text!r} is empty; name a file, e.g. 'catalog.duckdb'")
    if os.path.isdir(text) or text.endswith(("/", os.sep)):
        # a folder was IsADirectoryError naming a temporary file; 'exports/' wrote 'exports'
        raise ValueError(f"catalog path {text!r} is a folder; name a file in it, e.g. "
                         f"{os.path.join(text, 'catalog.duckdb')!r}")
    lake = open_lake(lake)
    target = Path(path).resolve()
    _check_catalog_target(lake, target)
    folder = target.parent
    if not make_folders and not folder.is_dir():
        fix = ("name a file in a folder" if folder.exists() else
               f"create it first (mkdir -p {shlex.quote(str(folder))}) or name a file in an "
               "existing folder")
        raise ValueError(
            f"catalog {str(path)!r}: {str(folder)!r} is "
            f"{'a file, not a folder' if folder.exists() else 'a folder that does not exist'}; "
            f"{fix}")
    folder.mkdir(parents=True, exist_ok=True)
    # built beside the target, then renamed over it: a reader never opens a half-written file
    tmp = target.with_name(f".{target.name}.{new_file_stem()}.tmp")
    # DuckDB names its write-ahead log by cutting the path at its first '?' (a query string):
    # in a folder whose path holds one, '/a?b/c.duckdb' logs to '/a.wal?b/c.duckdb', a folder
    # that does not exist, and the catalog of a lake at such a path failed. Built elsewhere
    # then, and copied beside the target (contract §4: any path works literally)
    scratch = Path(tempfile.mkdtemp(prefix="voice-monitor-catalog-")) if "?" in str(tmp) else None
    build = scratch / "catalog.duckdb" if scratch is not None else tmp
    try:
        try:
            con = duckdb.connect(str(build), config={"storage_compatibility_version":
                                                     CATALOG_STORAGE_VERSION})
        except duckdb.IOException as exc:  # DuckDB's words named our temporary file, no fix
            if disk_space.is_full(exc):
                raise disk_space.NoSpaceError(folder, "the catalog was not written") from exc
            raise ValueError(f"cannot write the catalog {str(target)!r}: no file can be made in "
                             f"{str(target.parent)!r}; choose a folder you can write to") from exc
        try:
            storage.register_filesystems(con)  # a lake on a store: views bind through fsspec
            # one unreadable file stopped the whole catalog: its table's views fail when read
            deferred = define_views(con, lake, catalog=str(target))
            _name_shared(con, lake)
            con.execute("checkpoint")
        except duckdb.Error as exc:  # the catalog's disk, not the lake's: name its folder
            if disk_space.is_full(exc):
                raise disk_space.NoSpaceError(folder, "the catalog was not written") from exc
            raise
        finally:
            con.close()
        if scratch is not None:
            shutil.copyfile(build, tmp)
        os.replace(tmp, target)
    finally:  # nothing left beside the target when building it failed
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
            leftover.unlink(missing_ok=True)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    for raw, exc in deferred.items():
        warnings.warn(CatalogViewsUnreadableWarning(
            f"the catalog's {raw.removeprefix('raw_')} view fails when read: {exc}, then write "
            f"the catalog again: {catalog_command(lake, str(target))}"), stacklevel=2)
    return target
