"""The collector's HTTP side: `POST /v1/events` answers once its batch is landed (`group_commit`).

A batch is JSON Lines or a JSON array, optionally gzip-encoded. The answer (`accepted`,
`duplicates`, `quarantined`, as `ingest` counts them) is sent only after `landing.land_batches`
returned, that is after every file of the batch was fsync'd and renamed into the lake: a 200 is
a promise that the batch survives a crash of the server. The batches wait for landing in a
bounded queue (`group_commit.Collector`); a batch that finds it full is refused at once with
503 and `Retry-After`. `Shortcut` routes the collector's requests past FastAPI's router.
"""

from __future__ import annotations

import codecs
import encodings
import encodings.aliases
import logging
import pkgutil

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette._utils import is_async_callable
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from voice_monitor.lake import NoLakeError
from voice_monitor.server.auth import ingest_actor
from voice_monitor.server.group_commit import (
    GZIP_MAGIC,
    BadEncoding,
    BodyTooLarge,
    Collector,
    NotAscii,
    Overloaded,
)

RETRY_AFTER_S = 1
NOT_LANDED = ("the batch was not landed: the server failed (its log says why); send it again "
              "later, it is counted once")
_log = logging.getLogger("uvicorn.error")  # uvicorn prints it; the app has no other log
_JSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/json",
               "application/x-jsonlines", "text/plain", "")


_CHARSETS = ("utf-8", "utf8", "us-ascii", "ascii")  # (ASCII is UTF-8)
# no ASCII text is these (letters and digits of the name): Python knows some, not the IANA
# (ISO-10646-UCS-2, csUnicode), .NET (unicodeFFFE) and Java (UnicodeLittle, x-UTF-16LE-BOM)
# names, which would be taken at their word; a body all in ASCII bytes can be UTF-16
_WIDE = ("utf16", "utf32", "ucs2", "ucs4", "iso10646ucs", "csunicode", "csucs4", "unicodefffe",
         "unicodefeff", "unicodebig", "unicodelittle", "xutf16", "xutf32")
# ASCII bytes that some charsets read as other text: all 128, and the shifts of the 7-bit ones
# (ISO-2022's escapes and SO/SI, HZ's ~{, UTF-7's +): in UTF-7 '+AOk-' is an é
_ASCII_PROBES = (bytes(range(128)), b'\x1b$B$"\x1b(B', b"\x1b$)C\x0e!!\x0f", b"~{!!~}", b"+AOk-")


SHOWN_CHARS = 100  # of a header's value in an answer: headers may be up to 1 MiB (protocol.py)


def shown_header(value: str) -> str:
    """A header's value as an answer quotes it: at most its first SHOWN_CHARS characters."""
    return repr(value[:SHOWN_CHARS] + ("..." if len(value) > SHOWN_CHARS else ""))


def _listed_values(values: list[str], most: int = 5) -> str:
    return ", ".join(map(shown_header, values[:most])) + (", ..." if len(values) > most else "")


def _refuse_charset(charset: str) -> HTTPException:
    return HTTPException(415, f"charset {shown_header(charset)} is not accepted; send the batch "
                              "as UTF-8 (charset=utf-8, or no charset): JSON is read as UTF-8 "
                              "only")


def _charsets(params: str) -> list[str]:
    """The charsets a Content-Type's parameters (after its first `;`) name, unquoted."""
    named = []
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            named.append(value.strip().strip('"'))
    return named


# the names Python's codecs may know (normalized as `encodings` does): a name beyond them is not
# looked up, since the codec registry keeps every name it missed for good (a sender naming a new
# 500 KB charset in each batch grew the server by 100 MB in 200 batches)
_CODEC_NAMES = frozenset([*encodings.aliases.aliases, *encodings.aliases.aliases.values(),
                          *(m.name for m in pkgutil.iter_modules(encodings.__path__))])


def _lookup(charset: str) -> codecs.CodecInfo | None:
    """The codec Python has for `charset`, or None, without remembering a name it lacks."""
    name = encodings.normalize_encoding(charset.lower())
    if name not in _CODEC_NAMES and name.replace(".", "_") not in _CODEC_NAMES:
        return None
    try:
        return codecs.lookup(charset)
    except (LookupError, ValueError):
        return None


def _codec(charset: str) -> str:
    """The codec a charset names ('utf-8', 'utf8', 'UTF_8' are one); unknown: the name itself."""
    info = _lookup(charset)
    return charset.lower() if info is None else info.name


def _ascii_is_itself(charset: str) -> bool:
    """Whether every text all in ASCII reads as itself in `charset` (Latin-1, windows-1252,
    Shift_JIS...), so as UTF-8 reads it; not in UTF-16/32, UTF-7, HZ, ISO-2022-*, EBCDIC. A
    charset Python does not know (x-cp1252, ...) is taken at its word, unless `_WIDE` names it."""
    if "".join(c for c in charset.lower() if c.isalnum()).startswith(_WIDE):
        return False
    if _lookup(charset) is None:
        return True
    try:
        return all(probe.decode(charset) == probe.decode("ascii") for probe in _ASCII_PROBES)
    except (LookupError, ValueError):  # base64, rot13: no text encoding (LookupError); any
        return False  # UnicodeError: 'undefined' reads nothing, 'punycode' no '.' (was a 400)


