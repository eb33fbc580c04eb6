"""fsync of folders, side by side: what makes new file names survive a power loss.

A landing fsyncs every folder its renames changed, and the folders above them (`lake.make_folder`
says which) before it answers. On this project's reference disk (ext4 on a virtual disk with a
write-back cache, barriers on) one folder's fsync takes ~2-4 ms even when the folder did not
change, and three in a row ~8-10 ms: most of what a collector's landing waited for. Issued
side by side, on threads of their own, the same fsyncs usually complete together in well under
a millisecond (bench/RESULTS.md, eighth session). Each one is still made and waited for: the
durability is the same, only the waits overlap.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SYNC_THREADS = 4  # folders fsync'd at once, at most


class ProcessPool:
    """A thread pool made on first use, and made anew in a forked child (a pool's threads do
    not survive a fork)."""

    def __init__(self, workers: int, name: str):
        self._workers, self._name = workers, name
        self._pool: tuple[int, ThreadPoolExecutor] | None = None  # (pid, pool)
        self._guard = threading.Lock()
        # a child forked while another thread held the guard would wait for it for ever
        os.register_at_fork(after_in_child=self._forked)

    def _forked(self) -> None:
        self._guard = threading.Lock()
        self._pool = None

    def __call__(self) -> ThreadPoolExecutor:
        with self._guard:
            if self._pool is None or self._pool[0] != os.getpid():
                self._pool = (os.getpid(), ThreadPoolExecutor(
                    max_workers=self._workers, thread_name_prefix=self._name))
            return self._pool[1]


_syncers = ProcessPool(SYNC_THREADS, "voice-monitor-fsync")


def sync_folders(folders: Iterable[Path]) -> None:
    """fsync each folder, so the names renamed or created in it survive a power loss, not only
    a crash of the process (the files' bytes were synced before their rename). Several folders
    are fsync'd side by side; returns once every one is done, raising the first failure."""
    unique = list(dict.fromkeys(folders))
    if len(unique) > 1:
        try:
            futures = [_syncers().submit(sync_folder, folder) for folder in unique]
        except RuntimeError as exc:  # at interpreter exit no thread may start: one by one
            if "interpreter shutdown" not in str(exc):
                raise
        else:
            for future in futures:  # every one waited for, even after a failure
                future.exception()
            for future in futures:
                future.result()
            return
    for folder in unique:
        sync_folder(folder)


def sync_folder(folder: Path) -> None:
    """fsync one folder."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
