"""Every command on a lake in a real S3-protocol server (`moto_server` on 127.0.0.1) answers as on
a local lake with the same events (contract §13). One server and one pair of lakes serve every
case. Slow: the store is a Python process. The rollup flows on Dask, the collectors and the
reading API on an S3 lake are in test_scaleout_e2e.py."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lake_events import NOW, write_batches
from servers import make_bucket, s3_env, s3_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

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
    """Everything a user can ask, on one lake, after the same ingests and rollups."""
    now = f"--now={NOW:%Y-%m-%dT%H:%M:%SZ}"
    at = ["--lake", lake, now]
    out: dict[str, object] = {}
    _run(env, "init", lake)
    for i, path in enumerate(files):
        out[f"ingest {i}"] = _run(env, "ingest", *at, str(path))
    out["rollup hourly"] = _run(env, "rollup", "hourly", *at)
    out["rollup daily"] = _run(env, "rollup", "daily", *at)
    span = ["--start", "2026-02-15T00:00:00Z", "--end", "2026-02-16T14:00:00Z", "--json"]
    for what in ("realtime", "historical", "stages", "orgs"):
        out[f"metrics {what}"] = json.loads(_run(env, "metrics", what, *at, "--json",
                                                 *(span[:4] if what != "realtime" else [])))
    out["events recent"] = json.loads(_run(env, "events", "recent", *at[:2], "--limit", "30",
                                           "--json"))
    out["artifacts failed"] = json.loads(_run(env, "artifacts", "failed", *at, "--json"))
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
    later = ["--lake", lake, "--now", RETENTION_NOW]
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


# 30 artifacts from 21:30 on the 15th over 4 hours: hourly partitions on both days, a daily
# rollup of the 15th, and a retention that drops the 15th's event hours and keeps the 16th's
START = datetime(2026, 2, 15, 21, 30, tzinfo=UTC)
RETENTION_NOW = "2026-02-18T00:30:00Z"  # events: hours that end 48 h before, by 2026-02-16 00:30
S3_LAKE = "s3://lakes/team/prod"


@pytest.fixture(scope="module")
def lakes(tmp_path_factory):
    """One moto_server; the same events and commands on a local lake and on an S3 lake."""
    tmp_path = tmp_path_factory.mktemp("s3e2e")
    files = write_batches(tmp_path, artifacts=30, start=START, hours=4)
    with s3_server(tmp_path) as endpoint:
        make_bucket(endpoint, "lakes")
        base = {k: v for k, v in os.environ.items()
                if not k.startswith(("AWS_", "VOICE_MONITOR_"))}
        base.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", TZ="America/New_York",
                    VOICE_MONITOR_STATE_DIR=str(tmp_path / "state"))
        local = str(tmp_path / "local")
        yield {"local": _answers(base, local, files), "local lake": local, "files": files,
               "s3": _answers({**base, **s3_env(endpoint)}, S3_LAKE, files),
               "env": {**base, **s3_env(endpoint)}, "endpoint": endpoint, "tmp": tmp_path}



def test_every_command_on_an_s3_lake_answers_as_on_a_local_lake(lakes):
    local = lakes["local"]
    assert _strip(lakes["s3"], S3_LAKE) == _strip(local, lakes["local lake"])
    # the answers are not vacuous: facts of the fixed event set, from the files themselves
    events = [json.loads(line) for path in lakes["files"]
              for line in path.read_text().splitlines() if line.startswith("{")]
    hours = {e["timestamp"][:13] for e in events if e["event_type"] != "nope"}
    late, dupes = 25, 20  # write_batches: the re-send holds 25 late events and 20 copies
    assert f"accepted {late + dupes} (of which duplicate {dupes})" in local["ingest 1"]
    assert "accepted 0 (of which duplicate 0), quarantined 2" in local["ingest 2"]
    platform = {r["period_start"][:13] for r in local["pipeline_hourly"]
                if r["organization_id"] is None}
    # every hour with events has its platform row, and so has every hour of the 15th (the daily
    # rollup of the 15th builds its missing hours first)
    assert {h.replace("T", " ") for h in hours} <= {h.replace("T", " ") for h in platform}
    assert len([h for h in platform if h.startswith("2026-02-15")]) == 24
    assert [r["period_start"][:10] for r in local["pipeline_daily"]
            if r["organization_id"] is None] == ["2026-02-15"]
    # retention dropped the 15th's event hours and kept the 16th's
    assert "2026-02-16" in local["after retention"] and "2026-02-15" not in local[
        "after retention"]


def test_sql_stays_inside_the_lake_prefix_on_the_store(lakes):
    outside = subprocess.run(
        [str(Path(sys.executable).with_name("voice-monitor")), "sql", "--lake", S3_LAKE,
         "select count(*) from read_parquet('s3://lakes/team/*/events/*/*/*.parquet')"],
        env=lakes["env"], capture_output=True, text=True, timeout=300)
    assert outside.returncode == 1 and "Traceback" not in outside.stderr, outside.stderr


def test_nothing_but_lake_objects_in_the_bucket(lakes):
    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=lakes["endpoint"], key="testing", secret="testing")
    keys = fs.find("lakes/team/prod")
    # no temp files, no SQLite, no lock left behind; the embedded counters live in a local folder
    assert keys and not [k for k in keys if "/.tmp/" in k or k.endswith((".sqlite", ".lock"))]
    store = "s3@http_127.0.0.1_" + lakes["endpoint"].rsplit(":", 1)[1]  # the endpoint's own
    assert (lakes["tmp"] / "state" / store / "lakes%2Fteam%2Fprod" / "counters.sqlite").exists()
