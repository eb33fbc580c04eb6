"""Producer: log events from a running program without blocking it (contract §11).

`emit()` only appends the record to an in-memory queue (or, in durable mode, appends one JSON
line to a spool file with a single `os.write`); a background writer thread lands batches, by
size or when `flush_interval` elapses: each batch is validated on a thread of its own while the
one before is landed (`landing.check`, then `landing.commit`). A memory-mode batch goes as the
dicts themselves (`mapping_rows.MappingRows`): the plain ones are put straight into typed
columns, only the others are written as JSON. `flush()` waits
for everything emitted so far; `close()` flushes, stops the thread and raises if any batch
could not be landed.

Durable mode spools to append-only segment files under `<lake>/state/spool/<name>`; the writer
rotates the open segment, lands the closed one, then deletes it. A segment left by a crashed
producer is landed by the next durable producer on the same spool, so delivery is at-least-once:
a crash between landing and deleting re-lands the segment, and the copies (same event_id, same
hour) are counted once everywhere downstream. A spool whose folder is deleted or unmounted
(with the lake, by default) makes emit() refuse, and what it held lands or is handed back in
`unlanded` (`_lose_spool`), never written on into a file nobody would read.

With `url=` (and `token=`) the producer sends each batch to a collector (`voice-monitor serve`)
instead of landing it: the same emit(), batching and spool, a segment deleted only once the
collector acknowledged it, retries with exponential backoff (capped at 30 s, never sooner than
a 503's Retry-After); a batch over the collector's size cap (413) is sent again in halves,
down to single events; a refusal that retrying cannot fix (401, 403, an event over the cap by
itself, a wrong url) fails at once. A durable producer's close() stops retrying `close_timeout`
seconds after it is called (`_pause`), leaving what is unsent in the spool. Durable, an event over the cap by
itself is set aside in a file of its own under
`<spool_dir>/too-large/` (never sent again), so the rest of its segment is acknowledged and the
segment deleted rather than resent, and refused again, at every start.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import shlex
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from voice_monitor import storage
from voice_monitor.arguments import whole_number
from voice_monitor.counters import open_counters
from voice_monitor.lake import Lake, connect, open_lake
from voice_monitor.landing import Checked, check, commit, land_batches
from voice_monitor.mapping_rows import MappingRows
from voice_monitor.mappings import dumps
from voice_monitor.remote import CollectorClient, SendError, body_line
from voice_monitor.spool import (  # noqa: F401 (ProducerError, SpoolLockedError: the producer's API)
    HELD_OPEN,
    SET_ASIDE,
    ProducerError,
    Segment,
    Spool,
    SpoolGoneError,
    SpoolLockedError,
    spool_line,
)
from voice_monitor.streaming import ahead

DEFAULT_BATCH_SIZE = 50_000
DEFAULT_REMOTE_BATCH_SIZE = 5_000
DEFAULT_FLUSH_INTERVAL = 1.0
MAX_RETRY_DELAY_S = 30.0
DEFAULT_CLOSE_TIMEOUT = 10.0
DURABLE_ONLY = object()  # close_timeout's default: DEFAULT_CLOSE_TIMEOUT when durable, else None
CLOSING_REQUEST_S = 5.0  # the least time a request sent after close() may take
_NEVER = threading.Event()  # (never set: a pause that close() cannot end)
log = logging.getLogger(__name__)


@dataclass
class ProducerStats:
    """What the writer has done so far (read at any time; updated by the writer thread)."""

    taken: int = 0  # events handed to landing (landed or not)
    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    batches: int = 0  # landings that succeeded
    retries: int = 0  # landing attempts that failed and were retried
    failed_batches: int = 0  # landings that failed for good
    unlanded: int = 0  # events in those failed landings
    set_aside: int = 0  # durable, to a collector: events over its size cap alone (of unlanded)


class Producer:
    """Emit events without blocking; a background thread lands them in batches."""

    def __init__(
        self,
        lake: Lake | str | os.PathLike[str] | None = None,
        *,
        url: str | None = None,
        token: str | None = None,
        batch_size: int | None = None,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        durable: bool = False,
        spool_dir: str | os.PathLike[str] | None = None,
        name: str = "default",
        source: str | None = None,
        now: datetime | Callable[[], datetime] | None = None,
        retries: int | None = None,
        retry_delay: float = 0.5,
        close_timeout: float | None | object = DURABLE_ONLY,
    ):
        if (lake is None) == (url is None):
            raise ValueError("give a Producer either a lake (land locally) or url= (send to a "
                             "collector), not both or neither")
        if url is not None and durable and spool_dir is None:
            raise ValueError("a durable producer with url= needs spool_dir=, a folder of its own "
                             "that survives restarts, e.g. /var/lib/myservice/voice-monitor-spool")
        if url is not None and now is not None:
            raise ValueError("now= only applies to a local lake; the collector stamps its own time")
        if retries is None:  # a network outage lasts longer than a local hiccup
            retries = 3 if url is None else 8
        if batch_size is None:  # one request stays well under the collector's size cap
            batch_size = DEFAULT_BATCH_SIZE if url is None else DEFAULT_REMOTE_BATCH_SIZE
        if not whole_number(batch_size) or batch_size < 1:
            raise ValueError(f"batch_size {batch_size!r} must be a whole number >= 1, e.g. 5000")
        if not _a_number(flush_interval) or not 0 < flush_interval < threading.TIMEOUT_MAX:
            # inf (or 1e10) killed the writer thread at its first wait ("OverflowError: timestamp
            # out of range"), and every event emitted was lost without a word from close()
            raise ValueError(f"flush_interval {flush_interval!r} must be a number of seconds > 0 "
                             f"and below {threading.TIMEOUT_MAX:.0f}, e.g. 1.0")
        if not whole_number(retries) or retries < 0:
            raise ValueError(f"retries {retries!r} must be a whole number >= 0, e.g. 3")
        if not _a_number(retry_delay) or not 0 <= retry_delay < math.inf:  # (NaN too)
            # a NaN reached time.sleep at the first retry: ValueError, and the batch was
            # counted neither landed nor unlanded (producer.unlanded left it out)
            raise ValueError(f"retry_delay {retry_delay!r} must be a finite number of "
                             "seconds >= 0, e.g. 0.5")
        if close_timeout is DURABLE_ONLY:
            # what close() gives up is kept by a durable spool for the next start; in memory it
            # would be lost at the interpreter's exit: there, every retry (~90 s to a collector)
            close_timeout = DEFAULT_CLOSE_TIMEOUT if durable else None
        if close_timeout is not None and (not _a_number(close_timeout)
                                          or not 0 <= close_timeout <= math.inf):  # (NaN too)
            raise ValueError(f"close_timeout {close_timeout!r} must be a number of seconds >= 0, "
                             "e.g. 10, or None to retry through every retry at close()")
        if not name or "/" in name or name in (".", ".."):
            raise ValueError(f"producer name {name!r} must be a plain file name, e.g. 'api-worker-1'")
        if spool_dir is not None and not durable:
            raise ValueError("spool_dir is only used in durable mode; pass durable=True as well")
        # a local producer creates its lake (contract §4), at its first landing: a failure to
        # create it is a landing failure, retried and reported like any other
        self.lake = None if lake is None else lake if isinstance(lake, Lake) else Lake(lake)
        self.url = url
        self._client = None if url is None else CollectorClient(url, token)
        self.name = name
        self.source = source or f"producer:{name}"
        self.batch_size = batch_size
        self.flush_interval = float(flush_interval)
        self.durable = durable
        self.retries = retries
        self.retry_delay = retry_delay
        self.close_timeout = None if close_timeout == math.inf else close_timeout
        self._close_deadline: float | None = None  # monotonic, set by close()
        self._close_called = threading.Event()  # ends a pause between retries (`_pause`)
        self._cut_by_close = False  # a batch given up at the close deadline
        self._now = now
        self.stats = ProducerStats()
        self.errors: list[Exception] = []
        # records of batches that failed for good (JSON texts, or Rejected): non-durable, and
        # durable once its spool is gone (`_spool_gone`), those it had spooled
        self.unlanded: list = []
        self._not_sent = 0  # of those, given up untried by close() (`_give_up_if_closing`)
        self._gave_up = False
        self._queue: deque = deque()
        self._lock = threading.Lock()  # orders emit() against close() and spool rotation
        self._wake = threading.Event()
        self._done = threading.Condition()
        self._flush_asked = self._flush_served = 0
        self._open = True
        self._closing = False
        self._counters = None  # the writer's counter store and DuckDB connection, kept open
        self._con = None  # between landings (reopened after a failed one)
        self._ahead_con = None  # validation's, on the thread that runs a batch ahead
        self._spool: Spool | None = None
        self._spool_gone: str | None = None  # why emit() refuses: the spool's folder is gone
        self._segments: deque[Segment] = deque()
        # segments whose landing failed for good, kept for the next producer: each with the
        # index of its first record not landed and their count; watched so that one deleted
        # since is handed back in `unlanded` (read through its descriptor), never lost unsaid
        self._kept: list[tuple[Segment, int, int]] = []
        self._spool_in_lake = durable and not spool_dir  # (`_lose_spool`'s advice)
        if durable:
            # '~/spool' is the home folder, as for a lake (a spool in ./~ would be a new, empty
            # one for every working directory: what an earlier process left would never be sent)
            directory = (Path(os.path.expanduser(spool_dir)) if spool_dir
                         else self.lake.local_state_dir / "spool" / name)
            self._spool = Spool(directory)
            self._segments.extend(self._spool.leftovers)
        self.spool_dir = self._spool.directory if self._spool else None
        self._thread = threading.Thread(target=self._run, name=f"voice-monitor-producer-{name}",
                                        daemon=True)
        self._thread.start()
        atexit.register(self.close)  # a forgotten close() still flushes at interpreter exit

    # -- the caller's side -----------------------------------------------------------------
    def emit(self, record: Mapping) -> None:
        """Queue one event for landing and return at once (durable: once it is in the spool)."""
        if self._spool is None:
            # no lock (it cost more than the rest of emit): close() sets `_open` before the
            # writer's last look at the queue, so a record appended while `_open` still held
            # is landed; one appended as close() began raises, landed or not (sent again, it
            # is a duplicate, counted once)
            if not self._open:
                raise ProducerError(f"producer {self.name!r} is closed; emit() before close()")
            self._queue.append(record)
            if not self._open:
                raise ProducerError(f"producer {self.name!r} was closed during emit(); the "
                                    "event may or may not be landed")
            if len(self._queue) >= self.batch_size and not self._wake.is_set():
                self._wake.set()
            return
        data = spool_line(record) + b"\n"
        with self._lock:
            if not self._open:
                raise ProducerError(f"producer {self.name!r} is closed; emit() before close()")
            if self._spool_gone is not None:
                raise SpoolGoneError(self._spool_gone)
            self._spool.write(data)
            full = self._spool.lines >= self.batch_size
        if full and not self._wake.is_set():
            self._wake.set()

    @property
    def pending(self) -> int:
        """Events emitted but not yet handed to landing (durable: in the open segment only)."""
        return self._spool.lines if self._spool else len(self._queue)

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every event emitted before this call is landed; raise if any failed.
        `timeout` None or inf waits as long as it takes."""
        if timeout is not None and timeout != timeout:  # NaN
            raise ValueError(f"flush timeout {timeout!r} is not a number; pass seconds, e.g. "
                             "30, or None to wait until every event is landed")
        if timeout is not None and timeout >= threading.TIMEOUT_MAX:
            # threading's wait refuses inf, and 1e10 (above TIMEOUT_MAX, ~292 years):
            # "timestamp out of range ..."; either is as long as it takes
            timeout = None
        if not self._thread.is_alive():
            return
        failures = len(self.errors)
        with self._done:
            self._flush_asked += 1
            ticket = self._flush_asked
            self._wake.set()
            if not self._done.wait_for(lambda: self._flush_served >= ticket, timeout):
                raise ProducerError(f"flush() timed out after {timeout} s; {self.pending} events pending")
        if len(self.errors) > failures:
            raise ProducerError(self._error_summary(self.errors[failures:]))

    def close(self) -> None:
        """Land everything, stop the writer, release the spool; raise if anything failed.

        Bounded when the lake or collector fails: a batch failing after close() was called is
        retried only until `close_timeout` seconds (durable: 10 by default; in memory, where
        what is given up is lost at exit, every retry by default) have passed since the call;
        then it and the batches after it are given up (a request in flight is not cut, but one
        sent after the call waits no longer than the time left, at least 5 s). What is given up
        stays in the spool for the next durable producer, or is handed back in `unlanded`
        (memory mode), and the ProducerError raised says how many. The same at interpreter
        exit. A batch that lands is never cut: a long backlog to a working lake or collector is
        landed however long it takes, as long as each request is answered in time."""
        with self._lock:
            if not self._open:
                return
            self._open = False
        atexit.unregister(self.close)
        with self._done:
            if self.close_timeout is not None:
                self._close_deadline = time.monotonic() + self.close_timeout
            self._closing = True
        self._close_called.set()
        self._wake.set()
        self._thread.join()
        if self._spool:
            self._spool.close()
        if self.errors:
            raise ProducerError(self._error_summary(self.errors))

    def __enter__(self) -> Producer:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _error_summary(self, errors: list[Exception]) -> str:
        # a spool gone is no landing that failed: said in its own words, after the landings'
        # (and a segment deleted before it could land, named with its count)
        gone = [str(e) for e in errors if isinstance(e, SpoolGoneError)]
        errors = [e for e in errors if not isinstance(e, SpoolGoneError)]
        if not errors:
            first, *rest = gone
            if first == self._spool_gone:
                first += (f" ({self.stats.unlanded} events not landed; their JSON texts are in "
                          "producer.unlanded)")
            return "; and ".join([first, *rest])
        where = (f"they stay in spool {str(self.spool_dir)!r} and land when a durable producer "
                 "next starts on it" if self.durable and self._spool_gone is None
                 else "their JSON texts are in producer.unlanded")
        if self.durable and self._spool_gone is None and self.unlanded:
            where = (f"{len(self.unlanded)} of them, their segment deleted from the spool since, "
                     f"are in producer.unlanded (JSON texts); the others {where[5:]}")
        if self._not_sent:
            where += (f"; {self._not_sent} of them were not sent at all: close() gave up on "
                      "the rest once a batch had failed through every retry")
        if self.stats.set_aside:
            where += (f"; {self.stats.set_aside} of them, each over the collector's size cap by "
                      f"itself, set aside in {str(self.spool_dir / SET_ASIDE)!r} instead, never "
                      "sent again")
        target = self._target()
        how = ("failed at once (a refusal that retrying cannot fix)"
               if getattr(errors[0], "transient", True) is False
               else f"failed, retried until close()'s close_timeout of {self.close_timeout:g} s"
               if self._cut_by_close and len(errors) == 1
               else f"failed after {self.retries} retries")
        return (f"producer {self.name!r}: {len(errors)} landing(s) into {target!r} "
                f"{how} ({self.stats.unlanded} events not landed; {where}); "
                f"first error: {errors[0]!r}" + "".join(f"; and {g}" for g in gone))

    def _target(self) -> str:
        return self._client.shown if self.lake is None else str(self.lake.root)

    # -- the writer thread -----------------------------------------------------------------
    def _run(self) -> None:
        if self._client is None:
            self._warm()
        deadline = time.monotonic() + self.flush_interval
        while True:
            self._wake.wait(max(0.0, deadline - time.monotonic()))
            self._wake.clear()
            with self._done:
                ticket, closing = self._flush_asked, self._closing
            everything = closing or ticket > self._flush_served or time.monotonic() >= deadline
            try:
                self._land_pending(everything)
            except Exception as exc:  # a bug here must surface on close(), not kill the thread
                self.errors.append(exc)
            if everything:
                deadline = time.monotonic() + self.flush_interval
            with self._done:
                self._flush_served = ticket
                self._done.notify_all()
            if closing:
                break
        self._close_landing()
        for segment, _, _ in self._kept:  # left in the spool for the next producer
            segment.release()
        if self._ahead_con is not None:
            self._ahead_con.close()
        if self._client is not None:
            self._client.close()

    def _warm(self) -> None:
        """Open the DuckDB connections while the first batch fills, rather than on the way of
        its validation and landing: one database (~30 ms of CPU), the landing's connection a
        second one to it; one that fails to open is opened again there. The lake and its
        counter store are left to the first landing, which creates the lake."""
        try:
            self._ahead_con = connect()
            self._con = connect(beside=self._ahead_con)  # closed first (`_run`'s end)
        except Exception:  # noqa: BLE001 (the landing meets it again, with its retries)
            pass

    def _land_pending(self, everything: bool) -> None:
        if self._spool is None:
            queue, size = self._queue, self.batch_size

            def batches():  # each serialised (or, landing locally, validated) a batch ahead
                while len(queue) >= size or (everything and queue):
                    taken = [queue.popleft() for _ in range(min(size, len(queue)))]
                    if self._client is not None:
                        yield [dumps(record) for record in taken], None
                    else:  # the dicts themselves: the plain ones are never written as JSON
                        lines = MappingRows(taken)
                        yield lines, self._check(lines)

            for lines, checked in ahead(batches()):
                if self._gave_up:  # handed back untried: each would wait out every retry in turn
                    self._not_sent += len(lines)
                    self.stats.taken += len(lines)
                    self.stats.unlanded += len(lines)
                    self.unlanded.extend(_texts(list(lines)))
                    continue
                failed: list = []
                if not self._land(lines, checked, failed):
                    self.unlanded.extend(_texts(failed))
                    self._give_up_if_closing()
            return
        if self._spool_gone is None and self._spool.gone():
            self._lose_spool()
        if self._kept:
            self._watch_kept()
        if self._spool_gone is None and (everything or self._spool.lines >= self.batch_size):
            with self._lock:
                closed = self._spool.rotate()
            if closed:
                self._segments.append(closed)
        while self._segments:
            segment = self._segments.popleft()
            try:
                lines = segment.read()
            except FileNotFoundError:  # a predecessor's segment, deleted before it was read
                self.errors.append(SpoolGoneError(
                    f"producer {self.name!r}: spool segment {str(segment.path)!r}, left by an "
                    f"earlier producer ({segment.size} bytes), was deleted before it was read; "
                    "its events are lost"))
                continue
            if self._gave_up:  # kept untried for the next producer, as a failed one is
                self._not_sent += len(lines)
                self.stats.unlanded += len(lines)
                self._keep(segment, 0, len(lines))
                continue
            for start in range(0, len(lines), self.batch_size):
                if not self._land(lines[start:start + self.batch_size]):
                    self._give_up_if_closing()
                    # the segment stays in the spool for the next durable producer to land
                    self.stats.unlanded += max(0, len(lines) - start - self.batch_size)
                    if segment.gone():  # unless gone (with its folder): handed back
                        self.unlanded.extend(_texts(lines[start:]))
                        segment.release()
                    else:
                        self._keep(segment, start, len(lines) - start)
                    break
            else:
                segment.unlink()

    def _give_up_if_closing(self) -> None:
        """After a landing failed for good: once close() has been called, a failure that was
        retried through (the collector or lake is down) ends the waiting, and what is left is
        handed back (memory) or kept in the spool (durable) untried; else close() took a full
        retry cycle (about 90 s to a collector) per batch or segment left, hours for the backlog
        of an outage."""
        if self._closing and getattr(self.errors[-1], "transient", True):
            self._gave_up = True

    def _keep(self, segment: Segment, start: int, count: int) -> None:
        """Watch a segment left in the spool (its landing failed): its descriptor stays open,
        for the first `HELD_OPEN` such segments (a long outage must not use up the process's
        descriptors); beyond them only its path and count are kept, to name a loss."""
        if sum(kept.fd is not None for kept, _, _ in self._kept) >= HELD_OPEN:
            segment.release()
        self._kept.append((segment, start, count))

    def _watch_kept(self) -> None:
        """A segment kept for the next producer whose file is gone since (its folder deleted,
        or it alone): its records, read through the descriptor still open, are handed back in
        `unlanded` (already counted in `stats.unlanded`); one whose descriptor was not kept is
        named, with its count, in one line in `errors`."""
        still = []
        for segment, start, count in self._kept:
            if not segment.gone():
                still.append((segment, start, count))
            elif segment.fd is not None:
                self.unlanded.extend(_texts(segment.read()[start:]))
                segment.release()
            else:
                self.errors.append(SpoolGoneError(
                    f"producer {self.name!r}: spool segment {str(segment.path)!r} was deleted "
                    f"before its {count} events landed (its landing had failed); they are lost"))
        self._kept = still

    def _lose_spool(self) -> None:
        """The spool's folder is gone (deleted or unmounted, with the lake it lies in by
        default): what `emit()` put in the open segment since is read back through its
        descriptor and landed, else handed back in `unlanded`; `emit()` refuses from now on,
        loudly, rather than write to a file nobody will read."""
        where = str(self.spool_dir)
        fix = (f"Make the lake again (voice-monitor init "
               f"{shlex.quote(storage.shared_url(self.lake.root))}) and start a new Producer"
               if self.lake is not None and not self.lake.exists() else "Start a new Producer")
        # the default spool lies in the lake's folder; one given as spool_dir is outside it
        in_lake = self._spool_in_lake
        message = (f"producer {self.name!r}: its spool {where!r} is gone (deleted or unmounted"
                   + (", with the lake it lies in?" if in_lake else "") + "), so emit() refuses "
                   "events from now on; those it had spooled are landed or in producer.unlanded. "
                   + fix + ("; give a durable producer a spool_dir outside the lake (e.g. "
                            "/var/lib/myservice/voice-monitor-spool) so its events outlive the "
                            "lake's folder" if in_lake else ""))
        with self._lock:
            self._spool_gone = message
            salvaged = self._spool.salvage()
        self.errors.append(SpoolGoneError(message))
        failed: list = []
        if salvaged and not self._land(salvaged, None, failed):
            self.unlanded.extend(_texts(failed))

    def _check(self, lines: list) -> tuple[datetime, Checked] | None:
        """The batch validated (on the thread that runs ahead of the landings), when landing
        locally: validation reads nothing of the lake."""
        if self._client is not None:
            return None
        try:  # whatever fails here, the landing validates the batch again, with its retries
            if self._ahead_con is None:
                self._ahead_con = connect()
            now = self._current_now()
            return now, check(self._ahead_con, [lines], [self.source], now)
        except Exception:  # noqa: BLE001
            return None

    def _land(self, lines: list[str], checked: tuple | None = None,
              failed: list | None = None) -> bool:
        """Land one batch, retrying a bounded number of times; False if it failed for good
        (the lines that failed are added to `failed`). `checked`: the batch already validated
        (a retry validates it again)."""
        for attempt in range(self.retries + 1):
            try:
                result = self._land_once(lines, checked if attempt == 0 else None)
            except Exception as exc:
                self._close_landing()
                if getattr(exc, "status", None) == 413 and len(lines) > 1:
                    # over the collector's size cap: each half again, as small as it takes
                    half = len(lines) // 2
                    first = self._land(lines[:half], None, failed)
                    return self._land(lines[half:], None, failed) and first
                if getattr(exc, "status", None) == 413 and self._spool is not None:
                    aside = self._set_aside(lines[0], exc)
                    if aside is not None:  # out of the segment, which can then be deleted
                        self.errors.append(aside)
                        self.stats.failed_batches += 1
                        self.stats.unlanded += 1
                        self.stats.set_aside += 1
                        self.stats.taken += 1
                        return True
                # exponential backoff, capped; never sooner than a collector's Retry-After, nor
                # longer than the cap: a proxy's 'Retry-After: 86400' held close() for a day
                delay = max(self.retry_delay * 2**attempt, getattr(exc, "retry_after", None) or 0.0)
                if (attempt == self.retries or getattr(exc, "transient", True) is False
                        or not self._pause(min(delay, MAX_RETRY_DELAY_S), attempt, exc, lines)):
                    if failed is not None:
                        failed.extend(lines)
                    self.errors.append(exc)
                    self.stats.failed_batches += 1
                    self.stats.unlanded += len(lines)
                    self.stats.taken += len(lines)
                    return False
                self.stats.retries += 1
                continue
            stats = self.stats
            stats.taken += len(lines)
            stats.accepted += result.accepted
            stats.duplicates += result.duplicates
            stats.quarantined += result.quarantined
            stats.batches += 1
            return True
        return False

    def _pause(self, seconds: float, attempt: int, exc: Exception, lines: list) -> bool:
        """Wait `seconds` before retrying a batch; False, at once, if close() was called and
        its deadline comes first (the batch is then given up: `close_timeout`)."""
        if attempt == 0:  # said at once: the retries of one
            # batch take ~90 s to a collector (a name that does not resolve, nothing listening)
            log.warning("producer %r: a batch of %d events into %r failed (%s); retrying up to "
                        "%d times with backoff, its events kept %s", self.name, len(lines),
                        self._target(), exc, self.retries,
                        "in the spool" if self._spool is not None else "in memory")
        end, left = time.monotonic() + seconds, seconds
        if not self._close_called.is_set():
            if not _sleep(seconds, self._close_called):
                return True  # the whole pause, close() not called meanwhile
            left = end - time.monotonic()  # woken by close()
        if self._close_deadline is not None and end > self._close_deadline:
            self._cut_by_close = True
            return False
        if left > 0:  # close() called with time to spare (or with no close_timeout)
            _sleep(left, _NEVER)
        return True

    def _set_aside(self, line, exc: SendError) -> SendError | None:
        """Move an event the collector refuses even alone out of the spool's segments into a
        file of its own (sending it again can never work, and it would keep its segment, and
        every later event of it, in the spool for ever); the error naming that file, or None
        if it could not be written (the segment then stays, as for any failure)."""
        try:
            # (a record the producer refused: its raw text, readable, as ingest would read it)
            path = self._spool.set_aside(body_line(getattr(line, "raw", line)))
        except OSError:
            return None
        return SendError(f"{exc}; the event is set aside in {str(path)!r}, never sent again: "
                         "it is over the collector's size cap by itself (--max-body-bytes); "
                         "shrink it and emit it again, or ingest that file where the lake is",
                         transient=False, status=413)

    def _land_once(self, lines: list, checked: tuple | None = None):
        if self._client is not None:
            if self._close_deadline is None:
                return self._client.send(lines)
            # after close(): a collector that does not answer holds close() no longer than
            # its close_timeout and 5 s (a working one, even busy, answers a batch within that)
            return self._client.send(lines, max(self._close_deadline - time.monotonic(),
                                                CLOSING_REQUEST_S))
        if self._counters is None:
            # made at the handle's first landing; once found (made, opened or landed in), a lake
            # deleted or unmounted since is not made again (NoLakeError: the events wait,
            # retried or in the spool)
            if self.lake.found:
                open_lake(self.lake)
            else:
                Lake.create(self.lake)
            self._counters = open_counters(self.lake)
        if self._con is None:
            self._con = connect()
        if checked is not None:
            now, batch = checked
            return commit(self.lake, batch, now, self._counters, self._con)[0]
        return land_batches(self.lake, [lines], [self.source], self._current_now(),
                            counters=self._counters, con=self._con)[0]

    def _close_landing(self) -> None:
        for held in (self._counters, self._con):
            if held is not None:
                held.close()
        self._counters = self._con = None

    def _current_now(self) -> datetime:
        if self._now is None:
            return datetime.now(UTC)
        return self._now() if callable(self._now) else self._now


def _a_number(value) -> bool:
    """Whether a setting in seconds is a number ('0.5' raised a bare TypeError from the range
    check; True is 1 to Python)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _sleep(seconds: float, until: threading.Event) -> bool:
    """Sleep `seconds`, or until `until` is set: True if it was (close() was called)."""
    return until.wait(seconds)


def _texts(records: list) -> list:
    """Records handed back in `Producer.unlanded`: JSON texts as str (bytes that are not
    UTF-8 as they are), a record refused at emit() as its `Rejected`."""
    return [_text(x) if isinstance(x, bytes) else x for x in records]


def _text(line: bytes) -> str | bytes:
    try:
        return line.decode()
    except UnicodeDecodeError:
        return line
