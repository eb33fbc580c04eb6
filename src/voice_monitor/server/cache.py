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
        self._lock = threading.Lock()

    def generation(self) -> tuple:
        """What changes whenever a snapshot or the organizations file changes (local lakes)."""
        if self.lake.remote:
            return ()
        paths = [manifest_path(self.lake, kind, EPOCH).parent for kind in ("hourly", "daily")]
        return tuple(_mtime(p) for p in [*paths, self.lake.organizations_file])

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The answer kept for `key` under the lake's current generation, else `compute()`."""
        full = (key, self.generation())
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(full)
            if entry is not None and now - entry[0] < TTL_S:
                self._entries.move_to_end(full)
                return entry[1]
        value = compute()  # outside the lock: two first askers may both compute, both right
        with self._lock:
            self._entries[full] = (now, value)
            while len(self._entries) > SIZE:
                self._entries.popitem(last=False)
        return value


def _mtime(path) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return None
