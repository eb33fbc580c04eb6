"""Landed events the real-time counters missed, noted in the lake and counted later (contract §5).

A landing places its event files, then counts them in the counter store. Between the two, the
lake holds events no counter counts: when the count fails (its disk full, the store read-only,
Redis gone) or the process is killed there (`kill -9` of an `ingest` or a Producer), a sender
that sends the batch again has them counted then, one that gives up does not. So a landing
notes its intent first: an empty file in the lake's local state,
`uncounted/<now µs>.<first hour>.<last hour>.<random>.<writer>` (hours since the epoch of its
events; `<writer>` is the process, `temp_files.writer_name`), made before its first file is
placed and removed once its count is committed: a create and an unlink per landing. When the
count fails the note is renamed without its `.<writer>` (the events are uncounted); a killed
process leaves it as it was. An empty file needs no data block, so a disk full to the last
byte takes it too.

The next landing, `realtime_metrics`, the server's /metrics and the failure-rate check find the
notes (one folder listing) that no landing is still at: those without a writer, those whose
writer (a process of this host) is gone, and any older than `IN_PROGRESS` (another host's, on a
shared folder, which cannot be asked). They hand the store the lake's events of the noted hours
within its horizon (`STATE_TTL`); the store counts each `event_id` once, so only what was missed
is added. Each note is removed once its events are counted. While that fails too (the disk still
full), the readers count the window from the lake's files (lake_window.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from voice_monitor import temp_files
from voice_monitor.counters import _HOUR_US, STATE_TTL, CounterStore, _us, shared, window_start
from voice_monitor.lake import Lake, floor_hour
from voice_monitor.schema import UNIX_EPOCH

log = logging.getLogger("voice_monitor.counters")
FOLDER = "uncounted"
CHUNK_ROWS = 100_000  # events handed to the store at once (as counter_refill.py)
# a note's name as `note` makes it (µs and hours since the epoch, to the year 9999), and as
# `begin` makes it: the same and `.<writer>` (temp_files.writer_name)
_NOTE = re.compile(r"\d{1,18}\.\d{1,8}\.\d{1,8}\.[0-9a-f]{32}(?:\.(w-[A-Za-z0-9._]+-\d+-\d+))?",
                   re.ASCII)
# a note older than this is taken whoever made it: no landing takes an hour from its first file
# to its count (the rule of temp_files.clean); only another host's notes wait for it
IN_PROGRESS = timedelta(hours=1)


def begin(lake: Lake, now: datetime, first: int, last: int) -> Path | None:
    """Note, before a landing at `now` places a file, that its events in the hours `first` to
    `last` (hours since the epoch) are not counted yet; the note's path, None if it could not be
    made (the landing goes on: only a kill before its count would then go unnoted)."""
    path = lake.local_state_dir / FOLDER / (f"{_us(now)}.{first}.{last}.{uuid.uuid4().hex}."
                                            f"{temp_files.writer_name()}")
    try:
        _make(path)
    except OSError:
        return None
    return path


def _make(path: Path) -> None:
    """An empty note at `path`, its folder made if need be (by a lake's first landing)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))


def settle(lake: Lake, intent: Path | None, now: datetime, placed: list[int],
           counted: bool) -> None:
    """After a landing's count: its note removed when the count was committed (or nothing was
    placed); else kept for the next landing or read, without its writer (`note`). Never raises."""
    if counted or not placed:
        if intent is not None:
            # (if it cannot be removed, a later read counts those hours again, each event once)
            with contextlib.suppress(OSError):
                os.unlink(intent)
        return
    if intent is not None:
        try:
            os.rename(intent, intent.with_name(".".join(intent.name.split(".", 4)[:4])))
            return
        except OSError:
            pass
    note(lake, now, placed)


def note(lake: Lake, now: datetime, hours: list[int]) -> None:
    """Note that the events a landing at `now` placed in `hours` (hours since the epoch) are
    not counted. Never raises: a note that cannot be made is logged."""
    folder = lake.local_state_dir / FOLDER
    name = f"{_us(now)}.{min(hours)}.{max(hours)}.{uuid.uuid4().hex}"
    try:
        _make(folder / name)
    except OSError as exc:
        log.error("landed events are not counted by the real-time counters, and the note that "
                  "would have them counted later could not be made at %s (%s); sending the "
                  "batch again counts them", folder, exc)


def notes(lake: Lake) -> list[str]:
    """The notes waiting (names) that no landing is still at, [] if none: one listing of a
    folder, usually empty or absent. Only names `note` and `begin` make: any other file there
    (a copy, a backup) is none, rather than a note no read could ever count, which would have
    every real-time read count the lake's files."""
    folder = lake.local_state_dir / FOLDER
    try:
        names = os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        # (a folder this user may not list, a symlink loop): landings and reads go on; only
        # what a failed count left there waits, until the folder is mended
        log.error("the notes of landed events the real-time counters missed cannot be read at "
                  "%s (%s); landings and reads go on without them: make it a folder this user "
                  "can read and write", folder, exc)
        return []
    return [name for name in names if _waiting(folder, name)]


def _waiting(folder: Path, name: str) -> bool:
    found = _NOTE.fullmatch(name)
    if found is None:
        return False  # not a note
    if found[1] is None:
        return True  # its landing failed to count it
    if temp_files.writer_gone(found[1]):
        return True  # its landing's process is gone (killed before its count)
    try:  # a live landing's (or another host's: only once older than any landing takes)
        return os.stat(folder / name).st_mtime < time.time() - IN_PROGRESS.total_seconds()
    except FileNotFoundError:
        return False


def count(lake: Lake, store: CounterStore, now: datetime, found: list[str] | None = None) -> bool:
    """Hand `store` the lake's events of the noted hours within its horizon and remove the
    notes; whether none is left waiting (True with no notes). A failure is logged, never
    raised: the caller counts from the lake's files, or lands its own batch regardless.

    For a reader (`found` None) also False when the real-time window ending at `now` holds
    event files that another host landed into a lake on an object store, uncounted by this
    host's embedded store (own_files.py)."""
    from voice_monitor.counter_refill import landed_since

    if found is None and not _own_window(lake, store, now):
        return False
    found = notes(lake) if found is None else found
    if not found:
        return True
    try:
        parts = [[int(p) for p in name.split(".")[:3]] for name in found]
        # the store's present: the latest of the landings' `now`, as each would have counted
        present = max(now, UNIX_EPOCH + timedelta(microseconds=max(p[0] for p in parts)))
        since = max(floor_hour(present - STATE_TTL),
                    UNIX_EPOCH + timedelta(microseconds=min(p[1] for p in parts) * _HOUR_US))
        last = UNIX_EPOCH + timedelta(microseconds=max(p[2] for p in parts) * _HOUR_US)
        added = 0
        if since <= last:
            # (`landed_since` reads the hours from `since`'s to that of `last` + its tolerance)
            events = landed_since(lake, max(since, present - STATE_TTL), last)
            for start in range(0, events.num_rows, CHUNK_ROWS):
                added += store.record(events.slice(start, CHUNK_ROWS), present)
        for name in found:
            (lake.local_state_dir / FOLDER / name).unlink(missing_ok=True)
    except Exception as exc:
        log.error("the real-time counters could not count the landed events they missed (%s: "
                  "%s); real-time reads count from the lake's files until a landing or a read "
                  "can", type(exc).__name__, exc)
        return False
    log.info("the real-time counters counted %d landed events they had missed", added)
    return True


def _own_window(lake: Lake, store: CounterStore, now: datetime) -> bool:
    """Whether the embedded store of a lake on an object store counted every event file of
    the real-time window ending at `now` (True for a local lake and for a shared store: Redis
    counts every host's landings). A listing that fails says False: the reader then reads the
    lake's files, which names the failure."""
    if not lake.remote or shared(store) is not None:
        return True
    from voice_monitor import own_files

    try:
        return not own_files.landed_elsewhere(lake, window_start(now), now)
    except Exception as exc:
        log.debug("could not list the real-time window's event files (%s: %s)",
                  type(exc).__name__, exc)
        return False
