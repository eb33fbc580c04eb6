"""Landed events the real-time counters missed, noted in the lake and counted later (contract §5).

A landing places its event files, then counts them in the counter store. When that count fails
after a file is in place (its disk full, the store read-only, Redis gone), the lake holds events
no counter counts; a sender that sends the batch again has them counted then, one that gives up
does not. So the landing leaves a note: an empty file in the lake's local state,
`uncounted/<now µs>.<first hour>.<last hour>.<random>` (hours since the epoch of the events in
place). An empty file needs no data block, so a disk full to the last byte takes it too.

The next landing, `realtime_metrics`, the server's /metrics and the failure-rate check find the
notes (one folder listing) and hand the store the lake's events of those hours within its
horizon (`STATE_TTL`); the store counts each `event_id` once, so only what was missed is added.
Each note is removed once its events are counted. While that fails too (the disk still full),
the readers count the window from the lake's files (lake_window.py).
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from datetime import UTC, datetime, timedelta

from voice_monitor.counters import _HOUR_US, STATE_TTL, CounterStore, _us
from voice_monitor.lake import Lake, floor_hour

log = logging.getLogger("voice_monitor.counters")
FOLDER = "uncounted"
CHUNK_ROWS = 100_000  # events handed to the store at once (as counter_refill.py)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# a note's name as `note` makes it (µs and hours since the epoch, to the year 9999)
_NOTE = re.compile(r"\d{1,18}\.\d{1,8}\.\d{1,8}\.[0-9a-f]{32}", re.ASCII)


def note(lake: Lake, now: datetime, hours: list[int]) -> None:
    """Note that the events a landing at `now` placed in `hours` (hours since the epoch) are
    not counted. Never raises: a note that cannot be made is logged."""
    folder = lake.local_state_dir / FOLDER
    name = f"{_us(now)}.{min(hours)}.{max(hours)}.{uuid.uuid4().hex}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        os.close(os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    except OSError as exc:
        log.error("landed events are not counted by the real-time counters, and the note that "
                  "would have them counted later could not be made at %s (%s); sending the "
                  "batch again counts them", folder, exc)


def notes(lake: Lake) -> list[str]:
    """The notes waiting (names), [] if none: one listing of a folder, usually absent. Only
    names `note` makes: any other file there (a copy, a backup) is none, rather than a note
    no read could ever count, which would have every real-time read count the lake's files."""
    try:
        return [n for n in os.listdir(lake.local_state_dir / FOLDER) if _NOTE.fullmatch(n)]
    except (FileNotFoundError, NotADirectoryError):
        return []


def count(lake: Lake, store: CounterStore, now: datetime, found: list[str] | None = None) -> bool:
    """Hand `store` the lake's events of the noted hours within its horizon and remove the
    notes; whether none is left waiting (True with no notes). A failure is logged, never
    raised: the caller counts from the lake's files, or lands its own batch regardless."""
    from voice_monitor.counter_refill import landed_since

    found = notes(lake) if found is None else found
    if not found:
        return True
    try:
        parts = [[int(p) for p in name.split(".")[:3]] for name in found]
        # the store's present: the latest of the landings' `now`, as each would have counted
        present = max(now, _EPOCH + timedelta(microseconds=max(p[0] for p in parts)))
        since = max(floor_hour(present - STATE_TTL),
                    _EPOCH + timedelta(microseconds=min(p[1] for p in parts) * _HOUR_US))
        last = _EPOCH + timedelta(microseconds=max(p[2] for p in parts) * _HOUR_US)
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
