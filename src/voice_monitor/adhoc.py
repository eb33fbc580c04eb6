"""Ad-hoc SQL over the lake's views (`voice-monitor sql`): read-only and lake-only by default.

Two locks, both DuckDB's own: the connection may open files under the lake's folders and
nowhere else (`allowed_directories`, then `enable_external_access = false` and
`lock_configuration = true`, so a query cannot SET its way back out), and only read statements
run (a SELECT in any of its forms: WITH, FROM-first, VALUES, DESCRIBE, SHOW, SUMMARIZE, PIVOT),
so nothing is written, not even inside the lake where the first lock alone would allow
`COPY … TO 'events/…'`. `allow_writes=True` is the trusted opt-out: full access, as DuckDB has.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass

import duckdb

from voice_monitor.arguments import whole_number
from voice_monitor.integrity import retrying, unreadable_error, vanished
from voice_monitor.lake import Lake, duckdb_path, open_lake
from voice_monitor.views import SOURCES, lake_connection, quote_literal

ROW_CAP = 1000
_ALL_ROWS = 2**62  # a limit at least this large keeps every row
READ_STATEMENTS = (duckdb.StatementType.SELECT,)


class SqlRefusedError(ValueError):
    """A statement that read-only mode does not run (a write, ATTACH, SET, COPY, ...)."""


@dataclass(frozen=True)
class SqlResult:
    """Column names, rows (at most the limit) and whether more rows existed than were kept."""

    columns: list[str]
    rows: list[tuple]
    truncated: bool
    statements: int = 1  # how many ran: the rows are the last one's


def _allowed_directories(lake: Lake) -> list[str]:
    """The lake root and each table's folder (a folder may be a symlink to another volume)."""
    found = [lake.root] + [lake.root / folder for folder, *_ in SOURCES.values()]
    folders = {str(path.resolve()).rstrip("/") + "/" for path in found}
    # the views read globs whose literal part is escaped (`[` → `[[]`, see lake.duckdb_path),
    # and DuckDB checks the glob text: allow each folder in that spelling too
    return sorted(folders | {duckdb_path(folder) for folder in folders})


def read_only_connection(lake: Lake, spill: str) -> duckdb.DuckDBPyConnection:
    """A connection with every view over the lake that can open lake files and nothing else.

    `spill`: a fresh empty folder for DuckDB's temp files. DuckDB lets a query read its temp
    directory whatever `allowed_directories` says, and the default is `.tmp/` of the working
    directory, which may hold anything.
    """
    con = lake_connection(lake, defer_unreadable=True)  # other tables still answer
    con.execute(f"SET temp_directory = {quote_literal(spill)}")
    listed = ", ".join(quote_literal(path) for path in _allowed_directories(lake))
    con.execute(f"SET allowed_directories = [{listed}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET lock_configuration = true")
    return con


def _check_read_only(con: duckdb.DuckDBPyConnection, query: str) -> None:
    for statement in con.extract_statements(query):
        if statement.type not in READ_STATEMENTS:
            text = " ".join(statement.query.split())
            shown = text[:60] + ("..." if len(text) > 60 else "")
            kind = statement.type.name.replace("_", " ")
            raise SqlRefusedError(
                f"{kind} statement refused ({shown!r}): voice-monitor sql only reads the lake "
                "(SELECT, WITH, DESCRIBE, SHOW, SUMMARIZE); pass --allow-writes to run it with "
                "full access (trusted use only)")


def run_query(lake: Lake | str, query: str, limit: int | None = None,
              allow_writes: bool = False) -> SqlResult:
    """Run `query` over the lake's views; keep at most `limit` rows (None: every row).

    Read-only and lake-only unless `allow_writes`. Errors (DuckDB's included) are ValueErrors
    with a one-line message.
    """
    lake = open_lake(lake)  # a Lake or a path; one that holds no lake is NoLakeError
    if limit is not None and (not whole_number(limit) or limit < 1):
        raise ValueError(f"limit {limit!r} must be a positive integer, or None for every row")
    _check_text(query)
    # a file compacted away between listing and reading: run the statement again (a new glob)
    return retrying(lake, lambda: _run(lake, query, limit, allow_writes))


def _check_text(query) -> None:
    """DuckDB takes a query as UTF-8 text; anything else was a bare TypeError from its binding
    (a byte that is not UTF-8 in a shell argument arrives as a lone surrogate)."""
    if not isinstance(query, str):
        raise ValueError(f"query {query!r} is not text; pass the SQL as a str")
    try:
        query.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = query[exc.start]
        shown = (f"the byte 0x{ord(bad) - 0xDC00:02x}" if 0xDC80 <= ord(bad) <= 0xDCFF
                 else repr(bad))
        raise ValueError(f"query is not valid UTF-8 text: {shown} at character {exc.start + 1} "
                         f"({query[max(0, exc.start - 20):exc.start]!r} before it); write the "
                         "query in UTF-8") from None


def _run(lake: Lake, query: str, limit: int | None, allow_writes: bool) -> SqlResult:
    spill = None if allow_writes else tempfile.mkdtemp(prefix="voice-monitor-sql-")
    try:
        return _run_on(lake, query, limit, allow_writes, spill)
    finally:
        if spill:
            shutil.rmtree(spill, ignore_errors=True)


def _run_on(lake: Lake, query: str, limit: int | None, allow_writes: bool,
            spill: str | None) -> SqlResult:
    con = (lake_connection(lake, defer_unreadable=True) if allow_writes
           else read_only_connection(lake, spill))
    try:
        statements = len(con.extract_statements(query))
        if not statements:  # empty, only `;` or only comments
            raise ValueError(f"no SQL statement in {query!r}; pass a query, e.g. "
                             "voice-monitor sql \"select count(*) from events\"")
        if not allow_writes:
            _check_read_only(con, query)
        result = con.execute(query)
        if result.description is None:
            return SqlResult([], [], False, statements)
        columns = [d[0] for d in result.description]
        # DuckDB's fetchmany takes a 64-bit count: a larger limit is every row anyway
        rows = (result.fetchall() if limit is None or limit >= _ALL_ROWS
                else result.fetchmany(limit + 1))
    except duckdb.Error as exc:  # not ValueErrors: report them as one line, naming the cause
        if vanished(lake, exc):
            raise  # `retrying` runs the statement again
        unreadable = unreadable_error(lake, exc)
        if unreadable is not None:
            raise unreadable from exc
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        message = f"SQL failed: {lines[0] if lines else type(exc).__name__}"
        if isinstance(exc, duckdb.PermissionException) and not allow_writes:
            message += (f"; voice-monitor sql reads only the lake's files (under {lake.root}); "
                        "pass --allow-writes for full access (trusted use only)")
        raise ValueError(message) from exc
    finally:
        con.close()
    truncated = limit is not None and len(rows) > limit
    return SqlResult(columns, rows[:limit] if truncated else rows, truncated, statements)
