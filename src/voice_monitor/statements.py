"""Parsed SQL statements, kept by their text: a query run again (the rule queries, once per
batch shape, on every landing) is bound and run without being parsed again.

A parsed statement belongs to no connection; DuckDB binds it afresh on each run, so it reads
whatever table is registered under its names at that moment.
"""

from __future__ import annotations

import duckdb

_LIMIT = 256
_PARSED: dict[str, object] = {}


def parsed(con: duckdb.DuckDBPyConnection, sql: str):
    """The one statement `sql` holds, parsed once per process."""
    statement = _PARSED.get(sql)
    if statement is None:
        if len(_PARSED) >= _LIMIT:  # shapes are few; a flood of one-off texts must not grow it
            _PARSED.clear()
        [statement] = con.extract_statements(sql)
        _PARSED[sql] = statement
    return statement
