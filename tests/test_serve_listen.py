"""`serve` on an address it cannot listen on: one line and exit 1, before anything starts.

It printed uvicorn's start-up log with an ERROR line among INFO lines and exited 3.
"""

from __future__ import annotations

import os
import socket
import subprocess

import pytest
from server_process import SCRIPT, TOKENS_ENV

pytestmark = pytest.mark.slow  # a process start each (a few seconds on a busy machine)


def _serve(*args: str, lake) -> subprocess.CompletedProcess:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("VOICE_MONITOR_")},
           **TOKENS_ENV}
    return subprocess.run([str(SCRIPT), "serve", "--lake", str(lake), *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_a_port_in_use_is_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = _serve("--port", str(port), lake=tmp_path / "lake")
    assert run.returncode == 1, run.stderr
    assert run.stderr == (f"voice-monitor: error: cannot listen on 127.0.0.1:{port}: Address "
                          "already in use; stop what uses it or pick another --port\n")


def test_an_unknown_host_is_one_line(tmp_path):
    run = _serve("--host", "no-such-host.invalid", "--port", "8787", lake=tmp_path / "lake")
    assert run.returncode == 1, run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "voice-monitor: error: cannot listen on no-such-host.invalid:8787: "), run.stderr


def test_an_address_of_another_machine_names_the_host_not_the_port(tmp_path):
    """--host 192.0.2.1 (TEST-NET, never this machine's): it said "stop what uses it or pick
    another --port", a fix that cannot help; the host is what to change."""
    run = _serve("--host", "192.0.2.1", "--port", "8787", lake=tmp_path / "lake")
    assert run.returncode == 1, run.stderr
    assert run.stderr == ("voice-monitor: error: cannot listen on 192.0.2.1:8787: Cannot assign "
                          "requested address; pass --host an address of this machine, e.g. "
                          "127.0.0.1 (or 0.0.0.0 for all of them)\n")
