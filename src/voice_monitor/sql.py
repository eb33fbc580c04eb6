"""Load SQL files from `sql/` and run them with bound parameters.

User input never becomes SQL text: values travel as DuckDB parameters (`$hour_start`, ...).
The files live in the repository's top-level `sql/`; a built wheel carries them as package data
under `voice_monitor/_sql/` (pyproject's force-include), read with `importlib.resources`, so an
installed package works from any directory. A source checkout (editable install) reads `sql/`.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import duckdb

PACKAGED = "_sql"  # the folder name of sql/ inside a built wheel


@cache
def sql_root() -> Traversable:
    """The folder holding the SQL files: the wheel's package data, else the checkout's sql/."""
    packaged = resources.files("voice_monitor") / PACKAGED
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "sql"


@cache
def load_sql(name: str) -> str:
    """The text of `sql/<name>.sql`, e.g. load_sql("rollups/pipeline_hourly")."""
    path = sql_root().joinpath(*f"{name}.sql".split("/"))
    if not path.is_file():
        raise FileNotFoundError(f"no SQL file {name!r} at {path}; expected it under {sql_root()}")
    return path.read_text(encoding="utf-8")


def sql_names(folder: str) -> list[str]:
    """Names (without .sql) of the SQL files in `sql/<folder>/`, sorted."""
    return sorted(entry.name[:-4] for entry in sql_root().joinpath(folder).iterdir()
                  if entry.name.endswith(".sql"))


def run_sql(con: duckdb.DuckDBPyConnection, name: str, **params) -> duckdb.DuckDBPyRelation:
    """A relation for the query in `sql/<name>.sql` with `params` bound by name."""
    return con.sql(load_sql(name), params=params or None)
