"""Every command on a lake in a real S3-protocol server (`moto_server` on 127.0.0.1) answers as on
a local lake with the same events (contract §13). Slow: the store is a Python process."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lake_events import NOW, write_batches
from servers import make_bucket, s3_env, s3_server

# ids made at random when an alert is raised or a record written, and opaque cursors
RANDOM_KEYS = ("alert_id", "record_id", "next_cursor")


def _run(env: dict, *argv: str) -> str:
    """The console script, in this process (a subprocess per command costs seconds of imports),
    under `env` (the S3 settings, or none)."""
    from voice_monitor.cli import main

    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(list(argv))
                code = 0
            except SystemExit as exited:
                code = exited.code or 0
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert code == 0, (argv, err.getvalue()[-3000:])
    return out.getvalue()


def _answers(env: dict, lake: str, files: list[Path]) -> dict[str, object]:
    """Everything a user can ask, on one lake, after the same ingests and flows."""
    now = f"--now={NOW:%Y-%m-%dT%H:%M:%SZ}"
    at = ["--lake", lake, now]
    out: dict[str, object] = {}
    _run(env, "init", lake)
    for i, path in enumerate(files):
        out[f"ingest {i}"] = _run(env, "ingest", *at, str(path))
    out["rollup hourly"] = _run(env, "rollup", "hourly", *at)
    out["rollup daily"] = _run(env, "rollup", "daily", *at)
    out["rollup hourly again"] = _run(env, "rollup", "hourly", *at)
    span = ["--start", "2026-02-15T00:00:00Z", "--end", "2026-02-16T14:00:00Z", "--json"]
    for what in ("realtime", "historical", "stages", "orgs"):
        out[f"metrics {what}"] = json.loads(_run(env, "metrics", what, *at, "--json",
                                                 *(span[:4] if what != "realtime" else [])))
    out["events recent"] = json.loads(_run(env, "events", "recent", *at[:2], "--limit", "30",
                                           "--json"))
    out["artifacts failed"] = json.loads(_run(env, "artifacts", "failed", *at, "--json"))
    out["artifacts active"] = json.loads(_run(env, "artifacts", "active", *at, "--json"))
    out["alerts check"] = json.loads(_run(env, "alerts", "check", *at, "--json"))
    out["alerts list"] = json.loads(_run(env, "alerts", "list", *at[:2], "--json"))
    for table in ("pipeline_hourly", "stage_hourly", "pipeline_daily", "stage_daily"):
        keys = "period_start, organization_id" + (", pipeline_stage" if "stage" in table else "")
        out[table] = json.loads(_run(env, "sql", "--lake", lake, "--json",
                                     f"select * exclude (computed_at) from {table} "
                                     f"order by {keys}"))
    out["sql events"] = _run(env, "sql", "--lake", lake, "select count(*), "
                             "count(distinct event_id), sum(duration_ms) from events")
    out["sql quarantine"] = _run(env, "sql", "--lake", lake, "--json",
                                 "select raw, reason from quarantine order by raw")
    out["catalog"] = _run(env, "catalog", str(files[0].parent / "catalog.duckdb"), "--lake", lake)
    later = ["--lake", lake, "--now", "2026-02-18T09:10:00Z"]
    out["retention dry"] = _run(env, "retention", "--dry-run", *later)
    out["retention"] = _run(env, "retention", *later)
    out["retention again"] = _run(env, "retention", "--dry-run", *later)
    out["after retention"] = _run(env, "sql", "--lake", lake, "select count(*), "
                                  "min(timestamp) from events")
    return out


def _strip(value, lake: str):
    """The answer without the lake's name and the wall-clock columns."""
    if isinstance(value, dict):
        return {k: _strip(v, lake) for k, v in value.items()
                if k not in ("computed_at", "ingested_at", "lake", *RANDOM_KEYS)}
    if isinstance(value, list):
        return [_strip(v, lake) for v in value]
    return value.replace(lake, "LAKE") if isinstance(value, str) else value


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_every_command_on_an_s3_lake_answers_as_on_a_local_lake(tmp_path):
    files = write_batches(tmp_path)
    with s3_server(tmp_path) as endpoint:
        make_bucket(endpoint, "lakes")
        base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        base.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", TZ="America/New_York",
                    VOICE_MONITOR_STATE_DIR=str(tmp_path / "state"))
        base.pop("VOICE_MONITOR_COUNTERS", None)
        local = _answers(base, str(tmp_path / "local"), files)
        s3 = "s3://lakes/team/prod"
        remote = _answers({**base, **s3_env(endpoint)}, s3, files)
        outside = subprocess.run(
            [str(Path(sys.executable).with_name("voice-monitor")), "sql", "--lake", s3,
             "select count(*) from read_parquet('s3://lakes/team/*/events/*/*/*.parquet')"],
            env={**base, **s3_env(endpoint)}, capture_output=True, text=True, timeout=300)
        import s3fs

        fs = s3fs.S3FileSystem(endpoint_url=endpoint, key="testing", secret="testing")
        keys = fs.find("lakes/team/prod")
    assert _strip(remote, s3) == _strip(local, str(tmp_path / "local"))
    # `sql` stays inside the lake's prefix on the store too (a sibling prefix is refused)
    assert outside.returncode == 1 and "Traceback" not in outside.stderr, outside.stderr
    # the answers are not vacuous: hand-checkable facts of the fixed event set
    assert "accepted 0 (of which duplicate 0), quarantined 2" in local["ingest 2"]
    assert "(of which duplicate 20)" in local["ingest 1"]
    assert len(local["pipeline_hourly"]) > 25 and local["pipeline_daily"]
    assert "event_hours" in local["retention"] or "events/" in local["retention"]
    # nothing but lake objects in the bucket: no temp files, no SQLite, no lock left behind
    assert keys and not [k for k in keys if "/.tmp/" in k or k.endswith((".sqlite", ".lock"))]
    assert (tmp_path / "state" / "s3" / "lakes" / "team" / "prod" / "counters.sqlite").exists()
