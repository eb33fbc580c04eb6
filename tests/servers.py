"""Real servers on 127.0.0.1 and free ports, started and stopped by the tests (contract §13):
`redis-server`, an S3-protocol server (moto's standalone `moto_server`) and a Dask cluster (the
`dask` command: a scheduler and worker processes). One way to start, wait for and stop each.

A missing program skips the test on a developer's machine and fails it under CI=true (never a
silent skip where the checks are supposed to run)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from server_process import free_port

BIN = Path(sys.executable).parent


def program(name: str, hint: str) -> str:
    """The path of program `name` (the venv's first, then PATH); missing, skip — or fail under CI."""
    found = (BIN / name) if (BIN / name).exists() else shutil.which(name)
    if found:
        return str(found)
    message = f"needs {name!r} ({hint})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def running(argv: list[str], log: Path, ready: Callable[[], bool], *, env: dict | None = None,
            timeout: float = 90) -> Iterator[subprocess.Popen]:
    """`argv` as a child process, its output in `log`, yielded once `ready()` is true; stopped
    (SIGTERM, then SIGKILL) on the way out. It fails naming the log's tail if it exits or is
    not ready within `timeout` seconds (generous: the test machine is shared and slow)."""
    out = open(log, "ab")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            if proc.poll() is not None or time.monotonic() > deadline:
                state = f"exited with {proc.returncode}" if proc.poll() is not None else "not ready"
                tail = log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{Path(argv[0]).name} {state} after {timeout} s: {tail}")
            time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        out.close()


def _answers(probe: Callable[[], object]) -> Callable[[], bool]:
    def ready() -> bool:
        try:
            probe()
            return True
        except (OSError, ConnectionError):
            return False
    return ready


@contextmanager
def redis_server(workdir: Path, port: int | None = None) -> Iterator[str]:
    """A throw-away Redis (no persistence) on `port` (default: a free one; given: the port of
    one stopped before, to start it again); yields its redis://127.0.0.1:PORT/0 URL."""
    import redis

    binary = program("redis-server", "Debian's redis-server package; .ci/run installs it")
    port = port or free_port()
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)

    def ping() -> None:
        try:
            client.ping()
        except redis.ConnectionError as exc:
            raise ConnectionError(str(exc)) from None

    argv = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
            "--appendonly", "no", "--dir", str(workdir)]
    with running(argv, workdir / f"redis-{port}.log", _answers(ping)):
        client.close()
        yield url


def s3_env(endpoint: str) -> dict[str, str]:
    """The standard AWS settings a client needs for this server (dummy credentials)."""
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@contextmanager
def s3_server(workdir: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """`moto_server` on a free port (`env` on top of ours: e.g. INITIAL_NO_AUTH_ACTION_COUNT=0
    turns its credential checks on); yields its endpoint URL (http://127.0.0.1:PORT)."""
    binary = program("moto_server", "uv sync installs moto[server]")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with running([binary, "-H", "127.0.0.1", "-p", str(port)], workdir / f"moto-{port}.log",
                 _answers(lambda: urllib.request.urlopen(endpoint + "/moto-api/", timeout=2)),
                 env={**os.environ, **env} if env else None):
        yield endpoint


def make_bucket(endpoint: str, bucket: str) -> None:
    """Create `bucket` on the server."""
    import boto3

    env = s3_env(endpoint)
    boto3.client("s3", endpoint_url=endpoint, region_name=env["AWS_DEFAULT_REGION"],
                 aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                 aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"]).create_bucket(Bucket=bucket)


def _workers(address: str) -> int:
    from distributed import Client

    with Client(address, timeout=5) as client:
        return len(client.scheduler_info(n_workers=-1)["workers"])


# Imported by the scheduler and the workers as they start. The scheduler unpickles every task
# graph, and the first one would make it import Prefect and voice_monitor with its event loop
# blocked: on a loaded machine for longer than the workers wait for it, which cancels the run
# ("scheduler-connection-lost").
PRELOAD = "voice_monitor.fanout_flow"


@contextmanager
def dask_cluster(workdir: Path, env: dict[str, str] | None = None,
                 workers: int = 2) -> Iterator[str]:
    """`dask scheduler` and `workers` × `dask worker` (one process, one thread each) on
    127.0.0.1; yields the scheduler's tcp:// address once every worker has registered.

    The workers get `env` on top of ours: they run the Prefect tasks, so they need what the
    caller's tasks need (the AWS settings of an S3 lake; PREFECT_HOME so that Prefect does not
    write into ~/.prefect). Prefect's own API address travels with each task (prefect-dask
    sends the caller's settings context)."""
    dask = program("dask", "uv sync installs distributed, which provides it")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    child_env = {**os.environ, "PREFECT_HOME": str(workdir / "prefect-home"), **(env or {})}
    with ExitStack() as stack:
        stack.enter_context(running(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard",
             "--preload", PRELOAD],
            workdir / "dask-scheduler.log", _answers(lambda: _workers(address)), env=child_env))
        for n in range(workers):
            # the workers start side by side; the last is ready once all of them registered.
            # No nanny (nothing to restart in a test) and no memory limit: on a shared machine
            # the default limit makes a worker pause or be killed for other processes' memory use
            last = n == workers - 1
            stack.enter_context(running(
                [dask, "worker", address, "--host", "127.0.0.1", "--name", f"worker-{n}",
                 "--nthreads", "1", "--no-nanny", "--memory-limit", "0", "--no-dashboard",
                 "--local-directory", str(workdir / f"dask-worker-{n}"), "--preload", PRELOAD],
                workdir / f"dask-worker-{n}.log",
                (lambda: _workers(address) >= workers) if last else (lambda: True),
                env=child_env))
        yield address


__all__ = ["dask_cluster", "make_bucket", "program", "redis_server", "running", "s3_env",
           "s3_server"]
