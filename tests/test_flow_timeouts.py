"""Bounded flow runs: every flow and task has a timeout, and a run past it ends Failed.

A hung run would otherwise hold its deployment's single concurrency slot forever.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import duckdb
import pytest
import yaml
from conftest import NOW, event

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "flows"))  # flow files import their sibling `_shared`, as Prefect does

import _shared  # noqa: E402
import hourly_rollup  # noqa: E402
from prefect import flow, task  # noqa: E402
from prefect.flows import load_flow_from_entrypoint  # noqa: E402

from voice_monitor import jobs  # noqa: E402
from voice_monitor.landing import land_records  # noqa: E402

# seconds between two runs of each schedule in prefect.yaml
CRON_INTERVALS = {"30 * * * *": 3600, "30 1 * * *": 86_400, "30 4 * * 0": 7 * 86_400,
                  "0 5 * * 0": 7 * 86_400, "*/5 * * * *": 300}
# a decorator (`@task(...)`) or a call that makes one (`task(...)(fn)`, `flow(fn, ...)`)
DECORATOR = re.compile(r"^\s*@(?:prefect\.)?(task|flow)\b(.*)$|(?:[=(]|return)\s*(task|flow)(\()", re.M)


def test_every_decorated_flow_and_task_sets_a_timeout():
    """A text scan of flows/ and src/, so a new @task or @flow anywhere must set one too."""
    found = []
    for path in [*(ROOT / "flows").glob("*.py"), *(ROOT / "src").rglob("*.py")]:
        text = path.read_text()
        for match in DECORATOR.finditer(text):
            kind, start = match.group(1) or match.group(3), match.start(2 if match.group(1) else 4)
            depth, end = 0, start
            for end in range(start, len(text)):  # the decorator's own parentheses
                depth += {"(": 1, ")": -1}.get(text[end], 0)
                if depth == 0:
                    break
            found.append((path.name, kind, "timeout_seconds=" in text[start:end + 1]))
    # the three other deployed flows, one `flow(...)` call in _shared.py making both retention
    # flows, and the Dask fan-out flow (fanout_flow.py)
    assert len([f for f in found if f[1] == "flow"]) == 5 and len(found) >= 11, found
    assert [f for f in found if not f[2]] == []


def test_each_flow_ends_before_its_next_run_is_due_and_its_tasks_fit_inside():
    deployments = yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
    assert len(deployments) == 5
    for deployment in deployments:
        flow_obj = load_flow_from_entrypoint(str(ROOT / deployment["entrypoint"]))
        (schedule,) = deployment["schedules"]
        assert 0 < flow_obj.timeout_seconds < CRON_INTERVALS[schedule["cron"]], deployment["name"]
        module = sys.modules[flow_obj.fn.__module__]
        tasks = [t for t in vars(module).values() if type(t).__name__ == "Task"]
        assert tasks, deployment["name"]
        assert sum(t.timeout_seconds for t in tasks) <= flow_obj.timeout_seconds


def test_a_timeout_is_not_retried_as_transient_io():
    from prefect.states import Failed

    assert _shared.retry_on_io(None, None, Failed(data=FileNotFoundError("gone")))
    assert not _shared.retry_on_io(None, None, Failed(data=TimeoutError("too slow")))


def _sleep_in_steps(seconds: float) -> None:
    """Sleep in short steps: Prefect delivers a task timeout between Python bytecodes."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)


def test_a_task_past_its_timeout_ends_failed_and_fails_its_flow(prefect_harness):
    attempts = []

    @task(retries=_shared.IO_RETRIES, retry_delay_seconds=0,
          retry_condition_fn=_shared.retry_on_io, timeout_seconds=0.5)
    def slow_task() -> str:
        attempts.append(1)
        _sleep_in_steps(120)
        return "finished"

    @flow(timeout_seconds=600)
    def wraps_slow_task() -> str:
        return slow_task()

    state = wraps_slow_task(return_state=True)
    assert state.is_failed()
    assert isinstance(state.result(raise_on_failure=False), TimeoutError)
    assert attempts == [1]  # a timeout is not retried as if it were transient I/O


@pytest.mark.slow
@pytest.mark.timeout(300, method="thread")  # no SIGALRM of pytest-timeout's: Prefect uses it
def test_the_hourly_flow_past_its_timeout_ends_failed_inside_a_duckdb_query(
        prefect_harness, lake, monkeypatch):
    """The real flow, stuck in a long DuckDB query, ends Failed at its (shortened) timeout."""
    land_records(lake, [event("artifact_received", NOW)], now=NOW)  # a real lake
    monkeypatch.setenv("VOICE_MONITOR_LAKE", str(lake.root))

    def hung_compaction(*args, **kwargs):
        con = duckdb.connect()
        con.execute("SET threads = 1")
        con.execute("SET enable_progress_bar = false")
        return con.execute("select count(*) from range(2000000000) t(i) where i % 7 = 3").fetchall()

    monkeypatch.setattr(jobs, "compact_lake", hung_compaction)  # what the flow's task calls
    bounded = hourly_rollup.hourly_rollup.with_options(timeout_seconds=1)
    state = bounded(now=NOW, return_state=True)
    assert state.is_failed()
    assert lake.snapshot_periods("pipeline_hourly") == []  # the rollup never ran
