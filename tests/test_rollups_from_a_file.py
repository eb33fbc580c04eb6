"""An outside check of contract §2, §3 and §6: a JSON Lines file written by hand (offsets other
than Z, epoch milliseconds, camelCase, a differing copy), landed and rolled up by the console
script on a machine whose TZ is far from UTC, read three ways (SQL, the CLI, Python) against
rows worked out by hand."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

import voice_monitor

SCRIPT = Path(sys.executable).parent / "voice-monitor"
NOW = "2026-02-16T15:30:00Z"  # hours 13:00 and 14:00 complete

LINES = [
    # 13:05Z, org-b; camelCase names
    {"eventId": "o1", "eventType": "artifact_received", "timestamp": "2026-02-16T15:05:00+02:00",
     "artifactId": "A1", "organizationId": "org-b"},
    # 13:59:59.999Z: the last millisecond of hour 13, though 08:59 local; no organization
    {"event_id": "o2", "event_type": "artifact_received",
     "timestamp": "2026-02-16T08:59:59.999-05:00", "artifact_id": "A2"},
    # 13:20Z; durationMs and camelCase metadata (aiCost is ai_cost_usd)
    {"eventId": "o3", "eventType": "claims_extracted", "timestamp": "2026-02-16T14:20:00+01:00",
     "artifactId": "A1", "organizationId": "org-b", "durationMs": 1500,
     "metadata": {"claimCount": 3, "confidenceScore": 0.6, "aiCost": 0.125}},
    # 13:55Z
    {"event_id": "o4", "event_type": "transcription_started",
     "timestamp": "2026-02-16T13:55:00+00:00", "artifact_id": "A2"},
    # 1771250460000 ms = 14:01Z: paired with the 13:55 start of the hour before, 360,000 ms
    {"event_id": "o5", "event_type": "transcription_completed", "timestamp": 1771250460000,
     "artifact_id": "A2", "metadata": {"confidence_score": 0.9, "ai_cost_usd": 0.25}},
    # 14:00Z exactly (hour 14): end to end 14:00 - 13:05 = 3,300,000 ms
    {"eventId": "o6", "eventType": "artifact_completed", "timestamp": "2026-02-16T19:30:00+05:30",
     "artifactId": "A1", "organizationId": "org-b"},
    # a copy of o3 in the same hour, differing: the first landed wins
    {"eventId": "o3", "eventType": "claims_extracted", "timestamp": "2026-02-16T13:20:00Z",
     "artifactId": "A1", "organizationId": "org-b", "metadata": {"claimCount": 99, "aiCost": 9}},
    # 14:59:59.999Z, a cost on a system event
    {"event_id": "o7", "event_type": "rate_limit_hit",
     "timestamp": "2026-02-16T14:59:59.999+00:00", "metadata": {"aiCost": 0.5}},
]

H13, H14 = "2026-02-16T13:00:00Z", "2026-02-16T14:00:00Z"
COLUMNS = ("event_count", "artifacts_received", "artifacts_completed", "e2e_latency_count",
           "e2e_latency_avg_ms", "avg_transcript_confidence", "avg_claim_confidence",
           "claims_extracted_total", "total_ai_cost_usd", "avg_cost_per_artifact_usd")
EXPECTED = {  # (hour, organization) -> the COLUMNS, by hand
    (H13, None): (4, 2, 0, 0, 0.0, 0.0, 0.6, 3, 0.125, 0.0625),  # o1 o2 o3 o4; 0.125 / 2
    (H13, "org-b"): (2, 1, 0, 0, 0.0, 0.0, 0.6, 3, 0.125, 0.125),  # o1 o3
    (H14, None): (3, 0, 1, 1, 3_300_000.0, 0.9, 0.0, 0, 0.75, 0.0),  # o5 o6 o7; 0.25 + 0.5
    (H14, "org-b"): (1, 0, 1, 1, 3_300_000.0, 0.0, 0.0, 0, 0.0, 0.0),  # o6
}
STAGES = {  # (hour, stage) -> started, succeeded, latency_count, latency_avg_ms (platform)
    (H13, "transcription"): (1, 0, 0, 0.0),
    (H13, "claims_extraction"): (0, 1, 1, 1500.0),
    (H14, "transcription"): (0, 1, 1, 360_000.0),
    (H14, "claims_extraction"): (0, 0, 0, 0.0),
}


def run(lake: Path, *args: str) -> str:
    # a machine whose clock reads 13:45 ahead of UTC: every bucket must still be UTC (§2)
    env = {**os.environ, "TZ": "Pacific/Chatham"}
    env.pop("VOICE_MONITOR_LAKE", None)
    done = subprocess.run([str(SCRIPT), *args, "--lake", str(lake)], capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("outside") / "lake"
    source = root.parent / "events.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in LINES))
    subprocess.run([str(SCRIPT), "init", str(root)], check=True, capture_output=True)
    assert run(root, "ingest", str(source), "--now", NOW).strip() == (
        "accepted 8 (of which duplicate 1), quarantined 0")
    run(root, "rollup", "hourly", "--now", NOW)
    return root


def _close(row: dict) -> tuple:
    return tuple(pytest.approx(row[c]) if isinstance(row[c], float) else row[c] for c in COLUMNS)


def test_sql_views_give_the_hand_worked_rows(lake):
    rows = json.loads(run(lake, "sql", "--json", f"select strftime(period_start, '%Y-%m-%dT%H:%M:%SZ')"
                          f" as hour, organization_id, {', '.join(COLUMNS)} from pipeline_hourly "
                          "where event_count > 0 order by hour, organization_id nulls first"))
    assert {(r["hour"], r["organization_id"]): _close(r) for r in rows} == EXPECTED
    stages = json.loads(run(lake, "sql", "--json", "select strftime(period_start, "
                            "'%Y-%m-%dT%H:%M:%SZ') as hour, pipeline_stage, started, succeeded, "
                            "latency_count, latency_avg_ms from stage_hourly where scope = "
                            "'platform' and pipeline_stage in ('transcription', "
                            "'claims_extraction') and period_start in "
                            f"('{H13}'::timestamptz, '{H14}'::timestamptz)"))
    assert {(r["hour"], r["pipeline_stage"]): (r["started"], r["succeeded"], r["latency_count"],
                                               r["latency_avg_ms"]) for r in stages} == STAGES


@pytest.mark.parametrize("org", [None, "org-b"])
def test_the_cli_and_python_give_the_same_rows(lake, org):
    by_org = ["--org", org] if org else []
    cli = json.loads(run(lake, "metrics", "historical", "--start", H13, "--end",
                         "2026-02-16T15:00:00Z", "--json", *by_org))
    assert {(r["period_start"], r["organization_id"]): _close(r) for r in cli} == {
        k: v for k, v in EXPECTED.items() if k[1] == org}
    frame = voice_monitor.historical_metrics(lake, datetime(2026, 2, 16, 13, tzinfo=UTC),
                                             datetime(2026, 2, 16, 15, tzinfo=UTC),
                                             organization_id=org)
    python = {(r["period_start"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
               r["organization_id"]): _close(r) for r in frame.to_dicts()}
    assert python == {k: v for k, v in EXPECTED.items() if k[1] == org}
