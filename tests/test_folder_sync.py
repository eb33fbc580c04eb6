"""The per-process thread pools (folder_sync.ProcessPool) in a child made by os.fork: a fork
copies every lock as it was at that moment, and only the forking thread survives it."""

from __future__ import annotations

import os
import signal
import time
from datetime import timedelta

from conftest import NOW, event

from voice_monitor import folder_sync, hour_files
from voice_monitor.hour_files import PARALLEL_WRITE_ROWS
from voice_monitor.lake import Lake, parquet_files
from voice_monitor.landing import land_records


def _exit_status(pid: int, patience_s: float = 30.0) -> int | None:
    """The child's exit status, or None if it is still running after `patience_s` (then it
    is killed): a hang guard, not a measure."""
    deadline = time.monotonic() + patience_s
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


def test_a_child_forked_while_a_pool_is_being_taken_lands(tmp_path):
    """Another thread of the parent (a producer's writer, a collector's committer) is inside
    `_syncers()` or `_writers()` at the moment of the fork: the child inherits their locks held
    by a thread it does not have, and its first landing waited for them for ever."""
    lake = Lake.create(tmp_path / "lake")
    at = NOW - timedelta(minutes=5)
    # the parent has used both pools: they exist, their threads are the parent's
    land_records(lake, [event("artifact_received", at + timedelta(hours=h)) for h in (-2, -1, 0)]
                 * (PARALLEL_WRITE_ROWS // 3 + 1), now=NOW)
    before = len(parquet_files(lake.event_partition(at)))
    guards = [folder_sync._syncers._guard, hour_files._writers._guard]
    for guard in guards:
        guard.acquire()
    try:
        pid = os.fork()
        if pid == 0:  # the child: one landing of 20,000+ events in three hours, then out
            code = 1
            try:
                land_records(lake, [event("artifact_received", at + timedelta(hours=h))
                                    for h in (-2, -1, 0)] * (PARALLEL_WRITE_ROWS // 3 + 1),
                             now=NOW)
                code = 0
            finally:
                os._exit(code)
    finally:
        for guard in guards:
            guard.release()
    assert _exit_status(pid) == 0
    assert len(parquet_files(lake.event_partition(at))) == before + 1
