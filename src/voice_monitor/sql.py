"""Load SQL files from `sql/` and run them with bound parameters.

User input never becomes SQL text: values travel as DuckDB parameters (`$hour_start`, ...).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import duckdb

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"


@cache
def load_sql(name: str) -> str:
    """The text of `sql/<name>.sql`, e.g. load_sql("rollups/pipeline_hourly")."""
    path = SQL_DIR / f"{name}.sql"
    if not path.is_file():
        raise FileNotFoundError(f"no SQL file {name!r} at {path}; expected it under {SQL_DIR}")
    return path.read_text()


def run_sql(con: duckdb.DuckDBPyConnection, name: str, **params) -> duckdb.DuckDBPyRelation:
    """A relation for the query in `sql/<name>.sql` with `params` bound by name."""
    return con.sql(load_sql(name), params=params or None)
