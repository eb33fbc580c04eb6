"""Beyond one machine, end to end (contract §13): two collectors (`voice-monitor serve`
processes on two ports) share one Redis and one S3 lake (moto_server); events are posted split
across them; a backfill and the hourly and daily flows fan out on a Dask cluster (`dask
scheduler` + two `dask worker` processes). Every snapshot row, event, counter and API answer
equals the single-folder run (a local lake, SQLite counters, in-process rollups) on the same
events; the notebooks' data access works on the S3 lake too.

The comparison is independent of the lake code: the S3 lake's files are copied down with s3fs
and compared with the local lake's in plain DuckDB (EXCEPT ALL both ways)."""

from __future__ import annotations

import json
import random
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import httpx
import pytest
from conftest import run_main
from lake_events import artifact_events
from server_process import INGEST, STAFF, ServerProcess, bearer
from servers import dask_cluster, make_bucket, redis_server, s3_env, s3_server

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "flows"))
import daily_rollup  # noqa: E402
import hourly_rollup  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

DAY = datetime(2026, 2, 15, tzinfo=UTC)
FLOW_NOW = DAY + timedelta(days=1, hours=1, minutes=30)  # the hourly flow builds 00:00-01:00
RANDOM_KEYS = ("computed_at", "ingested_at", "lake", "next_cursor", "record_id", "alert_id")


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _renamed(events: list[dict], prefix: str) -> list[dict]:
    """Ids unique across blocks (artifact_events numbers each block from 0)."""
    return [{**e, "event_id": f"{prefix}-{e['event_id']}",
             **({"artifact_id": f"{prefix}-{e['artifact_id']}"} if "artifact_id" in e else {})}
            for e in events]


def event_batches(wall: datetime) -> tuple[list[list[dict]], list[dict]]:
    """Four batches to post at first and one late batch. History: 16 artifacts from 21:00 on
    DAY into the next day's first hour; recent: 6 artifacts in the 90 minutes before `wall`
    (the real-time counters count what landed in the last hour, by the collectors' clock);
    a bad record. Late: 5 more artifacts in DAY's evening hours and 8 copies of earlier events."""
    rng = random.Random(13)
    history = _renamed(artifact_events(rng, 16, DAY + timedelta(hours=21), 3), "h")
    recent = _renamed(artifact_events(rng, 6, wall - timedelta(minutes=90), 1), "r")
    late = _renamed(artifact_events(rng, 5, DAY + timedelta(hours=20), 3), "l")
    first = history + recent + [{"event_id": "bad-1", "event_type": "nope",
                                 "timestamp": _iso(DAY)}]
    rng.shuffle(first)
    return [first[k::4] for k in range(4)], late + rng.sample(first, 8)


def ndjson(batch: list[dict]) -> bytes:
    return b"".join(json.dumps(e).encode() + b"\n" for e in batch)


def api_paths(read_at: datetime) -> list[str]:
    """The reading API's questions (contract §10, §12), at fixed times."""
    span = f"start={_iso(DAY)}&end={_iso(FLOW_NOW)}&now={_iso(FLOW_NOW)}"
    return [f"metrics/realtime?now={_iso(read_at)}",
            f"metrics/realtime?org=org-a&now={_iso(read_at)}",
            f"metrics/historical?{span}", f"metrics/historical?org=org-b&{span}",
            f"metrics/stages?{span}", f"metrics/orgs?{span}",
            "events?limit=500", "events?type=artifact_failed&limit=500",
            f"artifacts/failed?since={_iso(DAY)}&limit=200",
            f"artifacts/active?now={_iso(FLOW_NOW)}&limit=200",
            "artifacts/h-art-3/timeline"]


