"""The lake on object storage (contract §13): the storage seam, and every command on an S3 lake
(a real `moto_server` on 127.0.0.1) giving the same answers as on a local lake."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from lake_events import NOW, write_batches
from s3_server import make_bucket, s3_env, s3_server

from voice_monitor import storage
from voice_monitor.lake import Lake, dropped_periods, parquet_files, record_dropped

ROWS = pa.table({"event_id": ["a", "b"], "n": [1, 2]})


# -- the seam, on a local folder (fast) ---------------------------------------------------------
def test_local_roots_stay_pathlib_and_urls_become_object_store_paths(tmp_path):
    assert isinstance(Lake(tmp_path).root, Path) and not Lake(tmp_path).remote
    # a local path that merely contains "://"-like text further on is still local
    assert isinstance(Lake(tmp_path / "a:b").root, Path)
    remote = Lake("s3://bucket/some/prefix/")
    assert remote.remote and str(remote.root) == "s3://bucket/some/prefix"
    assert str(remote.event_partition(NOW)) == "s3://bucket/some/prefix/events/date=2026-02-16/hour=14"
    with pytest.raises(ValueError, match="unsupported lake URL 'ftp://x/y'"):
        Lake("ftp://x/y")


def test_publish_replaces_a_local_file_whole_and_leaves_no_temp(tmp_path):
    lake = Lake.create(tmp_path / "lake")
    dest = lake.root / "dimensions" / "x.parquet"
    lake.publish(ROWS, dest)
    lake.publish(ROWS.slice(0, 1), dest)
    assert storage.read_table(dest).to_pylist() == [{"event_id": "a", "n": 1}]
    lake.publish_bytes(lake.state_dir / "m.json", b'{"k": 1}')
    assert json.loads((lake.state_dir / "m.json").read_text()) == {"k": 1}
    assert list(lake.tmp_dir.iterdir()) == []
    (size, version), = storage.sizes_and_versions([dest])
    assert size == dest.stat().st_size and version == dest.stat().st_mtime_ns


def test_local_state_stays_in_the_lake_and_an_s3_lake_keeps_it_in_a_local_folder(
        tmp_path, monkeypatch):
    lake = Lake(tmp_path / "lake")
    assert lake.local_state_dir == lake.state_dir
    monkeypatch.setenv(storage.STATE_DIR_ENV, str(tmp_path / "state"))
    remote = Lake("s3://bucket/pre/fix")
    assert remote.local_state_dir == tmp_path / "state" / "s3" / "bucket" / "pre" / "fix"


# -- the same seam on an in-process object store (fsspec memory://, fast) --------------------------
def test_object_store_files_appear_whole_under_unique_names_and_prefixes_drop(tmp_path):
    lake = Lake.create(f"memory://lake-{os.getpid()}-{tmp_path.name}")
    assert lake.exists() and lake.remote
    hour = datetime(2026, 2, 16, 9, tzinfo=UTC)
    first = lake.write_file(ROWS, lake.event_partition(hour))
    second = lake.write_file(ROWS, lake.event_partition(hour))
    assert first != second and parquet_files(lake.event_partition(hour)) == sorted([first, second])
    assert lake.event_hours() == [hour]
    lake.replace_partition(ROWS, lake.snapshot_partition("pipeline_hourly", hour))
    lake.replace_partition(ROWS.slice(1), lake.snapshot_partition("pipeline_hourly", hour))
    files = parquet_files(lake.snapshot_partition("pipeline_hourly", hour))
    assert [f.name for f in files] == ["part-0.parquet"]
    assert storage.read_table(files[0]).column("event_id").to_pylist() == ["b"]
    record_dropped(lake, "event_hours", [hour])
    record_dropped(lake, "event_hours", [datetime(2026, 2, 16, 10, tzinfo=UTC)])
    assert dropped_periods(lake, "event_hours") == {hour, datetime(2026, 2, 16, 10, tzinfo=UTC)}
    lake.drop_partition(lake.event_partition(hour))
    assert lake.event_hours() == [] and lake.clean_tmp() == 0


# -- end to end against a real S3-protocol server ---------------------------------------------------
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
                if k not in ("computed_at", "ingested_at", "lake")}
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
