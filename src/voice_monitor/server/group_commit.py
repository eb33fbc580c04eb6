"""Group commit: the collector's bounded queue of batches and the committer threads that land them.

A batch (a body, gunzipped already if it came gzip) waits in a bounded queue (in batches and in
bytes); a batch that finds it full is refused at once (`Overloaded`: 503 and `Retry-After`), so
an overloaded server sheds load instead of growing memory. A committer takes every batch
waiting, splitting each into records as it joins the group, and lands them as one landing
(`landing.land_batches`: one validation, one file per hour, one counter update), then answers
each sender with its own counts, only once its batch is durably in the lake. A body that does
not decompress or is over the cap is refused before it joins a group (`BadEncoding`,
`BodyTooLarge`), and one the split fails on is answered alone, so a bad batch never fails its
neighbours. The HTTP side is `server/collector.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import zlib
from collections import deque
from dataclasses import dataclass

import pyarrow as pa

from voice_monitor.arguments import whole_number
from voice_monitor.byte_scans import string_buffers
from voice_monitor.counters import open_counters
from voice_monitor.lake import Lake, NoLakeError, connect, no_lake_message
from voice_monitor.landing import LandingResult, land_batches, parse_records
from voice_monitor.mappings import REJECTED_MARK, Rejected
from voice_monitor.records import MAX_RECORD_BYTES
from voice_monitor.server import background
from voice_monitor.server.catch_up import catch_up
from voice_monitor.streaming import LineBatch

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
DEFAULT_QUEUE_SIZE = 256
DEFAULT_LANDING_THREADS = 1
MAX_GROUP_BATCHES = 1024  # batches landed together at most
MAX_GROUP_BYTES = 256 * 1024 * 1024
LINGER_S = 0.1  # how long a landing waits for more batches to join it, at most
LINGER_SHARE = 0.5  # ... and at most this share of the previous landing's time
EXPECTED_DECAY = 0.9  # how fast the collector forgets how many senders it served at once
MAX_QUEUED_BYTES = 512 * 1024 * 1024  # bodies held in memory waiting for landing, at most
INLINE_SPLIT_BYTES = 256 * 1024  # bodies up to this size are split by the landing that takes them
# the limits' largest values: a body over the queue's bytes would be held alone; 2**63 and more
# failed every gzip body with OverflowError (zlib's max_length is a C ssize_t), a 500
MAX_BODY_BYTES = MAX_QUEUED_BYTES
MAX_QUEUE_SIZE = 65536  # batches waiting, each an open connection: beyond it, none would connect
MAX_LANDING_THREADS = 64


def check_limits(max_body_bytes, queue_size, threads, threads_name: str = "threads") -> None:
    """Refuse a limit that is not a whole number in range, naming it, the range and an example
    (True is 1 to Python: max_body_bytes=True refused every batch of more than one byte; 2.5
    was taken). A queue_size of 0 is a queue where no batch waits: each landing thread takes
    one batch at a time, and a batch that comes while they all land is 503."""
    for name, value, least, most, example in (
            ("max_body_bytes", max_body_bytes, 1, MAX_BODY_BYTES, DEFAULT_MAX_BODY_BYTES),
            ("queue_size", queue_size, 0, MAX_QUEUE_SIZE, DEFAULT_QUEUE_SIZE),
            (threads_name, threads, 1, MAX_LANDING_THREADS, DEFAULT_LANDING_THREADS)):
        if not whole_number(value) or not least <= value <= most:
            raise ValueError(f"{name} {value!r} must be a whole number from {least} to {most}, "
                             f"e.g. {example}")


class BodyTooLarge(Exception):
    """The batch (as sent, or once decompressed) is over the size cap."""


class Overloaded(Exception):
    """The queue holds too many bytes already."""


class BadEncoding(Exception):
    """The gzip body does not decompress."""


class NotAscii(Exception):
    """The body, declared in a charset other than UTF-8, holds a byte beyond ASCII once
    decompressed (`land(ascii_only=True)`)."""


@dataclass
class CollectorStats:
    """What this process has collected since it started (for /metrics)."""

    batches: int = 0
    commits: int = 0  # landings (each of one or more batches)
    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    refused_overload: int = 0
    refused_too_large: int = 0
    failed: int = 0


@dataclass
class _Job:
    records: pa.Array | list | LineBatch | bytes  # one record each (`split_body`), or the body
    size: int  # bytes held for it
    source: str
    future: asyncio.Future  # of the sender's request, on its event loop
    loop: asyncio.AbstractEventLoop


class _Waiting:
    """Batches waiting for a committer, oldest first: the event loop `put`s them, committers
    `pop` them. A committer sleeps (`wait_for`) until as many batches wait as it asks for, or
    the stop sign (None): while it lingers for a group, one at a time, each split as it comes
    (`Collector._commit_group`)."""

    def __init__(self) -> None:
        self._items: deque[_Job | None] = deque()
        self._cond = threading.Condition()
        self._wants: list[int] = []  # per sleeping committer: how many waiting batches wake it
        self._stopping = False

    def put(self, item: _Job | None) -> None:
        with self._cond:
            self._items.append(item)
            self._stopping |= item is None
            if self._wants and (self._stopping or len(self._items) >= min(self._wants)):
                self._cond.notify_all()

    def pop(self) -> _Job | None:
        """The oldest waiting batch (None: the stop sign); IndexError when none waits."""
        with self._cond:
            return self._items.popleft()

    def wait_for(self, count: int, timeout: float | None = None) -> None:
        """Sleep until `count` batches wait or the stop sign came, `timeout` seconds at most."""
        with self._cond:
            if len(self._items) >= count or self._stopping:
                return
            self._wants.append(count)
            try:
                self._cond.wait(timeout)
            finally:
                self._wants.remove(count)

    def qsize(self) -> int:
        return len(self._items)


class Collector:
    """Committer threads behind a bounded queue of batches; each commit lands every batch waiting.

    Group commit: while one landing runs, the batches that arrive queue up, and the next landing
    takes them all (`landing.land_batches`), so a busy collector writes few, larger files and
    pays a landing's fixed cost once per group instead of once per request. Each committer
    keeps its DuckDB connection and counter store open between landings.
    """

    def __init__(self, lake: Lake, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                 queue_size: int = DEFAULT_QUEUE_SIZE, threads: int = DEFAULT_LANDING_THREADS):
        check_limits(max_body_bytes, queue_size, threads)
        self.lake = lake
        self.max_body_bytes = max_body_bytes
        self.capacity = threads + queue_size  # batches landing plus batches waiting
        self.pending = 0  # admitted and not answered; only touched on the event loop
        self.queued_bytes = 0  # bodies of those; only touched on the event loop
        self.stats = CollectorStats()
        self._lock = threading.Lock()
        self._jobs = _Waiting()
        self._local = threading.local()  # each committer thread's .counters store, .con DuckDB
        # about how many senders a landing serves: the largest recent group, or the most
        # requests in flight at once, slowly forgotten (the previous group alone would shrink
        # and stay small: a group of one waits for none; and four senders answered two by two
        # would stay in two groups of two, each landing paying its fixed costs for half)
        self._expected = 1.0
        self._last_landing_s = 0.0
        self._threads = [threading.Thread(target=self._commit_loop, daemon=True,
                                          name=f"voice-monitor-commit-{i}") for i in range(threads)]
        for thread in self._threads:
            thread.start()
        # what a collector killed between its answers and its counts left uncounted
        self._closing = threading.Event()  # the catch-up stops early once it is set
        self.catch_up = background.start(catch_up, lake, None, self._closing,
                                         name="voice-monitor-catch-up")

    def admit(self) -> bool:
        """Take a place in the queue; False when it is full."""
        if self.pending >= self.capacity:
            self.stats.refused_overload += 1
            return False
        self.pending += 1
        if self.pending > self._expected:  # (a float written whole: safe beside the committer)
            self._expected = float(self.pending)
        return True

    def release(self) -> None:
        """Give back the place `admit` took, once the batch is answered (its caller's
        `finally`: a way out that forgot it would hold the place for good)."""
        self.pending -= 1

    async def land(self, body: bytes, gzipped: bool, source: str,
                   ascii_only: bool = False) -> LandingResult:
        """Land one admitted batch; returns once it is in the lake. Its place is the caller's
        to give back (`release`).

        Raises BodyTooLarge, BadEncoding or NotAscii (before the batch joins a landing) and
        Overloaded. `ascii_only`: a gzip body must be all ASCII once decompressed (its sender
        declared another charset than UTF-8; a plain body its caller checks as it stands).
        The collector keeps the only reference to `body` (a caller drops its own): once the
        body is split into records it is let go, so the queue holds each batch once.
        """
        held = len(body)
        if self.queued_bytes and self.queued_bytes + held > MAX_QUEUED_BYTES:
            self.stats.refused_overload += 1
            raise Overloaded()
        self.queued_bytes += held
        try:
            records: pa.Array | bytes = body
            if gzipped or held > INLINE_SPLIT_BYTES:
                # a large body is split (and gunzipped) off the event loop, beside the landing
                records = await asyncio.to_thread(self._records, body, gzipped, ascii_only)
                # what the queue holds now is the records: their buffers whole (`nbytes` leaves
                # out what a slice of them does not reach)
                size = _held(records)
                self.queued_bytes += size - held
                held = size
                # a gzip body was admitted on its compressed size: its records may be many
                # times that, and take the queue over its cap (a batch alone always passes)
                if self.queued_bytes > MAX_QUEUED_BYTES and self.queued_bytes > held:
                    self.stats.refused_overload += 1
                    raise Overloaded()
            # a small one is split by the committer, in the landing that takes it: on the event
            # loop, its ~0.25 ms came between one landing and the next (their senders wait for
            # their answers meanwhile), delaying the next body's reading too
            loop = asyncio.get_running_loop()
            future = loop.create_future()
            self._jobs.put(_Job(records, held, source, future, loop))
            body = records = None  # the job's reference is the last: a split body is let go
            return await future
        finally:
            self.queued_bytes -= held

    def _records(self, body: bytes, gzipped: bool, ascii_only: bool) -> pa.Array | list:
        if gzipped:
            body = gunzip(body, self.max_body_bytes)
            if ascii_only and not body.isascii():
                raise NotAscii()
        return split_body(body)

    def _commit_loop(self) -> None:
        try:
            while True:
                self._jobs.wait_for(1)
                try:
                    job = self._jobs.pop()
                except IndexError:  # another committer took it
                    continue
                if job is None:
                    return
                if not self._commit_group(job):
                    return
        finally:
            self._close_local()

    def _commit_group(self, job: _Job) -> bool:
        """Commit `job` and every job waiting behind it; False once the stop sign was taken."""
        group, size = self._split([job]), job.size
        # linger a moment for batches on their way: senders that were answered by the previous
        # landing are sending their next batch now, and one landing of all of them costs less
        # than one each; never longer than a share of a landing, so a fast landing stays fast.
        # Each body is split as it comes, while the event loop reads the next one.
        until = time.monotonic() + min(LINGER_S, LINGER_SHARE * self._last_landing_s)
        stop = False
        while len(group) < MAX_GROUP_BATCHES and size < MAX_GROUP_BYTES:
            try:
                job = self._jobs.pop()  # whatever waits already comes along
            except IndexError:
                left = until - time.monotonic()
                if len(group) >= round(self._expected) or left <= 0:
                    break
                self._jobs.wait_for(1, left)
                continue
            if job is None:
                stop = True
                break
            group += self._split([job])
            size += job.size
        began = time.monotonic()
        self._commit(group)
        self._last_landing_s = time.monotonic() - began
        self._expected = max(float(len(group)), self._expected * EXPECTED_DECAY)
        return not stop

    def _commit(self, group: list[_Job]) -> None:
        # (a sender that hung up before landing began was not promised anything; every body
        # was split as it joined the group)
        ready = [job for job in group if not job.future.cancelled()]
        if not ready:
            return
        local = self._local
        try:
            if not self.lake.remote and not self.lake.exists():
                # unmounted, moved or deleted while serving: landing would make a new folder
                # there and answer 200 for events nobody will find; the senders try again
                raise NoLakeError(no_lake_message(self.lake.root))
            if getattr(local, "con", None) is None:  # both kept open between landings
                local.con, local.counters = connect(), open_counters(self.lake)
            results = land_batches(self.lake, [job.records for job in ready],
                                   [job.source for job in ready], counters=local.counters,
                                   con=local.con)
        except Exception as exc:
            self._close_local()  # whatever went wrong, the next landing starts afresh
            with self._lock:
                self.stats.failed += len(ready)
            _answer(ready, [exc] * len(ready))
            return
        with self._lock:
            stats = self.stats
            stats.commits += 1
            for result in results:
                stats.batches += 1
                stats.accepted += result.accepted
                stats.duplicates += result.duplicates
                stats.quarantined += result.quarantined
        _answer(ready, results)

    def _split(self, jobs: list[_Job]) -> list[_Job]:
        """The jobs with their bodies split into records; a body the split fails on (none is
        known) is answered with the error alone, never failing its neighbours."""
        ready = []
        for job in jobs:
            if isinstance(job.records, bytes):
                try:
                    job.records = split_body(job.records, keep_text=True)
                except Exception as exc:
                    with self._lock:
                        self.stats.failed += 1
                    _answer([job], [exc])
                    continue
            ready.append(job)
        return ready

    def _close_local(self) -> None:
        local = self._local
        for name in ("con", "counters"):
            handle = getattr(local, name, None)
            setattr(local, name, None)
            if handle is not None:
                with contextlib.suppress(Exception):  # closing what failed: nothing to save
                    handle.close()

    def close(self) -> None:
        """Land every batch already queued, then stop the committer threads (and the
        counters' catch-up, at its next chunk: a server stopped after it started does not wait
        for the whole)."""
        self._closing.set()
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()
        self.catch_up.join()


def _answer(jobs: list[_Job], outcomes: list) -> None:
    """Hand each sender its result (or the landing's exception): one wake-up of each event loop
    for the whole group, not one per sender."""
    by_loop: dict[asyncio.AbstractEventLoop, list] = {}
    for job, outcome in zip(jobs, outcomes, strict=True):
        by_loop.setdefault(job.loop, []).append((job.future, outcome))
    for loop, answers in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop is closed: no one waits any more
            loop.call_soon_threadsafe(_settle, answers)


def _settle(answers: list) -> None:
    for future, outcome in answers:
        if future.done():  # the sender hung up meanwhile
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


def split_body(body: bytes, keep_text: bool = False) -> pa.Array | list | LineBatch:
    """The records of a body (`landing.parse_records`). A line a Python producer marked as a
    record it refused itself (`mappings.Rejected.wire_line`: bytes, a set...; no JSON text
    starts with its NUL) is that record, quarantined with the producer's reason, as landing
    locally does; a marked line over the record size cap, or not well formed, stays raw.
    `keep_text`: a body that is exactly its records each followed by `\n` (a producer's usual)
    comes as a `LineBatch` that keeps a copy of it, which Arrow's JSON reader then reads as it
    stands (validation need not join the records again)."""
    records = parse_records(body)
    # the usual case: no NUL at all (memchr, ~2 us for 84 kB), else the mark's own search
    # (~60 us for 84 kB: searched alone, it cost a third of the body's split)
    if b"\x00" not in body or REJECTED_MARK not in body:
        if keep_text and _exact(body, records):
            # a copy (~10 us for 90 kB), not the body: the collector keeps no reference to a
            # body once split (`Collector.land`); the copy lives for its landing only, where
            # validation would otherwise make one as large (the records joined again)
            return LineBatch(records, pa.py_buffer(bytearray(body)))
        return records
    return [Rejected.from_line(line) or line if len(line) <= MAX_RECORD_BYTES else line
            for line in records.to_pylist()]


def _exact(body: bytes, records: pa.Array) -> bool:
    """Whether `body` is exactly `records` each followed by `\n`: as many newlines as records
    and as many bytes as theirs plus those newlines (the split only drops bytes: a blank line,
    a `\r`, a byte-order mark, an array's brackets and commas, or cuts elsewhere than at each
    newline, and any of those leaves one of the counts short)."""
    if not body.endswith(b"\n") or body.count(b"\n") != len(records):
        return False
    ends, _ = string_buffers(records)
    return int(ends[-1]) + len(records) == len(body)


def _held(records: pa.Array | list) -> int:
    if isinstance(records, pa.Array):
        return records.get_total_buffer_size()
    return sum(len(r) if isinstance(r, bytes) else len(r.raw) + len(r.reason) for r in records)


GZIP_MAGIC = b"\x1f\x8b"


def gunzip(body: bytes, limit: int) -> bytes:
    """Decompress a gzip body (several members allowed), refusing more than `limit` bytes out.

    Zero bytes after a member are padding (a block-padded file or stream) and skipped, as
    Python's gzip.decompress does (`gzip -d` takes them after the last member only, and drops
    a member after them with a warning: here it lands); anything else after a member that is
    not another member is refused naming it (`gzip -d` drops it with a warning, exit 2)."""
    out, size, rest = [], 0, body
    while rest:
        if out and not rest.startswith(GZIP_MAGIC[:len(rest)]):
            raise BadEncoding(
                f"the gzip body is followed by {len(rest)} bytes that are not gzip, from byte "
                f"{len(body) - len(rest)} ({rest[:16]!r}{'…' if len(rest) > 16 else ''}); send "
                "the compressed stream alone (zero bytes of padding after it are ignored)")
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            chunk = inflater.decompress(rest, limit - size + 1)
        except zlib.error as exc:
            raise BadEncoding(f"the body is not valid gzip ({exc}); send it uncompressed or "
                              "gzip it whole") from None
        size += len(chunk)
        if size > limit or inflater.unconsumed_tail:
            raise BodyTooLarge()
        if not inflater.eof:
            raise BadEncoding("the gzip body is truncated; send the whole compressed stream")
        out.append(chunk)
        rest = inflater.unused_data.lstrip(b"\0")
    data = b"".join(out)
    if data.startswith(GZIP_MAGIC):  # landed, it was one record of garbage under a 200
        raise BadEncoding("the body is gzip-compressed twice (it decompresses to gzip); "
                          "nothing of it was landed; compress it once")
    return data
