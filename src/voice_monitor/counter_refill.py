"""A shared counter store that lost its data is filled again from the lake (contract §5, §13).

A Redis restarted without persistence (as a cache often runs), flushed, or a replica promoted
before it had the keys has lost every count; the next landing would make it look whole again,
and the window would count only what landed since. The need is kept in Redis itself: the
landing that finds the database without any landing's horizon marks it (`vm:r`, in the same
script call that counts its events: no round trip more), and every landing's script says whether
the mark is there, in any process and on any host, a collector or a CLI `ingest`; so does a
read's (`RedisCounterStore.horizon`): `realtime_metrics` then refills, and while another process
is at it counts from the lake's files.

`refill` then hands the store the lake's events of the last `STATE_TTL` again, each counted once
(the store's SET NX per event: two hosts refilling at once never count an event twice). One
process at a time does it (a lease in Redis, renewed per chunk, that ends with it or expires
with a process that died); only a refill that read every chunk clears the mark, so a failed one
leaves it for the next landing to try again. A collector refills on a background thread (its
senders are answered meanwhile, and its exit stops the refill between two chunks); any other
process (`ingest`, a local producer) right after its landing.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from voice_monitor.counters import STATE_TTL, open_counters, shared
from voice_monitor.lake import Lake, floor_hour
from voice_monitor.schema import FUTURE_TOLERANCE_MS
from voice_monitor.views import with_sources

log = logging.getLogger("voice_monitor.counters")
CHUNK_ROWS = 100_000  # events counted at once (~0.3 s); the lease is renewed between two
LEASE_S = 120  # a refill whose process died is taken over after this long
# a collector starts a refill at most this often (another host's may hold the lease: each of
# its landings would otherwise start a thread and a Redis connection to learn it), and after
# one that failed waits RETRY_S
TRY_EVERY_S = 5
RETRY_S = 60

_lock = threading.Lock()
_running: threading.Thread | None = None
_next_try = -float("inf")  # time.monotonic() before which a collector starts no refill


def after_landing(lake: Lake, now: datetime, wait: bool) -> None:
    """A landing found the shared store marked as having lost its data: refill it, here
    (`wait`, or outside a server) or on a server's background thread (one at a time in this
    process). Only a server joins its background threads at exit: a thread still inside
    DuckDB when the interpreter ends aborts the process (server/background.py)."""
    global _running, _next_try
    background = sys.modules.get("voice_monitor.server.background")
    with _lock:
        if _running is not None and _running.is_alive():
            return
        if wait or background is None:
            _running = threading.current_thread()
        else:
            if time.monotonic() < _next_try:
                return
            _next_try = time.monotonic() + TRY_EVERY_S
            _running = background.start(_in_background, lake, now,
                                        name="voice-monitor-counter-refill")
            return
    try:
        refill(lake, now)
    finally:
        with _lock:
            _running = None


def _in_background(lake: Lake, now: datetime) -> None:
    global _next_try
    if refill(lake, now) is None:  # (logged) not again at each landing of a busy collector
        _next_try = time.monotonic() + RETRY_S


def _stopping(stop: threading.Event | None) -> bool:
    background = sys.modules.get("voice_monitor.server.background")
    return bool((stop and stop.is_set()) or (background and background.stopping.is_set()))


def refill(lake: Lake, now: datetime | None = None,
           stop: threading.Event | None = None) -> int | None:
    """If the lake's counter store is marked as having lost its data and no other process is
    refilling it: count the lake's events of the last STATE_TTL in it (before the latest
    landing's `now`, moved on by Redis's clock, when that is after `now`); how many were new. The
    mark is cleared once every chunk is counted. A failure is logged, never raised (the
    landing that asked is done), and leaves the mark: None."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    added = 0
    try:
        store = open_counters(lake)
        try:
            common = shared(store)
            held = common.claim_refill(str(uuid.uuid4()), LEASE_S) if common is not None else None
            if common is None or held is None:
                return 0  # not marked (any more), or another process is at it
            # the window the store vouches for once the mark is gone ends at its landings'
            # present, not at this caller's `now` (a read or an ingest at a past --now): the
            # lake's last STATE_TTL before that present is what it lost
            now = max(now, held[2] or now)
            done = False
            try:
                events = landed_since(lake, now - STATE_TTL, now)
                for start in range(0, events.num_rows, CHUNK_ROWS):
                    if start and _stopping(stop):
                        log.info("the counter store's refill stopped, %d of %d events read; the "
                                 "next landing refills it", start, events.num_rows)
                        return added
                    if start:
                        common.hold_refill(held, LEASE_S)
                    added += store.record(events.slice(start, CHUNK_ROWS), now)
                done = True
            finally:
                common.end_refill(held, done)
        finally:
            store.close()
    except Exception as exc:
        log.error("the real-time counter store lost its data and could not be refilled from the "
                  "lake (%s: %s); real-time reads count from the lake's files until a landing "
                  "refills it", type(exc).__name__, exc)
        return None
    log.info("the real-time counter store had lost its data: refilled with the lake's %d "
             "events of the last %s", added, STATE_TTL)
    return added


def landed_since(lake: Lake, since: datetime, now: datetime) -> pa.Table:
    """The counted columns of the lake's events stamped at or after `since` (up to the future
    tolerance past `now`)."""
    hour, last = floor_hour(since), floor_hour(now + timedelta(milliseconds=FUTURE_TOLERANCE_MS))
    files = []
    while hour <= last:
        files += lake.event_files(hour)
        hour += timedelta(hours=1)
    if not files:
        return pa.table({})
    # the events view: each copy of an event loses to the first landed, as every reader sees it
    return with_sources(raw_events=files).sql(
        "select event_id, event_type, organization_id, timestamp from events"
        " where timestamp >= $since", params={"since": since}).to_arrow_table()
