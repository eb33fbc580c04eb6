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

_pool: tuple[int, ThreadPoolExecutor] | None = None  # (pid, pool): a forked child makes its own
_pool_guard = threading.Lock()
SYNC_THREADS = 4  # folders fsync'd at once, at most


def _syncers() -> ThreadPoolExecutor:
    global _pool
    with _pool_guard:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (os.getpid(), ThreadPoolExecutor(max_workers=SYNC_THREADS,
                                                     thread_name_prefix="voice-monitor-fsync"))
        return _pool[1]


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
