"""A real `redis-server` on 127.0.0.1 and a free port, started and stopped by the tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from server_process import free_port


def redis_server_binary() -> str:
    """The redis-server binary; missing, it fails the test under CI (never a silent skip)."""
    binary = shutil.which("redis-server") or ("/usr/bin/redis-server"
                                              if Path("/usr/bin/redis-server").exists() else None)
    if binary:
        return binary
    message = "needs Debian's redis-server (apt-get install redis-server; .ci/run installs it)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """A throw-away Redis (no persistence); yields its redis://127.0.0.1:PORT/0 URL."""
    port = free_port()
    log = workdir / f"redis-{port}.log"
    proc = subprocess.Popen(
        [redis_server_binary(), "--bind", "127.0.0.1", "--port", str(port), "--save", "",
         "--appendonly", "no", "--dir", str(workdir), "--logfile", str(log)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    text = log.read_text() if log.exists() else ""
                    raise RuntimeError(f"redis-server did not start: {text[-2000:]}") from None
                time.sleep(0.05)
        client.close()
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
