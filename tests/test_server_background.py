"""The server's background threads (dashboard warm-up, counter catch-up, /metrics lake read)
never abort the interpreter's exit: a real process ends while one is inside DuckDB."""

from __future__ import annotations

import subprocess
import sys

BUSY = """
import threading, time
import duckdb
from voice_monitor.server import background

started = threading.Event()

def busy():
    con = duckdb.connect()
    started.set()
    while not background.stopping.is_set():  # (a step takes ~10 ms: always inside DuckDB)
        con.execute("select sum(range) from range(3000000)").fetchall()
    print("stopped", flush=True)

{start}
started.wait(60)
time.sleep(0.3)
"""


def run(start: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BUSY.format(start=start)], capture_output=True,
                          text=True, timeout=180)


def test_an_exit_waits_for_a_background_thread_inside_duckdb():
    ended = run('background.start(busy, name="busy")')
    assert (ended.returncode, ended.stdout) == (0, "stopped\n"), ended.stderr
    assert "FATAL" not in ended.stderr

