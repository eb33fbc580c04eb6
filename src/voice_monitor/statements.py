"""Parsed SQL statements, kept by their text: a query run again (the rule queries, once per
batch shape, on every landing) is bound and run without being parsed again.

A parsed statement belongs to no connection; DuckDB binds it afresh on each run, so it reads
whatever table is registered under its names at that moment.

A query over a few rows (the records the fast path doubts) costs almost only its parse and
binds, which for the full rule query are ~50 CPU ms however few the rows: `run_prepared` runs
it as a statement prepared once per connection (DuckDB binds it again on each EXECUTE, but
it is parsed once and bound once a run instead of twice).
"""

from __future__ import annotations

import atexit
import itertools
import re
import threading
import weakref
from datetime import UTC, datetime

import duckdb
import pyarrow as pa

_LIMIT = 256
_PARSED: dict[str, object] = {}
# released before the interpreter tears its modules down: a statement still held then outlived
# DuckDB's module, and nanobind listed it on stderr ('nanobind: leaked 1 instances! ... of type
# "_duckdb.Statement"', a dozen lines) at the end of a serve or ingest that had parsed one
atexit.register(_PARSED.clear)


def parsed(con: duckdb.DuckDBPyConnection, sql: str):
    """The one statement `sql` holds, parsed once per process."""
    statement = _PARSED.get(sql)
    if statement is None:
        if len(_PARSED) >= _LIMIT:  # shapes are few; a flood of one-off texts must not grow it
            _PARSED.clear()
        [statement] = con.extract_statements(sql)
        _PARSED[sql] = statement
    return statement


# connection -> {query text: the name it is prepared under on that connection}
_PREPARED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_PREPARED_LIMIT = 64  # per connection (the rule queries: one per batch shape, and shapes are few)
_names = itertools.count()
_guard = threading.Lock()


def run_prepared(con: duckdb.DuckDBPyConnection, sql: str, times: dict[str, datetime]) -> pa.Table:
    """The rows of the SELECT `sql`, whose parameters are the instants `times` (`$name`, each
    read as a TIMESTAMPTZ): the same rows as `con.sql(sql, params=times)`, from a statement
    prepared once on `con`."""
    with _guard:
        mine = _PREPARED.setdefault(con, {})
        name = mine.get(sql)
    if name is None:
        if len(mine) >= _PREPARED_LIMIT:
            for old in list(mine.values()):
                con.execute(f"DEALLOCATE {old}")
            mine.clear()
        name = f"vm_prepared_{next(_names)}"
        typed = sql
        for key in times:  # `$now`, not the start of a longer name such as `$now_ms`
            typed = re.sub(rf"\${key}\b", f"CAST(${key} AS TIMESTAMPTZ)", typed)
        con.execute(f"PREPARE {name} AS {typed}")
        mine[sql] = name
    # the values are ours (instants), written as typed literals: EXECUTE takes no parameters
    values = ", ".join(f"{key} := TIMESTAMPTZ '{at.astimezone(UTC).isoformat()}'"
                       for key, at in times.items())
    return con.sql(f"EXECUTE {name}({values})" if values else f"EXECUTE {name}").to_arrow_table()
