"""A real `voice-monitor serve` process on 127.0.0.1 and a free port, for the server tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from voice_monitor.lake import Lake

SCRIPT = Path(sys.executable).parent / "voice-monitor"
INGEST = "ingest-token-0123456789abcdef"
STAFF = "staff-token-0123456789abcdef"
TOKENS_ENV = {"VOICE_MONITOR_INGEST_TOKENS": INGEST, "VOICE_MONITOR_STAFF_TOKENS": STAFF}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """`voice-monitor serve --lake LAKE --port P *args`, started and stopped by the test."""

    def __init__(self, lake, *args: str, env: dict | None = None, log: Path | None = None,
                 tokens: bool = True):
        lake_dir = str(lake.root) if isinstance(lake, Lake) else str(lake)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = [str(SCRIPT), "serve", "--lake", lake_dir,
                     "--port", str(self.port), *args]
        own = {k: v for k, v in os.environ.items() if not k.startswith("VOICE_MONITOR_")}
        self.env = {**own, **(TOKENS_ENV if tokens else {}), **(env or {})}
        self.log = log
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> ServerProcess:
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(self.args, env=self.env, stdout=out, stderr=out)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.output()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not answer /healthz within {timeout} s: {self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log and self.log.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc and self.proc.returncode
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


TIMEOUT = httpx.Timeout(120.0)  # a shared 2-core machine can be slow; tests never assert durations


def client(**kwargs) -> httpx.Client:
    """An HTTP client with a generous timeout."""
    return httpx.Client(timeout=TIMEOUT, **kwargs)


@contextlib.contextmanager
def served(root: Path):
    """A `ServerProcess` over `root/lake` (its log `root/server.log`), with a client as `.http`."""
    with ServerProcess(root / "lake", log=root / "server.log") as running, client() as http:
        running.http = http
        yield running


def bearer(token: str | None) -> dict:
    return {"Authorization": f"Bearer {token}"} if token else {}
