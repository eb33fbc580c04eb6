"""End to end (style rule 9, third layer): a real `prefect server`, `prefect deploy --all`, a worker.

The server, the CLI and the worker are real subprocesses with their own PREFECT_HOME; every one
of them is killed (whole process group) however the test ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from conftest import NOW, event
from prefect.settings import PREFECT_API_URL, temporary_settings

from voice_monitor.lake import Lake
from voice_monitor.landing import land_records

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
EXPECTED = {  # contract §8
    "hourly-rollup": "30 * * * *",
    "daily-rollup": "30 1 * * *",
    "snapshot-retention": "30 4 * * 0",
    "event-retention": "0 5 * * 0",
    "health-check": "*/5 * * * *",
}
# Runs triggered by this test go to their own queue, so runs the server's scheduler creates
# (e.g. health-check every 5 minutes) never compete with them for the worker.
QUEUE = "e2e-manual"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(500)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Processes:
    """Subprocesses started in their own process groups, all killed on exit."""

    def __init__(self, env: dict[str, str], logs: Path):
        self.env, self.logs, self.started = env, logs, []

    def start(self, name: str, *args: str, cwd: Path, **env: str) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen([str(BIN / "prefect"), *args], cwd=cwd, env={**self.env, **env},
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.started.append((proc, log))
        return proc

    def run(self, name: str, *args: str, cwd: Path, timeout: float = 120) -> str:
        proc = self.start(name, *args, cwd=cwd)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
        output = (self.logs / f"{name}.log").read_text()
        assert code == 0, f"prefect {' '.join(args)} exited {code}:\n{output[-3000:]}"
        return output

    def kill_all(self) -> None:
        for proc, log in self.started:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=10)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    with contextlib.suppress(ProcessLookupError, subprocess.TimeoutExpired):
                        os.killpg(proc.pid, signal.SIGKILL)
                        proc.wait(timeout=10)
            log.close()


def wait_healthy(api: str, server: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, f"prefect server exited:\n{log.read_text()[-3000:]}"
        try:
            if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"prefect server not healthy after {timeout}s:\n{log.read_text()[-3000:]}")


async def create_queue() -> None:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        await client.create_work_queue(name=QUEUE, work_pool_name="voice-monitor")


async def check_deployments_and_trigger(runs: list[dict]) -> dict[str, object]:
    """Assert every deployment's schedule; create the flow runs asked for; return them by key."""
    from prefect.client.orchestration import get_client

    created = {}
    async with get_client() as client:
        for name, cron in EXPECTED.items():
            deployment = await client.read_deployment_by_name(f"{name}/{name}")
            schedules = [s.schedule for s in deployment.schedules]
            assert [(s.cron, s.timezone) for s in schedules] == [(cron, "UTC")], name
            assert deployment.work_pool_name == "voice-monitor"
            assert deployment.global_concurrency_limit is not None, name
            assert deployment.global_concurrency_limit.limit == 1, name
        hourly = await client.read_deployment_by_name("hourly-rollup/hourly-rollup")
        for spec in runs:
            run = await client.create_flow_run_from_deployment(
                hourly.id, parameters=spec["parameters"], work_queue_name=QUEUE)
            created[spec["key"]] = run.id
    return created


async def wait_final(run_id, timeout: float) -> object:
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + timeout
    async with get_client() as client:
        while True:
            run = await client.read_flow_run(run_id)
            if run.state and run.state.is_final():
                return run.state
            if time.monotonic() > deadline:
                raise AssertionError(f"flow run {run_id} still {run.state} after {timeout}s")
            await asyncio.sleep(1)


def test_deploy_all_and_run_hourly_on_a_worker(tmp_path, monkeypatch):
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    home = tmp_path / "prefect-home"
    home.mkdir()
    lake = Lake(tmp_path / "lake")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")},
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_CLI_PROMPT": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        # the server's scheduler would insert ~300 future runs of the five schedules, which this
        # test never runs (it reads the schedules from the deployments and triggers its own)
        "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
        "VOICE_MONITOR_LAKE": str(lake.root),
    }
    for key in ("PREFECT_HOME", "PREFECT_API_URL"):  # this process's client talks to it too
        monkeypatch.setenv(key, env[key])
    # 13:10 on 2026-02-16, for org-1: the hour before `now` = 14:30
    land_records(lake, [event("artifact_received", NOW - 80 * timedelta(minutes=1),
                              organization_id="org-1")], now=NOW)

    procs = Processes(env, tmp_path)
    # this process's client talks to that server too, even while the session's test harness
    # (tests/conftest.py) has its own API URL in force
    with temporary_settings({PREFECT_API_URL: api}):
        _deploy_and_run(procs, port, lake, tmp_path)


def _deploy_and_run(procs: Processes, port: int, lake: Lake, tmp_path: Path) -> None:
    api = f"http://127.0.0.1:{port}/api"
    try:
        server = procs.start("server", "server", "start", "--host", "127.0.0.1", "--port",
                             str(port), "--no-ui", "--analytics-off", cwd=tmp_path)
        wait_healthy(api, server, tmp_path / "server.log")
        procs.run("pool", "work-pool", "create", "voice-monitor", "--type", "process", cwd=tmp_path)
        asyncio.run(create_queue())
        procs.run("deploy", "deploy", "--all", cwd=ROOT, timeout=150)

        created = asyncio.run(check_deployments_and_trigger(
            [{"key": "good", "parameters": {"now": "2026-02-16T14:30:00Z"}}]))
        # the worker runs from elsewhere: the deployment's pull step finds the project
        procs.start("worker", "worker", "start", "--pool", "voice-monitor", "--work-queue", QUEUE,
                    cwd=tmp_path)
        state = asyncio.run(wait_final(created["good"], timeout=120))
        assert state.is_completed(), (state, (tmp_path / "worker.log").read_text()[-3000:])
        hour = NOW - timedelta(hours=1)
        for table in ("pipeline_hourly", "stage_hourly"):
            assert (lake.snapshot_partition(table, hour) / "part-0.parquet").is_file()

        # a corrupt file in the source hour: the next run rebuilds it, and fails visibly
        garbage = lake.event_partition(hour) / "00000000000000000000-garbage.parquet"
        garbage.write_bytes(b"not parquet")
        created = asyncio.run(check_deployments_and_trigger(
            [{"key": "corrupt", "parameters": {"now": "2026-02-16T14:30:00Z"}}]))
        state = asyncio.run(wait_final(created["corrupt"], timeout=120))
        assert state.is_failed(), state
    finally:
        procs.kill_all()
