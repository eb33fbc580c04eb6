"""An unreadable file in the alert log does not silence the health checks (contract §9: each
check runs in isolation; §4: an unreadable lake file never stops the rest of the lake and
raises a `lake_file_unreadable` alert naming it).

A truncated `alerts/date=…/*.parquet` (a crash of the disk, a bad copy) failed every
`alerts check` run as a whole, before any alert was stored: a circuit breaker opening, a
failure spike, and the unreadable file itself all went unreported, run after run.
"""

from __future__ import annotations

from datetime import timedelta

import duckdb
from conftest import NOW, event, run_main

from voice_monitor.health.alerts import run_checks
from voice_monitor.health.checks import AlertConfig
from voice_monitor.landing import land_records

CHECKS = AlertConfig(checks=("circuit_breaker_open", "lake_file_unreadable"))
M = timedelta(minutes=1)


def _truncate_one_alert_file(lake) -> str:
    """Cut the one alert-log file to 100 bytes; its path relative to the lake."""
    [path] = sorted(lake.alerts_dir.glob("date=*/*.parquet"))
    path.write_bytes(path.read_bytes()[:100])
    return str(path.relative_to(lake.root))


def _stored(lake) -> list[tuple]:
    """(alert_type, record_type) of the readable alert-log files, read with plain DuckDB."""
    rows = []
    for path in sorted(lake.alerts_dir.glob("date=*/*.parquet")):
        if path.stat().st_size > 100:
            rows += duckdb.sql(f"select alert_type, record_type from read_parquet('{path}')"
                               ).fetchall()
    return sorted(rows)


def test_an_unreadable_alert_file_is_alerted_on_and_the_checks_still_raise(lake):
    land_records(lake, [event("circuit_breaker_opened", NOW - 60 * M)], now=NOW - 60 * M)
    first = run_checks(lake, NOW - 55 * M, CHECKS)
    assert [a.alert_type for a in first.raised] == ["circuit_breaker_open"]
    bad = _truncate_one_alert_file(lake)

    report = run_checks(lake, NOW, CHECKS)

    assert report.errors == {}
    raised = {a.alert_type: a for a in report.raised}
    # the file held the active breaker alert, which cannot be read: raised again, loudly
    assert set(raised) == {"circuit_breaker_open", "lake_file_unreadable"}
    assert bad in raised["lake_file_unreadable"].message
    assert _stored(lake) == [("circuit_breaker_open", "raised"),
                             ("lake_file_unreadable", "raised")]
    # and the next run keeps them, raising nothing twice
    again = run_checks(lake, NOW + 5 * M, CHECKS)
    assert (again.raised, again.resolved, again.errors) == ([], [], {})


def test_cli_check_reports_the_file_and_exits_zero(lake, capsys):
    land_records(lake, [event("circuit_breaker_opened", NOW - 60 * M)], now=NOW - 60 * M)
    run_checks(lake, NOW - 55 * M, CHECKS)
    bad = _truncate_one_alert_file(lake)
    code, out, err = run_main(capsys, "alerts", "check", "--lake", str(lake.root),
                              "--now", "2026-02-16T14:30:00Z", "--json")
    assert code == 0, err
    assert bad in out and "lake_file_unreadable" in out
