"""The collector's real-time counting: landed events told to the counter store on a thread of
their own, so that a sender's answer does not wait for the counters.

A landing hands its events over once their files are in the lake (so the counters still never
count an event the lake does not hold) and answers its senders; the counting thread tells the
store in landing order while the next landing is validated. A reader of the counters in this
process calls `settle()` first: it waits for every landing answered before it to be counted, so
a sender that reads the real-time figures after its answer sees its events. The store counts
each event once whatever the re-deliveries, so a count that failed is simply tried again; one
that keeps failing is given up with a logged error (the events are in the lake either way).

A server killed between answering and counting leaves landed events uncounted; so before its
first count the thread catches up: it hands the store every event the lake holds within the
store's horizon (`counters.STATE_TTL`), and the store, counting each event once, adds only
what was missed.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from voice_monitor.counters import STATE_TTL, CounterStore, open_counters
from voice_monitor.lake import Lake, connect, duckdb_path, floor_hour
from voice_monitor.schema import FUTURE_TOLERANCE_MS

QUEUE_LANDINGS = 8  # landings waiting to be counted, at most (then the next landing waits)
ATTEMPTS = 5  # tries of one landing's count before it is given up
SETTLE_TIMEOUT_S = 60.0

log = logging.getLogger("voice_monitor.collector")


class Counting:
    """One thread that tells the counter store about landed events, in landing order."""

    def __init__(self, lake: Lake):
        self.lake = lake
        self.given_up = 0  # events whose count failed every attempt
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUE_LANDINGS)
        self._changed = threading.Condition()
        self._issued = 0  # tickets handed out, one per landing
        self._pending: set[int] = set()  # tickets not counted yet
        self._store: CounterStore | None = None
        self._issued, self._pending = 1, {1}  # ticket 1: the catch-up, first in the queue
        self._queue.put((1, None, None))
        self._thread = threading.Thread(target=self._loop, daemon=True, name="voice-monitor-count")
        self._thread.start()

    def add(self, events: pa.Table, now: datetime) -> None:
        """Count these landed events (soon); waits only when many landings wait already."""
        with self._changed:
            self._issued += 1
            ticket = self._issued
            self._pending.add(ticket)
        self._queue.put((ticket, events, now))

    def settle(self, timeout: float = SETTLE_TIMEOUT_S) -> bool:
        """Wait until every landing handed over so far is counted; False if `timeout` passed."""
        with self._changed:
            upto = self._issued
            return self._changed.wait_for(
                lambda: not self._pending or min(self._pending) > upto, timeout)

    def close(self) -> None:
        """Count what was handed over, then stop the thread."""
        self._queue.put(None)
        self._thread.join()

    def _loop(self) -> None:
        try:
            while (item := self._queue.get()) is not None:
                ticket, events, now = item
                if events is None:
                    events, now = self._landed_recently()
                if events.num_rows:
                    self._record(events, now)
                with self._changed:
                    self._pending.discard(ticket)
                    self._changed.notify_all()
        finally:
            self._drop_store()

    def _record(self, events: pa.Table, now: datetime) -> None:
        for attempt in range(ATTEMPTS):
            try:
                if self._store is None:
                    self._store = open_counters(self.lake)
                self._store.record(events, now)
                return
            except Exception as exc:  # the store is re-opened for the next try
                self._drop_store()
                if attempt + 1 == ATTEMPTS:
                    self.given_up += events.num_rows
                    log.error("the real-time counters missed %d landed events: the counter "
                              "store failed %d times (%s: %s); the events are in the lake",
                              events.num_rows, ATTEMPTS, type(exc).__name__, exc)
                    return
                time.sleep(min(0.1 * 2 ** attempt, 2.0))

    def _landed_recently(self) -> tuple[pa.Table, datetime]:
        """(the lake's events stamped within the store's horizon, the moment it was read)."""
        now = datetime.now(UTC)
        since = now - STATE_TTL
        hour, last = floor_hour(since), floor_hour(now + timedelta(milliseconds=FUTURE_TOLERANCE_MS))
        files = []
        while hour <= last:
            files += self.lake.event_files(hour)
            hour += timedelta(hours=1)
        if not files:
            return pa.table({}), now
        con = connect()
        try:
            return con.sql(
                "select event_id, event_type, organization_id, timestamp from read_parquet($files)"
                " where timestamp >= $since",
                params={"files": [duckdb_path(f) for f in files], "since": since},
            ).to_arrow_table(), now
        except Exception as exc:  # a file that cannot be read: counting goes on without it
            log.error("the real-time counters could not catch up with the lake (%s: %s)",
                      type(exc).__name__, exc)
            return pa.table({}), now
        finally:
            con.close()

    def _drop_store(self) -> None:
        store, self._store = self._store, None
        if store is not None:
            with contextlib.suppress(Exception):  # closing what failed: nothing to save
                store.close()
