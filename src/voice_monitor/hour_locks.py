"""Locks that serialise landings into the same event hours, so duplicate counts are true.

A landing counts its duplicates against the files already in each hour it touches, then writes.
Two landings of the same events at once would each count against the lake without the other's
file and both report (almost) no duplicates. Holding the hours' locks from counting to writing
makes each count see every landing before it. Locks are `fcntl` locks (released by the OS when
a process dies) on a fixed set of files, `state/locks/hours-<k>.lock`, an hour mapping to one of
them by a hash: a bounded number of files, and two hours sharing a file only wait for each other.
"""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime

from voice_monitor.lake import Lake, floor_hour

STRIPES = 64


def _stripe(hour: datetime) -> int:
    key = floor_hour(hour).strftime("%Y-%m-%dT%H").encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=4).digest(), "big") % STRIPES


@contextmanager
def hour_locks(lake: Lake, hours: Iterable[datetime]) -> Iterator[None]:
    """Hold the locks of these hours (taken in one global order, so landings never deadlock)."""
    folder = lake.local_state_dir / "locks"  # a remote lake: this host's landings only
    folder.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        for stripe in sorted({_stripe(h) for h in hours}):
            handle = stack.enter_context(open(folder / f"hours-{stripe:02d}.lock", "a+b"))
            fcntl.flock(handle, fcntl.LOCK_EX)
            stack.callback(fcntl.flock, handle, fcntl.LOCK_UN)
        yield
