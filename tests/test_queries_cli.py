"""The same question gets the same answer from Python, the CLI (--json) and `voice-monitor sql`.

The lake is built with real landing and real hourly rollups; CLI runs are real subprocesses.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import NOW, event

from voice_monitor.lake import Lake
from voice_monitor.landing import land_records
from voice_monitor.queries import historical_metrics, org_breakdown, recent_events, stage_breakdown
from voice_monitor.rollups import run_hourly

CLI = str(Path(sys.executable).parent / "voice-monitor")
EVIL = "o'; drop view events; --"
START, END = "2026-02-16T12:00:00Z", "2026-02-16T14:00:00Z"


def at(hh: int, mm: int) -> datetime:
    return datetime(2026, 2, 16, hh, mm, tzinfo=UTC)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=120)


def cli_json(*args: str):
    out = run_cli(*args)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def iso(value):
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if isinstance(
        value, datetime) else value


@pytest.fixture(scope="module")
def rolled_lake(tmp_path_factory) -> Lake:
    lake = Lake(tmp_path_factory.mktemp("cli") / "lake")
    records = [
        event("artifact_received", at(12, 0), artifact_id="a1", organization_id="org-1"),
        event("transcription_started", at(12, 1), artifact_id="a1", organization_id="org-1"),
        event("transcription_completed", at(12, 2), artifact_id="a1", organization_id="org-1",
              duration_ms=100),
        event("artifact_received", at(13, 0), artifact_id="a2", organization_id=EVIL),
        event("transcription_started", at(13, 1), artifact_id="a2", organization_id=EVIL),
        event("transcription_completed", at(13, 9), artifact_id="a2", organization_id=EVIL,
              duration_ms=300),
        event("transcription_failed", at(13, 20), artifact_id="a3", organization_id=EVIL,
              error_code="E'1"),
        event("artifact_received", at(13, 30), artifact_id="a3", organization_id=EVIL),
    ]
    land_records(lake, records, now=NOW)
    for hour in (12, 13):
        run_hourly(lake, now=NOW, hour=at(hour, 0))
    return lake


def test_stage_breakdown_merges_hourly_latencies(rolled_lake):
    frame = stage_breakdown(rolled_lake, START, END)
    transcription = frame.row(0, named=True)
    assert transcription["pipeline_stage"] == "transcription"
    assert (transcription["started"], transcription["succeeded"], transcription["failed"]) == (2, 2, 1)
    assert transcription["failure_rate"] == pytest.approx(1 / 3)
    assert transcription["latency_count"] == 2 and transcription["latency_avg_ms"] == 200.0
    # two latencies, 100 and 300 (the extremes are kept exactly): rank q·(n−1) interpolation
    assert transcription["latency_p50_ms"] == pytest.approx(200.0)
    assert transcription["latency_p95_ms"] == pytest.approx(290.0)
    assert transcription["latency_p99_ms"] == pytest.approx(298.0)


def test_recent_events_same_in_python_cli_and_sql(rolled_lake):
    lake = str(rolled_lake.root)
    python = [(r["event_id"], r["event_type"], iso(r["timestamp"]))
              for r in recent_events(rolled_lake, organization_id=EVIL).rows.to_dicts()]
    cli = [(r["event_id"], r["event_type"], r["timestamp"])
           for r in cli_json("events", "recent", "--org", EVIL, "--json", "--lake", lake)["rows"]]
    quoted = EVIL.replace("'", "''")
    sql = [(r["event_id"], r["event_type"], r["timestamp"]) for r in cli_json(
        "sql", "select event_id, event_type, timestamp from events "
        f"where organization_id = '{quoted}' order by timestamp desc, event_id desc",
        "--json", "--lake", lake)]
    assert len(python) == 5  # a2's three events and a3's two
    assert python == cli == sql


def test_metrics_same_in_python_cli_and_sql(rolled_lake, capsys):
    # the CLI in-process here (same code path; the subprocess boundary is covered above)
    lake = str(rolled_lake.root)

    def cli_json(*args):
        return json.loads(run_main(capsys, *args))

    python = [(iso(r["period_start"]), r["artifacts_received"], r["event_count"])
              for r in historical_metrics(rolled_lake, START, END).to_dicts()]
    cli = [(r["period_start"], r["artifacts_received"], r["event_count"]) for r in cli_json(
        "metrics", "historical", "--start", START, "--end", END, "--json", "--lake", lake)]
    sql = [(r["period_start"], r["artifacts_received"], r["event_count"]) for r in cli_json(
        "sql", "select period_start, artifacts_received, event_count from pipeline_hourly "
        "where organization_id is null order by period_start", "--json", "--lake", lake)]
    # 12:00: a1 received, 3 events; 13:00: a2 and a3 received, 5 events
    assert python == cli == sql == [("2026-02-16T12:00:00Z", 1, 3), ("2026-02-16T13:00:00Z", 2, 5)]
    py_orgs = [(r["organization_id"], r["name"], r["artifacts_received"])
               for r in org_breakdown(rolled_lake, START, END).to_dicts()]
    cli_orgs = [(r["organization_id"], r["name"], r["artifacts_received"]) for r in cli_json(
        "metrics", "orgs", "--start", START, "--end", END, "--json", "--lake", lake)]
    sql_orgs = [(r["organization_id"], r["artifacts_received"]) for r in cli_json(
        "sql", "select organization_id, sum(artifacts_received)::BIGINT as artifacts_received "
        "from pipeline_hourly where organization_id is not null group by 1 "
        "order by 2 desc, 1", "--json", "--lake", lake)]
    assert py_orgs == cli_orgs == [(EVIL, "Unknown", 2), ("org-1", "Unknown", 1)]
    assert sql_orgs == [(o, n) for o, _, n in py_orgs]


def test_cli_errors_are_one_line(rolled_lake, tmp_path):
    lake = str(rolled_lake.root)
    out = run_cli("events", "recent", "--type", "nope", "--lake", lake)
    assert out.returncode == 2 and "unknown event type 'nope'" in out.stderr  # a usage error
    assert len(out.stderr.strip().splitlines()) == 1
    out = run_cli("events", "recent", "--cursor", "garbage", "--lake", lake)
    assert out.returncode == 1 and "bad cursor 'garbage'" in out.stderr
    bad = tmp_path / "orgs.csv"
    bad.write_text("organization_id,name\norg-1,Acme\norg-1,Again\n")
    out = run_cli("orgs", "load", str(bad), "--lake", lake)
    assert out.returncode == 1 and "line 3: organization_id 'org-1' repeats line 2" in out.stderr


def test_events_recent_reads_the_log_as_it_was_at_now(rolled_lake):
    # contract §2/§10/§11: a reading command that depends on time takes --now, and a read at a
    # now in the past sees only events stamped at or before it; `events recent` had no --now
    # (the API's /events has one). At 13:09 the events stamped 13:09 and before are 6 (a1's
    # three, a2's three), newest first; 13:20 and 13:30 are later
    lake = str(rolled_lake.root)
    page = cli_json("events", "recent", "--now", "2026-02-16T13:09:00Z", "--json", "--lake", lake)
    assert [r["timestamp"] for r in page["rows"]] == [
        "2026-02-16T13:09:00Z", "2026-02-16T13:01:00Z", "2026-02-16T13:00:00Z",
        "2026-02-16T12:02:00Z", "2026-02-16T12:01:00Z", "2026-02-16T12:00:00Z"]
    # an earlier --end stays; a later one is cut at now
    page = cli_json("events", "recent", "--now", "2026-02-16T13:09:00Z", "--end",
                    "2026-02-16T13:00:00Z", "--json", "--lake", lake)
    assert len(page["rows"]) == 3
    page = cli_json("events", "recent", "--now", "2026-02-16T12:01:00Z", "--end",
                    "2026-02-16T18:00:00Z", "--limit", "1", "--json", "--lake", lake)
    assert [r["timestamp"] for r in page["rows"]] == ["2026-02-16T12:01:00Z"]
    # the next page, with the same --now, goes on where this one stopped
    rest = cli_json("events", "recent", "--now", "2026-02-16T12:01:00Z", "--end",
                    "2026-02-16T18:00:00Z", "--cursor", page["next_cursor"], "--json",
                    "--lake", lake)
    assert [r["timestamp"] for r in rest["rows"]] == ["2026-02-16T12:00:00Z"]
    # a start after now is one usage line naming both
    out = run_cli("events", "recent", "--now", "2026-02-16T12:00:00Z", "--start",
                  "2026-02-16T13:00:00Z", "--lake", lake)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert "--start 2026-02-16T13:00:00Z is after --now 2026-02-16T12:00:00Z" in out.stderr


@pytest.mark.parametrize("command", ["historical", "stages", "orgs"])
def test_a_start_after_now_without_end_names_now_not_an_end(rolled_lake, command):
    # the range ends at now when --end is not given: it said "start ... is not before end
    # 2026-02-16T14:30:00Z; swap them", an end the user never gave
    out = run_cli("metrics", command, "--start", "2026-02-17T00:00:00Z", "--now",
                  "2026-02-16T14:30:00Z", "--lake", str(rolled_lake.root))
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert ("--start 2026-02-17T00:00:00Z is not before now 2026-02-16T14:30:00Z, where the "
            "range ends without --end; give an --end after it, or a start before now") in out.stderr


def run_main(capsys, *args: str):
    """The CLI in-process (cheaper than a subprocess for the remaining commands)."""
    from voice_monitor.cli import main

    main(list(args))
    return capsys.readouterr().out


def test_other_commands_print_json_and_tables(rolled_lake, capsys, tmp_path):
    lake = str(rolled_lake.root)
    timeline = json.loads(run_main(capsys, "events", "timeline", "a2", "--json", "--lake", lake))
    assert [r["event_type"] for r in timeline] == [
        "artifact_received", "transcription_started", "transcription_completed"]
    # --now: a2 as it was at 13:01, its transcription started (at that moment) and not done
    then = json.loads(run_main(capsys, "events", "timeline", "a2", "--now", "2026-02-16T13:01:00Z",
                               "--json", "--lake", lake))
    assert [r["event_type"] for r in then] == ["artifact_received", "transcription_started"]
    # a1, a2, a3 were received and none finished; a3's only staged events: failure at 13:20,
    # received (ingestion) at 13:30 -> current stage ingestion
    active = json.loads(run_main(capsys, "artifacts", "active", "--now", "2026-02-16T14:30:00Z",
                                 "--json", "--lake", lake))
    assert [r["artifact_id"] for r in active["rows"]] == ["a1", "a2", "a3"]
    assert [r["current_stage"] for r in active["rows"]] == [
        "transcription", "transcription", "ingestion"]
    assert active["next_cursor"] is None
    failed = json.loads(run_main(capsys, "artifacts", "failed", "--json", "--lake", lake))
    assert failed == {"rows": [], "next_cursor": None}  # no artifact_failed event
    stages = json.loads(run_main(capsys, "metrics", "stages", "--start", START, "--end", END,
                                 "--json", "--lake", lake))
    assert [r["pipeline_stage"] for r in stages][0] == "transcription"
    table = run_main(capsys, "events", "recent", "--limit", "2", "--lake", lake)
    # the two newest: a3 received at 13:30 and its transcription failure at 13:20
    assert "2026-02-16 13:30:00Z" in table and "transcription_failed" in table
    assert "transcription_completed" not in table  # the third newest, 13:09
    assert "next page: --cursor " in table
    out = run_main(capsys, "catalog", str(tmp_path / "c.duckdb"), "--lake", lake)
    assert out.startswith("wrote ") and (tmp_path / "c.duckdb").is_file()
