"""Data-quality rules over the snapshots: each file in sql/quality/ is a query that returns zero
rows when the data is right. They run in the hourly and daily flows, as `voice-monitor check data`
and from here."""

from __future__ import annotations

from voice_monitor.lake import Lake
from voice_monitor.sql import run_sql, sql_names


def rule_names() -> list[str]:
    """Names of the data-quality rules in sql/quality/ (each returns zero rows when right)."""
    return sql_names("quality")


def check_snapshots(lake: Lake, skip: tuple[str, ...] = ()) -> dict[str, list[tuple]]:
    """Run every rule of sql/quality/ but `skip` over the lake's snapshots: name -> offending rows."""
    from voice_monitor.views import lake_connection  # the views module owns view DDL

    # the rules read snapshots only: an unreadable file of another table (an event, an alert,
    # organizations.parquet) fails only a query that reads its table, never the rules
    con = lake_connection(lake, defer_unreadable=True)
    try:
        return {name: run_sql(con, f"quality/{name}").fetchall() for name in rule_names()
                if name not in skip}
    finally:
        con.close()