def _strip(value):
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in RANDOM_KEYS}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def differences(con, local: Path, remote: Path, relative: str, drop: str) -> tuple[int, int, int]:
    """(rows, rows only here, rows only there) of the Parquet files under `relative` in two lake
    copies, without the wall-clock column `drop`: plain DuckDB, multisets (EXCEPT ALL)."""
    def rel(root: Path) -> str:
        return (f"(select * exclude ({drop}) from read_parquet('{root / relative}/**/*.parquet', "
                f"hive_partitioning=false, union_by_name=true))")
    count = con.execute(f"select count(*) from {rel(local)}").fetchone()[0]
    a = con.execute(f"select count(*) from ({rel(local)} except all {rel(remote)})").fetchone()[0]
    b = con.execute(f"select count(*) from ({rel(remote)} except all {rel(local)})").fetchone()[0]
    return count, a, b


def test_two_collectors_redis_s3_and_dask_answer_as_one_folder(tmp_path, monkeypatch, capsys,
                                                               prefect_harness):
    from fastapi.testclient import TestClient

    from voice_monitor import notebook
    from voice_monitor.server.app import create_app

    wall = datetime.now(UTC).replace(microsecond=0)
    read_at = wall  # every recent event is stamped at least 3 minutes before this
    batches, late = event_batches(wall)
    for key in ("VOICE_MONITOR_COUNTERS", "VOICE_MONITOR_DASK", "VOICE_MONITOR_LAKE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("VOICE_MONITOR_STATE_DIR", str(tmp_path / "state"))

    def backfill_and_flows(late_landing) -> dict:
        code, _, err = run_main(capsys, "backfill", "--start", _iso(DAY + timedelta(hours=20)),
                                "--end", _iso(DAY + timedelta(days=1)), "--now",
                                _iso(FLOW_NOW))
        assert code == 0, err
        late_landing()
        return {"hourly": hourly_rollup.hourly_rollup(now=FLOW_NOW),
                "daily": daily_rollup.daily_rollup(now=FLOW_NOW)}

    # -- the single-folder run: a local lake, SQLite counters, everything in-process
    local = tmp_path / "local"
    monkeypatch.setenv("VOICE_MONITOR_LAKE", str(local))
    assert run_main(capsys, "init", str(local))[0] == 0
    for k, batch in enumerate([*batches, late]):
        (tmp_path / f"batch-{k}.jsonl").write_bytes(ndjson(batch))
    for k in range(len(batches)):
        code, _, err = run_main(capsys, "ingest", str(tmp_path / f"batch-{k}.jsonl"))
        assert code == 0, err
    late_file = tmp_path / f"batch-{len(batches)}.jsonl"
    local_facts = backfill_and_flows(
        lambda: run_main(capsys, "ingest", str(late_file))[0] == 0 or pytest.fail("late ingest"))
    with TestClient(create_app(local, no_auth=True)) as app:
        local_answers = {p: app.get("/api/v1/" + p).json() for p in api_paths(read_at)}

    # -- the same events through two collectors on Redis and S3, rollups on Dask
    work = tmp_path / "servers"
    work.mkdir()
    with s3_server(work) as endpoint, redis_server(work) as redis_url:
        make_bucket(endpoint, "lakes")
        lake = "s3://lakes/team/prod"
        shared = {**s3_env(endpoint), "VOICE_MONITOR_COUNTERS": redis_url,
                  "VOICE_MONITOR_STATE_DIR": str(tmp_path / "state")}
        one, two = (ServerProcess(lake, env=shared, log=work / f"{n}.log") for n in "ab")
        with ExitStack() as stack, ThreadPoolExecutor(2) as starting:
            # the collectors start while the Dask cluster does
            started = [starting.submit(server.start) for server in (one, two)]
            stack.callback(one.stop)
            stack.callback(two.stop)
            scheduler = stack.enter_context(dask_cluster(work, env=s3_env(endpoint)))
            for server in started:
                server.result()
            answers: list[dict] = []

            def post(server: ServerProcess, batch: list[dict]) -> None:
                with httpx.Client(timeout=120) as http:
                    answers.append(http.post(
                        server.url + "/v1/events", content=ndjson(batch),
                        headers={**bearer(INGEST), "Content-Type": "application/x-ndjson"}
                    ).raise_for_status().json())

            threads = [threading.Thread(target=lambda s=s, b=b: [post(s, x) for x in b])
                       for s, b in ((one, batches[0::2]), (two, batches[1::2]))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert len(answers) == 4 and sum(a["quarantined"] for a in answers) == 1
            for key, value in {**shared, "VOICE_MONITOR_LAKE": lake,
                               "VOICE_MONITOR_DASK": scheduler}.items():
                monkeypatch.setenv(key, value)
            s3_facts = backfill_and_flows(lambda: post(two, late))
            remote_answers = {p: httpx.get(f"{one.url}/api/v1/{p}", headers=bearer(STAFF),
                                           timeout=120).json() for p in api_paths(read_at)}
            other = httpx.get(f"{two.url}/api/v1/{api_paths(read_at)[0]}",
                              headers=bearer(STAFF), timeout=120).json()
            # the dashboard and the Prometheus page are served from the S3 lake and Redis too
            pages = {page: httpx.get(f"{two.url}{page}", headers=bearer(STAFF), timeout=120)
                     for page in ("/", "/metrics")}
        nb_lake, nb_now = notebook.setup()
        import s3fs

        fs = s3fs.S3FileSystem(endpoint_url=endpoint, key="testing", secret="testing")
        fs.get("lakes/team/prod/", str(tmp_path / "s3copy"), recursive=True)

    # every snapshot row and every landed event, compared in plain DuckDB
    con = duckdb.connect()
    remote = tmp_path / "s3copy"
    for table in ("pipeline_hourly", "stage_hourly", "pipeline_daily", "stage_daily"):
        rows, only_local, only_s3 = differences(con, local, remote, f"snapshots/{table}",
                                                "computed_at")
        assert rows > 0 and (only_local, only_s3) == (0, 0), table
    assert differences(con, local, remote, "events", "ingested_at")[1:] == (0, 0)
    # the flows on Dask rebuilt the same periods
    for kind, key in [(k, f) for k in ("hourly", "daily") for f in ("periods", "rows", "failed")]:
        assert s3_facts[kind][key] == local_facts[kind][key], (kind, key)
    # the hourly flow compacted the same closed hours on the store (merged files, inputs deleted)
    # (how many files each hour had depends on how each side grouped its landings)
    for facts in (local_facts, s3_facts):
        compaction = facts["hourly"]["compaction"]
        assert compaction["hours"] == local_facts["hourly"]["compaction"]["hours"]
        assert compaction["hours"] and compaction["files_replaced"] > len(compaction["hours"])
    # every API answer, from a collector on the S3 lake and Redis, as on the local lake
    assert _strip(remote_answers) == _strip(local_answers)
    assert other == remote_answers[api_paths(read_at)[0]]  # both collectors read one Redis
    assert [r.status_code for r in pages.values()] == [200, 200]
    assert "<html" in pages["/"].text.lower()
    assert [line for line in pages["/metrics"].text.splitlines()
            if line.startswith("voice_monitor_realtime_events{") and 'scope="platform"' in line
            and 'metric="artifacts_received"' in line]
    # the answers are not vacuous: facts of the event set worked out from the events themselves
    recent = [e for b in batches for e in b if e["event_id"].startswith("r-")]
    window_start = read_at.replace(second=0) - timedelta(minutes=59)
    received = sum(e["event_type"] == "artifact_received"
                   and window_start <= datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00"))
                   for e in recent)
    assert local_answers[api_paths(read_at)[0]]["artifacts_received"] == received
    # every hour that received a late event was rebuilt by the hourly flow, then the day
    late_hours = {datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")).replace(
        minute=0, second=0, microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
        for e in late if e["event_id"][:2] == "l-"}
    assert late_hours and late_hours <= set(local_facts["hourly"]["periods"])
    assert local_facts["daily"]["periods"] == [DAY.strftime("%Y-%m-%dT%H:%M:%SZ")]
    # the notebooks' data access on the S3 lake: `now` is the end of the newest hourly snapshot
    assert nb_lake.remote and nb_now == FLOW_NOW.replace(minute=0)
