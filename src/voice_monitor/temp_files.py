"""Temp files of the lake's writers: one folder per process, and what dead writers left.

Every file is written under `.tmp/` first and renamed into place. Each process writes in its own
folder, `.tmp/w-<host>-<pid>-<start>/` (`start` = the process's start time, so a recycled pid is
not mistaken for the writer). `clean` removes whole the folders of this host's processes that
are gone; anything else (a live writer's files, other hosts' folders on a shared file system,
loose entries) only once older than a threshold: no writer takes an hour over one file, so a
file still being written is never removed.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import socket
import time
from datetime import timedelta
from pathlib import Path

# No writer takes an hour over one file: anything of a live writer older than this is a leftover.
# The least `clean` may be given (retention.tmp_files), and what a landing cleans with.
LIVE_WRITE_LIMIT = timedelta(hours=1)
_HOST = re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "host"
_WRITER_DIR = re.compile(r"^w-(?P<host>[A-Za-z0-9._]+)-(?P<pid>\d+)-(?P<start>\d+)$")
_own_dirs: set[Path] = set()
_own_name: tuple[int, str] = (0, "")  # (pid, writer_name()) of this process


def _process_start(pid: int) -> str:
    """When process `pid` started (clock ticks since boot, Linux), "0" where unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            # the command name may hold spaces and parentheses: fields start after the last ")"
            return handle.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return "0"


def writer_name() -> str:
    """This process's folder name under .tmp/: host, pid, process start time."""
    global _own_name
    pid = os.getpid()
    if _own_name[0] != pid:  # worked out once per process (a fork has a pid of its own):
        # reading /proc/<pid>/stat sums every thread's times, ~1 ms in a busy server
        _own_name = (pid, f"w-{_HOST}-{pid}-{_process_start(pid)}")
    return _own_name[1]


def _alive(pid: int, start: str) -> bool:
    """Whether process `pid` of this host is running and is the one that started at `start`."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    now = _process_start(pid)
    return now == start or "0" in (now, start)


def writer_gone(name: str) -> bool | None:
    """Whether the writer `name` (a `writer_name()`) has ended: True for a process of this host
    that is no longer running (or a recycled pid), False for this process or a live one of this
    host, None for another host's (which cannot be checked) or a name that is not a writer's."""
    if name == writer_name():
        return False
    writer = _WRITER_DIR.match(name)
    if writer is None or writer["host"] != _HOST:
        return None
    return not _alive(int(writer["pid"]), writer["start"])


def _entries(folder: Path) -> list[Path]:
    try:
        names = os.listdir(folder)  # plain strings: most folders are empty or nearly
    except FileNotFoundError:
        return []
    return [folder / name for name in names]


def _remove_older(path: Path, cutoff: float) -> int:
    try:
        if path.lstat().st_mtime >= cutoff:
            return 0
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    except FileNotFoundError:
        return 0
    return 1


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()  # fails, harmlessly, while it still holds a file


def writer_dir(tmp_dir: Path) -> Path:
    """This process's folder under `tmp_dir`, created (and removed at exit when empty)."""
    folder = tmp_dir / writer_name()
    folder.mkdir(parents=True, exist_ok=True)
    if folder not in _own_dirs:
        _own_dirs.add(folder)
        atexit.register(_remove_if_empty, folder)
    return folder


def clean(tmp_dir: Path, older_than: timedelta) -> int:
    """Remove what dead writers left under `tmp_dir`; returns how many files (or folders)."""
    cutoff = time.time() - older_than.total_seconds()
    removed = 0
    own = writer_name()  # this process is alive: no need to ask /proc (slow in a busy server)
    try:
        with os.scandir(tmp_dir) as listing:  # names and types from one directory read
            found = [(item.name, item.is_dir(follow_symlinks=False)) for item in listing]
    except FileNotFoundError:
        return 0
    for name, is_dir in found:
        entry = tmp_dir / name
        writer = _WRITER_DIR.match(name)
        if writer and is_dir:
            if (name != own and writer["host"] == _HOST
                    and not _alive(int(writer["pid"]), writer["start"])):
                removed += len(_entries(entry))
                shutil.rmtree(entry, ignore_errors=True)
            else:  # a live writer of this host, or another host's (which cannot be checked)
                removed += sum(_remove_older(p, cutoff) for p in _entries(entry))
        else:
            removed += _remove_older(entry, cutoff)
    return removed
