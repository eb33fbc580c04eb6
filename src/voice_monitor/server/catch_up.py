"""A starting collector counts what the lake holds uncounted.

Events are written before the real-time counters are told about them, so a process killed
between the two (a collector, a producer, an `ingest`) leaves landed events uncounted; a sender
that was never answered sends again and its events are counted then, but one that gave up is
not. So each collector, when it starts, hands the counter store every event the lake holds
within the store's horizon (`counters.STATE_TTL`); the store counts each `event_id` once, so
only what was missed is added. A catch-up that read every chunk tells the store so
(`counted_lake`): a store made anew on a lake with events (removed by hand, `state/` wiped)
vouches then for the window from its cut-off, not only from its making an hour later. A busy lake's horizon holds millions of events (seconds of work
per million): they are counted `CHUNK_ROWS` at a time, and a server stopping meanwhile stops
between two of them; the next start counts the rest. A lake this process may not write to
(a read-only mount) cannot have its store opened: a start with nothing in the horizon and no
mark of a store's making to clear is quiet then, as it was before the store was opened first.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from contextlib import closing
from datetime import UTC, datetime, timedelta

from voice_monitor.counter_refill import landed_since
from voice_monitor.counters import STATE_TTL, CounterStoreReadOnlyError, open_counters
from voice_monitor.lake import Lake, floor_hour
from voice_monitor.schema import FUTURE_TOLERANCE_MS
from voice_monitor.server import background

log = logging.getLogger("voice_monitor.collector")
CHUNK_ROWS = 100_000  # events counted at once (~0.3 s): a stop is heard between two chunks


def catch_up(lake: Lake, now: datetime | None = None, stop: threading.Event | None = None) -> int:
    """Count the lake's events of the counters' horizon that are not counted yet; how many.
    A failure is logged, never raised: the collector serves either way. Once `stop` (or the
    process's `background.stopping`) is set it stops after the chunk it is counting."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    added = 0
    try:
        try:
            store = open_counters(lake)  # made first (if need be): its mark is before `read_at`
        except CounterStoreReadOnlyError:
            if _nothing_to_do(lake, now):
                log.debug("the real-time counter store cannot be opened for writing; the lake "
                          "holds nothing for its catch-up")
                return 0
            raise
        try:
            read_at = datetime.now(UTC)  # (the clock a store's making is marked by)
            events = landed_since(lake, now - STATE_TTL, now)
            for start in range(0, events.num_rows, CHUNK_ROWS):
                if start and (background.stopping.is_set() or (stop and stop.is_set())):
                    log.info("the real-time counters' catch-up stopped with the server, %d of "
                             "%d events read; the next start counts the rest", start,
                             events.num_rows)
                    break
                added += store.record(events.slice(start, CHUNK_ROWS), now)
            else:  # every chunk counted (the embedded store; Redis refills instead)
                if hasattr(store, "counted_lake"):
                    store.counted_lake(read_at, now)
        finally:
            store.close()
    except Exception as exc:
        log.error("the real-time counters could not catch up with the lake (%s: %s)",
                  type(exc).__name__, exc)
        return added
    if added:
        log.info("the real-time counters caught up with %d landed events", added)
    return added


def _nothing_to_do(lake: Lake, now: datetime) -> bool:
    """Whether a catch-up would neither count an event nor clear a store's mark of its making:
    no event file in the horizon's hours, and the embedded store absent or without a `made`
    row (read without writing)."""
    hour, last = floor_hour(now - STATE_TTL), floor_hour(now + timedelta(milliseconds=FUTURE_TOLERANCE_MS))
    while hour <= last:  # the hours `landed_since` reads
        if lake.event_files(hour):
            return False
        hour += timedelta(hours=1)
    path = lake.local_state_dir / "counters.sqlite"
    if not path.exists():
        return True
    # a store in WAL mode on a read-only mount opens only as immutable (no writer can be
    # at work there); a store SQLite cannot read is left to the caller's error
    for mode in ("mode=ro", "immutable=1"):
        try:
            with closing(sqlite3.connect(f"{path.as_uri()}?{mode}", uri=True)) as db:
                return not db.execute("select 1 from made").fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return True  # (a store made before `made` has no mark)
        except sqlite3.Error:
            return False
    return False
