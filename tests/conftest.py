"""Shared fixtures: a fresh lake per test, a fixed `now`, and a tiny event factory."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pycache import own_cache

from voice_monitor.lake import Lake

NOW = datetime(2026, 2, 16, 14, 30, tzinfo=UTC)
_ids = itertools.count()


def ts(moment: datetime) -> str:
    """ISO-8601 with Z, millisecond precision, as a producer would send it."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event(event_type: str, at: datetime, **fields) -> dict:
    """One valid event record (snake_case); `fields` override or add fields."""
    record = {"event_id": f"ev-{next(_ids)}", "event_type": event_type, "timestamp": ts(at)}
    record.update(fields)
    return record


def run_main(capsys, *argv: str) -> tuple[int, str, str]:
    """The console script in-process: (exit status, stdout, stderr); an escaping exception fails.
    Its first object store reads `s3://`, as in a process of its own."""
    from voice_monitor import storage
    from voice_monitor.cli import main

    storage.forget_stores()

    try:
        main(list(argv))
        code = 0
    except SystemExit as exited:
        code = exited.code or 0
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, status: int | None = None) -> None:
    """Exit status non-zero (or `status`), and stderr is exactly one voice-monitor line."""
    assert code != 0 if status is None else code == status, err
    assert "Traceback" not in err
    lines = err.strip("\n").splitlines()
    assert len(lines) == 1 and lines[0].startswith("voice-monitor: "), err


def pytest_configure(config):
    """Under PYTHONDONTWRITEBYTECODE=1 every process compiled DuckDB, pyarrow, Prefect... from
    source: ~2 CPU s a CLI start, ~30 for the Prefect test server. The session and the processes
    it starts share one bytecode cache outside the checkout instead, kept between sessions
    (Python checks each entry against its source file); what the code does is unchanged."""
    if not os.environ.get("PYTHONDONTWRITEBYTECODE") or os.environ.get("PYTHONPYCACHEPREFIX"):
        return
    # not ours or not usable: a cache for this session alone
    cache = own_cache("voice-monitor-tests-pycache") or Path(
        tempfile.mkdtemp(prefix="voice-monitor-tests-pycache-"))
    del os.environ["PYTHONDONTWRITEBYTECODE"]
    os.environ["PYTHONPYCACHEPREFIX"] = str(cache)
    sys.pycache_prefix, sys.dont_write_bytecode = str(cache), False


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect server for the whole session (it takes ~20 s to start)."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> str:
    """One real redis-server for the session; tests that use it flush it first."""
    from servers import redis_server

    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(autouse=True)
def _stores_named_afresh():
    """Each test's first object store reads `s3://`, as in a process of its own (a process names
    each further store `s3store2://`…, storage._protocol_of_store)."""
    from voice_monitor import storage

    storage.forget_stores()


@pytest.fixture
def lake(tmp_path) -> Lake:
    return Lake.create(tmp_path / "lake")


@pytest.fixture
def now() -> datetime:
    return NOW


__all__ = ["NOW", "assert_one_line_error", "event", "run_main", "ts", "timedelta"]


def use_counter_store(kind: str, request, monkeypatch) -> str:
    """Point landings at the embedded counter store ("sqlite") or at the session's emptied
    redis-server ("redis"); for fixtures parametrised over both."""
    if kind == "redis":
        import redis

        from voice_monitor.counters import COUNTERS_ENV

        url = request.getfixturevalue("redis_url")
        redis.Redis.from_url(url).flushdb()
        monkeypatch.setenv(COUNTERS_ENV, url)
    else:
        from voice_monitor.counters import COUNTERS_ENV

        monkeypatch.delenv(COUNTERS_ENV, raising=False)
    return kind


def counted_table(ids: list[str], at: datetime, event_type: str = "artifact_received",
                  org: str | None = None):
    """A landed batch as a counter store's `record` takes it: these ids, all alike."""
    import pyarrow as pa

    return pa.table({
        "event_id": ids, "event_type": [event_type] * len(ids),
        "timestamp": pa.array([at] * len(ids), pa.timestamp("us", tz="UTC")),
        "organization_id": pa.array([org] * len(ids), pa.string()),
    })


def event_ids_in(files: list[str]) -> list[str]:
    """Every event_id row of these Parquet files (copies included), read with DuckDB."""
    if not files:
        return []
    from voice_monitor.lake import connect

    con = connect()
    try:
        return [r[0] for r in con.execute("select event_id from read_parquet($f)", {"f": files}).fetchall()]
    finally:
        con.close()


def as_nobody(*argv: str) -> subprocess.CompletedProcess:
    """`voice-monitor argv` run as the user nobody (root ignores file permissions), output kept.

    Without the session's bytecode cache (PYTHONPYCACHEPREFIX, a folder only its owner may
    read): there nobody found no bytecode at all and compiled the standard library, DuckDB,
    pyarrow... from source at every start (~3-4 CPU s); without it, it reads the bytecode
    beside the sources (the venv's and Python's) and writes none."""
    script = Path(sys.executable).parent / "voice-monitor"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPYCACHEPREFIX"}
    return subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                           str(script), *argv], capture_output=True, text=True,
                          env={**env, "HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1"})


def give_to_nobody(folder: Path) -> None:
    """Make nobody the owner of `folder` and everything in it (`chown -R`)."""
    subprocess.run(["chown", "-R", "nobody", str(folder)], check=True)


@pytest.fixture
def nobodys_folder() -> Iterator[Path]:
    """A new folder under /tmp (tmp_path's parents are closed to other users) for a test that
    runs `as_nobody`, removed afterwards; skipped unless this is root with setpriv."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run a command as another user")
    base = Path(tempfile.mkdtemp(prefix="as-nobody-", dir="/tmp"))
    try:
        base.chmod(0o755)
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def new_york(monkeypatch):
    """The machine's TZ is New York (UTC-5 in January) for the test."""
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def store_descriptors(store) -> list[str]:
    """This process's open descriptors on the store's file, its -wal or its -shm (/proc)."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the listing's own descriptor, closed since
            continue
        if target.startswith(str(store)):
            held.append(target)
    return held

