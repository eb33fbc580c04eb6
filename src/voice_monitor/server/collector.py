"""The collector: `POST /v1/events` lands a batch through the same path as `voice-monitor ingest`.

A batch is JSON Lines or a JSON array, optionally gzip-encoded. The answer (`accepted`,
`duplicates`, `quarantined`, as `ingest` counts them) is sent only after `landing.land_lines`
returned, that is after every file of the batch was fsync'd and renamed into the lake: a 200 is
a promise that the batch survives a crash of the server. Landing runs on a few threads behind a
bounded queue; a batch that finds the queue full is refused at once with 503 and `Retry-After`
(before its body is read), so an overloaded server sheds load instead of growing memory.
"""

from __future__ import annotations

import asyncio
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from voice_monitor.lake import Lake
from voice_monitor.landing import LandingResult, land_lines, parse_records
from voice_monitor.server.auth import IngestActor

DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
DEFAULT_QUEUE_SIZE = 32
DEFAULT_LANDING_THREADS = 2
RETRY_AFTER_S = 1
_JSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/json",
               "application/x-jsonlines", "text/plain", "")


class BodyTooLarge(Exception):
    """The batch (as sent, or once decompressed) is over the size cap."""


class BadEncoding(Exception):
    """The gzip body does not decompress."""


@dataclass
class CollectorStats:
    """What this process has collected since it started (for /metrics)."""

    batches: int = 0
    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    refused_overload: int = 0
    refused_too_large: int = 0
    failed: int = 0


class Collector:
    """Landing threads behind a bounded queue of batches."""

    def __init__(self, lake: Lake, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                 queue_size: int = DEFAULT_QUEUE_SIZE, threads: int = DEFAULT_LANDING_THREADS):
        if max_body_bytes < 1 or queue_size < 0 or threads < 1:
            raise ValueError(f"collector limits must be positive: max_body_bytes={max_body_bytes}, "
                             f"queue_size={queue_size}, threads={threads}")
        self.lake = lake
        self.max_body_bytes = max_body_bytes
        self.capacity = threads + queue_size  # batches landing plus batches waiting
        self.pending = 0  # only touched on the event loop
        self.stats = CollectorStats()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="voice-monitor-landing")

    def admit(self) -> bool:
        """Take a place in the queue; False when it is full."""
        if self.pending >= self.capacity:
            self.stats.refused_overload += 1
            return False
        self.pending += 1
        return True

    async def land(self, body: bytes, gzipped: bool, source: str) -> LandingResult:
        """Land one admitted batch on a landing thread; the place is given back at the end."""
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool, self._land, body, gzipped, source)
        finally:
            self.pending -= 1

    def _land(self, body: bytes, gzipped: bool, source: str) -> LandingResult:
        data = gunzip(body, self.max_body_bytes) if gzipped else body
        try:
            result = land_lines(self.lake, parse_records(data), source)
        except Exception:
            with self._lock:
                self.stats.failed += 1
            raise
        with self._lock:
            self.stats.batches += 1
            self.stats.accepted += result.accepted
            self.stats.duplicates += result.duplicates
            self.stats.quarantined += result.quarantined
        return result

    def close(self) -> None:
        """Wait for every batch in flight to land, then stop the landing threads."""
        self._pool.shutdown(wait=True)


def gunzip(body: bytes, limit: int) -> bytes:
    """Decompress a gzip body (several members allowed), refusing more than `limit` bytes out."""
    out, size, rest = [], 0, body
    while rest:
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
        rest = inflater.unused_data
    return b"".join(out)


def _refuse_too_large(collector: Collector) -> HTTPException:
    collector.stats.refused_too_large += 1
    return HTTPException(413, f"batch over {collector.max_body_bytes} bytes (sent or "
                              "decompressed); send smaller batches")


async def _read_body(request: Request, collector: Collector) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > collector.max_body_bytes:
        raise _refuse_too_large(collector)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > collector.max_body_bytes:
            raise _refuse_too_large(collector)
        chunks.append(chunk)
    return b"".join(chunks)


router = APIRouter()


@router.post("/v1/events")
async def post_events(request: Request, actor: IngestActor) -> JSONResponse:
    """Land a batch of events (JSON Lines or a JSON array, optionally gzip); answers its counts."""
    collector: Collector = request.app.state.collector
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in _JSON_TYPES:
        raise HTTPException(415, f"content type {media!r} is not accepted; send JSON Lines "
                                 "(application/x-ndjson) or a JSON array (application/json)")
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip", "x-gzip"):
        raise HTTPException(415, f"content encoding {encoding!r} is not accepted; use gzip or none")
    if not collector.admit():
        return JSONResponse({"detail": "the collector is busy; retry after the given seconds"},
                            status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})
    try:
        body = await _read_body(request, collector)
    except BaseException:
        collector.pending -= 1
        raise
    client = request.client.host if request.client else "unknown"
    try:
        result = await collector.land(body, encoding != "identity", f"http:{actor.name}@{client}")
    except BodyTooLarge:
        raise _refuse_too_large(collector) from None
    except BadEncoding as exc:
        raise HTTPException(400, str(exc)) from None
    return JSONResponse({"accepted": result.accepted, "duplicates": result.duplicates,
                         "quarantined": result.quarantined})
