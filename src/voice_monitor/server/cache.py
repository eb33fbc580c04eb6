"""Answers read from snapshots, reused while the snapshots are the same (charts, organizations).

A snapshot-backed answer depends only on the periods it reads and on which snapshots exist: two
requests whose windows cover the same periods get the same rows, whatever second `now` is. The
snapshots change only when a rollup or retention writes or forgets a manifest (after the
snapshot files), which changes the manifest folders' modification times; the organizations
file is the only other input. So an answer is kept under (what was asked, those periods, that
generation), and for at most TTL_S in any case (an object store has no folder times).
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from voice_monitor.lake import Lake
from voice_monitor.rollup_plan import manifest_path
from voice_monitor.server.freshness import EPOCH

TTL_S = 60.0
SIZE = 64  # answers kept, at most (the dashboard asks for five)


class SnapshotCache:
    """A small cache of snapshot-backed answers of one lake, safe across request threads."""

    def __init__(self, lake: Lake):
        self.lake = lake
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._computing: dict[Hashable, threading.Event] = {}  # answers being computed
        self._lock = threading.Lock()

    def generation(self) -> tuple:
        """What changes whenever a snapshot or the organizations file changes (local lakes)."""
        if self.lake.remote:
            return ()
        paths = [manifest_path(self.lake, kind, EPOCH).parent for kind in ("hourly", "daily")]
        return tuple(_mtime(p) for p in [*paths, self.lake.organizations_file])

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The answer kept for `key` under the lake's current generation, else `compute()`.

        One asker computes a missing answer; others asking for it meanwhile (the page's requests
        arriving during the server's warm-up, several pages at the turn of an hour) wait for it
        instead of computing it again beside it.
        """
        full = (key, self.generation())
        while True:
            now = time.monotonic()
            with self._lock:
                entry = self._entries.get(full)
                if entry is not None and now - entry[0] < TTL_S:
                    self._entries.move_to_end(full)
                    return entry[1]
                computing = self._computing.get(full)
                if computing is None:
                    computing = self._computing[full] = threading.Event()
                    break
            computing.wait()  # then look again: kept, or (if it failed) this asker computes
        try:
            value = compute()  # outside the lock: other answers are served meanwhile
            with self._lock:
                self._entries[full] = (now, value)
                while len(self._entries) > SIZE:
                    self._entries.popitem(last=False)
        finally:
            with self._lock:
                del self._computing[full]
            computing.set()
        return value


def _mtime(path) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return None
