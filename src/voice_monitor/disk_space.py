"""A full disk: telling it apart from other failures, and the one line that says what to do.

The OS says ENOSPC (or EDQUOT, a quota) on a failed write; Arrow passes that errno on, DuckDB
puts "No space left on device" in its text, SQLite says SQLITE_FULL, or only "disk I/O error"
when its shared-memory file could not grow. The last is a full disk when the file system that
holds the file has (almost) no room left: that is asked of the file system (`statvfs`).
"""

from __future__ import annotations

import errno
import os
import re
import sqlite3
from pathlib import Path

FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_FULL_TEXTS = ("no space left on device", "disk quota exceeded", "database or disk is full")
# a write that failed on a file system with less than this left is taken as a full disk
NEARLY_FULL_BYTES = 1 << 20


class NoSpaceError(OSError):
    """The file system holding `filename` has no space left; its text is the one line to show."""

    def __init__(self, path: str | os.PathLike[str], what: str = "", fix: str = ""):
        super().__init__(errno.ENOSPC, message(path, what, fix), os.fspath(path))

    def __str__(self) -> str:
        return self.strerror


def message(path: str | os.PathLike[str], what: str = "", fix: str = "") -> str:
    """One line: where the disk is full, `what` was (not) done, and what to do."""
    done = f" ({what})" if what else ""
    fix = fix or ("free space on that file system (or move the folder to a larger one), then "
                  "try again; nothing acknowledged before was lost")
    return f"no space left on device at {os.fspath(path)}{done}; {fix}"


def free_bytes(path: str | os.PathLike[str]) -> int | None:
    """Bytes an unprivileged writer may still use on the file system holding `path` (or the
    nearest folder above it that exists); None when that cannot be asked."""
    target = Path(path)
    while not target.exists() and target != target.parent:
        target = target.parent
    try:
        stats = os.statvfs(target)
    except OSError:
        return None
    return stats.f_bavail * stats.f_frsize


def is_full(exc: BaseException, path: str | os.PathLike[str] | None = None) -> bool:
    """Whether `exc` (or an exception it was raised from) is a write refused for want of space.
    `path`: a file or folder the failed write was under, asked when SQLite's error is only an
    I/O error."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in FULL_ERRNOS:
            return True
        text = str(exc).lower()
        if any(mark in text for mark in _FULL_TEXTS):
            return True
        if isinstance(exc, sqlite3.Error):
            code = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
            if code == sqlite3.SQLITE_FULL:
                return True
            if code == sqlite3.SQLITE_IOERR and path is not None:
                free = free_bytes(path)
                if free is not None and free < NEARLY_FULL_BYTES:
                    return True
        exc = exc.__cause__ or exc.__context__
    return False


# DuckDB names the file in its text: 'Could not write file "x.parquet": No space left on
# device' (inside a JSON string, with its quotes escaped, for an asynchronous write)
_DUCKDB_FILE = re.compile(r'[Ff]ile \\?"([^"\\]+)\\?"')


def where(exc: BaseException, default: str | os.PathLike[str]) -> str:
    """The file an OS error (or DuckDB's text) names, if any along the chain, else `default`."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.filename:
            return os.fsdecode(exc.filename)
        named = _DUCKDB_FILE.search(str(exc))
        if named:
            return named[1]
        exc = exc.__cause__ or exc.__context__
    return os.fspath(default)


# -- the lake's reserve ------------------------------------------------------------------------
# Retention records what it drops before deleting it (lake.record_dropped), so on a disk full to
# the last byte it could free nothing. A lake keeps this much room for it in state/reserve, which
# retention deletes when the disk is full and makes again once it has freed space.
RESERVE_BYTES = 64 * 1024
RESERVE_NAME = "reserve"


def keep_reserve(state_dir: Path) -> None:
    """Make `state_dir`/reserve if it is missing; best effort (on a full disk it is not made)."""
    path = Path(state_dir) / RESERVE_NAME
    if path.exists():
        return
    tmp = path.with_name(f".{RESERVE_NAME}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # bytes that do not compress: a compressing file system (btrfs, ZFS) keeps them whole
        tmp.write_bytes(os.urandom(RESERVE_BYTES))
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)


def use_reserve(state_dir: Path) -> bool:
    """Delete `state_dir`/reserve to give its room back; whether there was one."""
    try:
        (Path(state_dir) / RESERVE_NAME).unlink()
    except FileNotFoundError:
        return False
    return True