def _listed(value: str) -> bool:
    """Whether a header's value is a list: a comma outside a quoted string."""
    quoted = escaped = False
    for char in value:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            return True
    return False


def _refuse_too_large(collector: Collector) -> HTTPException:
    collector.stats.refused_too_large += 1
    return HTTPException(413, f"batch over {collector.max_body_bytes} bytes (sent or "
                              "decompressed); send smaller batches")


async def read_capped(request: Request, limit: int, refuse) -> bytes:
    """The request's body, at most `limit` bytes: beyond (declared or as it streams in), the
    exception `refuse()` makes is raised, before the rest is read."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise refuse()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise refuse()
        chunks.append(chunk)
    return b"".join(chunks)


def _busy() -> JSONResponse:
    return JSONResponse({"detail": "the collector is busy; retry after the given seconds"},
                        status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})


def _refuse_query(request: Request) -> None:
    """Refuse a query parameter: the collector takes none, and one ignored (`?dry_run=1`) landed
    the batch its sender meant only to try, as the reading API refuses one it does not take."""
    names = [name for name, _ in request.query_params.multi_items()]
    if not names:  # a bare `?` or `?&`: nothing asked
        return
    raise HTTPException(400, f"unknown query parameter {shown_header(names[0])} for /v1/events; "
                             "it takes none: nothing of the batch was landed; send the batch "
                             "to /v1/events without a query string")


router = APIRouter()


@router.post("/v1/events")
async def post_events(request: Request) -> JSONResponse:
    """Land a batch of events (JSON Lines or a JSON array, optionally gzip); answers its counts."""
    # the ingest check is called here rather than declared as a dependency: FastAPI runs a
    # plain-function dependency on a worker thread, one thread hop per batch for a dict lookup
    # (only a session cookie, whose sign-out record is read from the lake, takes the hop)
    actor = await ingest_actor(request)
    if request.scope.get("query_string"):
        _refuse_query(request)
    headers = request.headers
    transfer = ", ".join(headers.getlist("transfer-encoding"))
    if transfer and [c.strip() for c in transfer.lower().split(",")] != ["chunked"]:
        # RFC 9112 6.1: a transfer coding the server does not know is 501. The HTTP parser
        # undoes only chunked: 'gzip, chunked' handed the app the gzip'd bytes, quarantined as
        # garbage under a 200
        raise HTTPException(501, f"transfer coding {shown_header(transfer)} is not "
                                 "implemented; send Transfer-Encoding: chunked alone (or a "
                                 "Content-Length), and a gzip'd body with Content-Encoding: gzip")
    if "content-length" not in headers and not transfer:
        # no length, so no body (RFC 9112 6.3): an HTTP/1.0 client that sent its batch without
        # one was answered 200, '"accepted": 0', its events read by nobody
        raise HTTPException(411, "the request has no Content-Length (nor Transfer-Encoding: "
                                 "chunked), so the server reads no body from it: nothing was "
                                 "landed; send the batch with its Content-Length")
    collector: Collector = request.app.state.collector
    # a header sent twice is read as the one comma-separated list it means (RFC 9110 5.3): the
    # first alone made a body gzip'd twice land as garbage, quarantined, answered 200
    content_type = ", ".join(headers.getlist("content-type"))
    media, _, params = content_type.partition(";")
    if _listed(content_type):  # two types (one with parameters): named whole, never a charset
        media = content_type  # 'utf-8, application/json' read from the first one's parameters
    media = media.strip().lower()
    # RFC 9110 8.3: a Content-Type is a media type, and an empty one is none: ';;;' or
    # '; charset=utf-8' is 415 (no client sends it by default). A blank value is taken as no
    # type, as clients send it: curl -H 'Content-Type;', a Content-Type '' in requests, httpx, fetch
    if not media and content_type.strip():
        raise HTTPException(415, f"content type {shown_header(content_type)} names no media "
                                 "type, only parameters; send JSON Lines (application/x-ndjson) "
                                 "or a JSON array (application/json)")
    if media not in _JSON_TYPES:
        raise HTTPException(415, f"content type {shown_header(media)} is not accepted; send JSON "
                                 "Lines (application/x-ndjson) or a JSON array (application/json)")
    # the body is read as UTF-8 whatever it says: a Latin-1 é was quarantined as "not valid
    # UTF-8" and the batch answered 200, its sender never told why. Text all in ASCII is the
    # same in Latin-1, windows-1252...: taken (Java's `new StringEntity(json)` labels every
    # body ISO-8859-1); a byte beyond ASCII in such a body is 415 once the body is read
    named = _charsets(params)
    # one codec named twice is one charset ('utf-8; charset=utf8' was 415 as two); two are 415:
    # the first alone took 'utf-8; charset=utf-7'
    if len(named) > 1 and len(set(map(_codec, named))) > 1:
        raise HTTPException(415, f"charset named {len(named)} times "
                                 f"({_listed_values(named)}); name one: send the batch as "
                                 "UTF-8 (charset=utf-8, or no charset): JSON is read as UTF-8 only")
    charset = named[0] if named else None
    foreign = charset is not None and charset.lower() not in _CHARSETS
    if foreign and not _ascii_is_itself(charset):  # even ASCII-looking bytes are other text
        raise _refuse_charset(charset)
    encoding = (", ".join(headers.getlist("content-encoding")) or "identity").strip().lower()
    if encoding not in ("identity", "gzip", "x-gzip"):
        raise HTTPException(415, f"content encoding {shown_header(encoding)} is not accepted; "
                                 "use gzip or none")
    if not collector.admit():
        return _busy()
    try:  # every way out, answered or raised, gives the place back (one leaked, for good)
        return await _land(request, collector, actor.name, charset if foreign else None,
                           encoding)
    finally:
        collector.release()


async def _land(request: Request, collector: Collector, sender: str, foreign: str | None,
                encoding: str) -> JSONResponse:
    """Read the admitted batch's body and land it; the answer, or the HTTPException to raise.
    `foreign`: a charset other than UTF-8 the batch declared (its body must be all ASCII)."""
    client = request.client.host if request.client else "unknown"
    try:
        body = await read_capped(request, collector.max_body_bytes,
                                 lambda: _refuse_too_large(collector))
    except ClientDisconnect:
        # the sender went away (or was cut off, stalled) mid-body: nothing is landed and nobody
        # is left to answer; one line, not the traceback of an exception in the app
        _log.warning("voice-monitor: POST /v1/events from %s ended before its body did; "
                     "nothing of it was landed", client)
        return JSONResponse({"detail": "the request body ended early"}, status_code=400)
    if encoding == "identity" and body.startswith(GZIP_MAGIC):
        # as `ingest` refuses a gzip file: landed as it came, it was one record of garbage,
        # quarantined under a 200 (`gzip -c | curl --data-binary @-` without the header)
        raise HTTPException(400, "the body is gzip-compressed but was sent without "
                                 "'Content-Encoding: gzip'; nothing of it was landed; send it "
                                 "with that header (curl -H 'Content-Encoding: gzip'), or "
                                 "uncompressed")
    if foreign and encoding == "identity" and not body.isascii():
        raise _refuse_charset(foreign)
    # (a gzip body is checked once decompressed: its é was quarantined, answered 200)
    landing = collector.land(body, encoding != "identity", f"http:{sender}@{client}",
                             ascii_only=foreign is not None)
    del body  # the collector lets the body go once it is split: held twice, it was counted once
    try:
        result = await landing
    except Overloaded:
        return _busy()
    except BodyTooLarge:
        raise _refuse_too_large(collector) from None
    except BadEncoding as exc:
        raise HTTPException(400, str(exc)) from None
    except NotAscii:
        raise _refuse_charset(foreign) from None
    except NoLakeError:
        raise  # 503 + Retry-After (app.py): the lake is missing, the sender comes back
    except ValueError as exc:
        # a record's faults are quarantined, never raised: this is the server's own failure
        # (e.g. a damaged counter store), not a bad request, which 400 would tell the sender
        # what failed (a path on the server, the store's error) is for the operator, in the
        # log; the sender learns only that the fault is the server's and to send again
        _log.error("voice-monitor: POST /v1/events answered 500, the batch was not landed: %s",
                   exc)
        raise HTTPException(500, NOT_LANDED) from None
    return JSONResponse({"accepted": result.accepted, "duplicates": result.duplicates,
                         "quarantined": result.quarantined})



class Shortcut:
    """ASGI middleware: `POST /v1/events` straight to `post_events`, past FastAPI's routing.

    The collector's requests are most of a busy server's, and its event loop's time per request
    is on the landing's critical path: the router (matching the routes in turn, an exit stack,
    the endpoint's dependencies, two exception wrappers) cost more than the route's own Python.
    The answers are the same: an exception `post_events` raises goes to the handler the app
    registered for it, looked up as Starlette's exception middleware does (HTTPException,
    NoLakeError...), and one without a handler propagates to the server-error middleware. Every
    other request passes through; the route stays declared (the API schema lists it).
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] != "/v1/events" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        request = Request(scope, receive, send)
        try:
            response = await post_events(request)
        except Exception as exc:
            handler = _handler(scope["app"], exc)
            if handler is None:
                raise
            if is_async_callable(handler):
                response = await handler(request, exc)
            else:
                response = await run_in_threadpool(handler, request, exc)
            exc.__traceback__ = None  # (as Starlette: a reused exception keeps no traceback)
        await response(scope, receive, send)


def _handler(app, exc: Exception):
    """The app's handler for `exc` as Starlette's exception middleware finds it: by status code
    for an HTTPException, else the nearest class in its MRO (500 and Exception are the
    server-error middleware's, outside)."""
    handlers = app.exception_handlers
    if (isinstance(exc, StarletteHTTPException) and exc.status_code != 500
            and exc.status_code in handlers):
        return handlers[exc.status_code]
    for kind in type(exc).__mro__:
        if kind is Exception:
            return None
        if kind in handlers:
            return handlers[kind]
    return None
