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
between two of them; the next start counts the rest.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from voice_monitor.counter_refill import landed_since
from voice_monitor.counters import STATE_TTL, open_counters
from voice_monitor.lake import Lake
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
        store = open_counters(lake)  # made first (if need be): its mark is before `read_at`
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
