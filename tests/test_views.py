"""SQL views: present on an empty lake, de-duplicated events, the catalog file, `sql` command."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from conftest import NOW, event

from voice_monitor.landing import land_records
from voice_monitor.views import (
    ALERT_COLUMNS,
    PIPELINE_COLUMNS,
    STAGE_COLUMNS,
    VIEWS,
    lake_connection,
    write_catalog,
)

CLI = str(Path(sys.executable).parent / "voice-monitor")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=120)


def test_every_view_exists_on_an_empty_lake(lake):
    con = lake_connection(lake)
    columns = {view: con.sql(f"select * from {view}").columns for view in VIEWS}
    # the contract's columns, with `scope` beside organization_id (contract §10)
    with_scope = {"organization_id": ["organization_id", "scope"]}
    assert columns["pipeline_hourly"] == [
        c for name, _ in PIPELINE_COLUMNS for c in with_scope.get(name, [name])]
    assert columns["stage_daily"] == [
        c for name, _ in STAGE_COLUMNS for c in with_scope.get(name, [name])]
    assert columns["organizations"] == ["organization_id", "name"]
    assert columns["quarantine"] == ["raw", "reason", "reason_category", "source", "received_at",
                                     "date"]
    assert columns["events"][:3] == ["event_id", "event_type", "timestamp"]
    assert columns["events"][-2:] == ["date", "hour"]
    assert "status" in columns["alerts"] and "alert_id" in columns["alerts"]
    assert {name for name, _ in ALERT_COLUMNS} >= {"record_id", "record_type", "alert_id"}
    # typed, not just named: a timestamp comparison must bind
    assert con.sql("select count(*) from events where timestamp > now()").fetchall() == [(0,)]


@pytest.fixture
def small_lake(lake):
    first = event("artifact_received", NOW, event_id="x1", organization_id="org-1")
    land_records(lake, [first, event("artifact_completed", NOW, event_id="x2")], now=NOW)
    # a later copy of x1 (same hour) that differs, and a bad record for quarantine
    land_records(lake, [{**first, "organization_id": "org-2"}, {"event_type": "nope"}], now=NOW)
    return lake


def test_events_view_counts_each_event_once_first_landed_wins(small_lake):
    con = lake_connection(small_lake)
    assert con.sql("select count(*) from raw_events").fetchall() == [(3,)]
    rows = con.sql("select event_id, organization_id from events order by event_id").fetchall()
    assert rows == [("x1", "org-1"), ("x2", None)]
    assert con.sql("select count(*) from quarantine").fetchall() == [(1,)]
    assert con.sql("select hour, date from events limit 1").fetchall()[0][0] == 14


def test_snapshot_views_name_the_scope_of_each_row(small_lake):
    from voice_monitor.rollups import run_daily, run_hourly

    hour = NOW.replace(minute=0)
    run_hourly(small_lake, hour=hour, now=NOW + timedelta(hours=1))
    run_daily(small_lake, day=hour.replace(hour=0), now=NOW + timedelta(days=1))
    con = lake_connection(small_lake)
    # x1 (first copy: org-1) and x2 (no organization): the platform row plus org-1's row;
    # an event without organization never gets an 'organization' row of its own
    busy = "where event_count > 0 or organization_id is not null"  # the daily built all 24 hours
    for view in ("pipeline_hourly", "pipeline_daily"):
        rows = con.sql(f"select scope, organization_id, event_count from {view} {busy} "
                       "order by scope desc").fetchall()
        assert rows == [("platform", None, 2), ("organization", "org-1", 1)], view
    assert con.sql("select distinct scope from pipeline_hourly where organization_id is null"
                   ).fetchall() == [("platform",)]
    for view in ("stage_hourly", "stage_daily"):
        rows = con.sql(f"select scope, count(*) from {view} where period_start <= $h "
                       "and period_end > $h group by all order by 1 desc",
                       params={"h": hour}).fetchall()
        assert rows == [("platform", 4), ("organization", 4)], view


def test_catalog_file_opens_in_a_fresh_duckdb_process(small_lake, tmp_path):
    path = write_catalog(small_lake, tmp_path / "cat" / "monitor.duckdb")
    script = ("import duckdb, json, sys; con = duckdb.connect(sys.argv[1], read_only=True); "
              "print(json.dumps(con.sql('select event_id from events order by 1').fetchall()))")
    out = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [["x1"], ["x2"]]
    # events landing later show through the catalog's globs without rewriting it
    land_records(small_lake, [event("artifact_received", NOW, event_id="x3")], now=NOW)
    con = duckdb.connect(str(path), read_only=True)
    assert con.sql("select count(*) from events").fetchall() == [(3,)]
    views = {r[0] for r in con.sql("select view_name from duckdb_views() where not internal")
             .fetchall()}
    assert set(VIEWS) <= views
    # written in the v1.0 storage format, so DuckDB 1.x clients can open it too
    tags = con.sql("select tags from duckdb_databases() where path is not null").fetchall()
    assert tags == [({"storage_version": "v1.0.0+"},)]


def test_sql_command_json_csv_and_errors(small_lake):
    lake = str(small_lake.root)
    out = run_cli("sql", "select event_id, timestamp from events order by 1", "--json",
                  "--lake", lake)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [{"event_id": "x1", "timestamp": "2026-02-16T14:30:00Z"},
                                      {"event_id": "x2", "timestamp": "2026-02-16T14:30:00Z"}]
    out = run_cli("sql", "select event_id from events order by 1", "--csv", "--lake", lake)
    assert out.stdout == "event_id\nx1\nx2\n"
    out = run_cli("sql", "select * from no_such_view", "--lake", lake)
    assert out.returncode == 1
    assert out.stderr.startswith("voice-monitor: error: SQL failed:")
    assert len(out.stderr.strip().splitlines()) == 1


def test_alerts_view_matches_the_alert_api(lake):
    from voice_monitor.health.alerts import acknowledge_alert, active_alerts, run_checks

    land_records(lake, [event("circuit_breaker_opened", NOW - timedelta(minutes=5))], now=NOW)
    run_checks(lake, now=NOW)
    [breaker] = [a for a in active_alerts(lake) if a.alert_type == "circuit_breaker_open"]
    acknowledge_alert(lake, breaker.alert_id, by="ana")
    con = lake_connection(lake)
    rows = con.sql("select alert_id, status, severity, acknowledged_by from alerts "
                   "where alert_type = 'circuit_breaker_open'").fetchall()
    assert rows == [(breaker.alert_id, "active", "critical", "ana")]
    api = {(a.alert_id, a.alert_type, a.status) for a in active_alerts(lake)}
    sql = set(con.sql("select alert_id, alert_type, status from alerts where status = 'active'")
              .fetchall())
    assert sql == api


def test_write_catalog_given_a_folder_or_nothing_raises_naming_a_file_to_give(lake, tmp_path):
    # only the CLI refused a folder: write_catalog(lake, '/tmp') was IsADirectoryError naming
    # its temporary file, and 'exports/' (a folder not there yet) wrote a file named 'exports'
    folder = tmp_path / "out"
    folder.mkdir()
    for given, line in [
        (str(folder), f"catalog path '{folder}' is a folder; name a file in it, e.g. "
                      f"'{folder}/catalog.duckdb'"),
        (folder, f"catalog path '{folder}' is a folder; name a file in it, e.g. "
                 f"'{folder}/catalog.duckdb'"),
        (f"{tmp_path}/exports/", f"catalog path '{tmp_path}/exports/' is a folder; name a file "
                                 f"in it, e.g. '{tmp_path}/exports/catalog.duckdb'"),
        ("", "catalog path '' is empty; name a file, e.g. 'catalog.duckdb'"),
    ]:
        with pytest.raises(ValueError) as raised:
            write_catalog(lake, given)
        assert str(raised.value) == line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lake", "out"]  # nothing written
    assert list(folder.iterdir()) == []
    # the fix it names works
    assert write_catalog(lake, folder / "catalog.duckdb") == folder / "catalog.duckdb"
