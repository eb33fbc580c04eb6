"""Locks that serialise landings into the same event hours, so duplicate counts are true.

A landing counts its duplicates against the files already in each hour it touches, then writes.
Two landings of the same events at once would each count against the lake without the other's
file and both report (almost) no duplicates. Holding the hours' locks from counting to writing
makes each count see every landing before it. Locks are `fcntl` locks (released by the OS when
a process dies) on a fixed set of files, `state/locks/hours-<k>.lock`, an hour mapping to one of
them by a hash: a bounded number of files, and two hours sharing a file only wait for each other.
Each holder stamps the lock file anew (`Held`), so a process can tell whether anyone else has
held an hour's lock since it did (the duplicate index then need not list the hour's folder).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path

from voice_monitor.lake import Lake, floor_hour, folder_is_a_file

STRIPES = 64


def _stripe(hour: datetime) -> int:
    key = floor_hour(hour).strftime("%Y-%m-%dT%H").encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=4).digest(), "big") % STRIPES


class Held:
    """The hour locks a landing holds, and their stamps.

    Every holder, as soon as it has a lock, writes a fresh random stamp into the lock file
    (whatever it then does: land, compact, only look; if the stamp cannot be written it does
    nothing). So a stamp found under the lock that is still the one this process wrote when it
    last held it means no other holder has had the lock since: no file has landed in those hours
    and no compaction has run there but this process's own. Writers that take no lock (retention,
    `lake check --move-aside`) only remove files. The stamps are this host's, as the locks are:
    a remote lake has none."""

    def __init__(self, lake: Lake) -> None:
        self._remote = lake.remote
        self._found: dict[int, bytes] = {}
        self._mine: dict[int, bytes] = {}

    def _hold(self, stripe: int, fd: int) -> None:
        self._found[stripe] = os.pread(fd, 8, 0)
        self._mine[stripe] = os.urandom(8)
        if os.pwrite(fd, self._mine[stripe], 0) != 8:
            raise OSError(f"could not stamp the hour lock file {fd}")

    def found(self, hour: datetime) -> bytes | None:
        """The stamp the hour's lock held when taken (None on a remote lake)."""
        return None if self._remote else self._found[_stripe(hour)]

    def mine(self, hour: datetime) -> bytes | None:
        """The stamp this holder wrote into the hour's lock (None on a remote lake)."""
        return None if self._remote else self._mine[_stripe(hour)]


@contextmanager
def hour_locks(lake: Lake, hours: Iterable[datetime]) -> Iterator[Held]:
    """Hold the locks of these hours (taken in one global order, so landings never deadlock)."""
    folder = lake.local_state_dir / "locks"  # a remote lake: this host's landings only
    held = Held(lake)
    with ExitStack() as stack:
        for stripe in sorted({_stripe(h) for h in hours}):
            fd = _open(folder, f"hours-{stripe:02d}.lock")
            stack.callback(os.close, fd)
            fcntl.flock(fd, fcntl.LOCK_EX)
            stack.callback(fcntl.flock, fd, fcntl.LOCK_UN)
            held._hold(stripe, fd)
        yield held


def _open(folder: Path, name: str) -> int:
    """The lock file opened (made if missing), its folder made only when missing (a landing
    takes its locks every time: no mkdir each time); a file where the folder should be, or a
    folder where the lock file should be, said plainly."""
    try:
        return _open_file(folder, name)
    except FileNotFoundError:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise folder_is_a_file(folder) from exc
        return _open_file(folder, name)
    except NotADirectoryError as exc:  # the folder (or one above it) is a file
        raise folder_is_a_file(folder) from exc


def _open_file(folder: Path, name: str) -> int:
    try:
        return os.open(os.path.join(folder, name), os.O_RDWR | os.O_CREAT, 0o644)
    except IsADirectoryError as exc:
        raise folder_is_a_file(folder / name, "file") from exc
