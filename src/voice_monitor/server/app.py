"""The ASGI app behind `voice-monitor serve`: collector, reading API, metrics and dashboard.

`create_app` wires the routers to one lake and one token configuration; `app_from_env` builds
the same app from the environment `voice-monitor serve` prepared, so that uvicorn can start it
in each worker process.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import sqlite3
import sys
from contextlib import asynccontextmanager

import duckdb
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.routing import Match

from voice_monitor import disk_space, read_only, storage
from voice_monitor.arguments import SHOWN_CHARS, shown
from voice_monitor.counters import CounterStoreError
from voice_monitor.health.checks import AlertConfig
from voice_monitor.integrity import UnreadableFileError, move_aside_command, relative
from voice_monitor.lake import Lake, NoLakeError, UnlistableFolderError, data_name
from voice_monitor.server import api, auth, collector, dashboard, group_commit, metrics
from voice_monitor.server.auth import LoginRequired, Tokens, lake_trouble, load_tokens
from voice_monitor.server.cache import SnapshotCache
from voice_monitor.settings import load_settings

SERVE_ENV = "VOICE_MONITOR_SERVE_OPTIONS"
_log = logging.getLogger("uvicorn.error")  # uvicorn prints it; the app has no other log
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
SWITCH_INTERVAL_S = 0.001  # JSON options handed from `serve` to each worker
NO_SPACE_RETRY_AFTER_S = 10  # a full disk is freed by a person or a retention run, not in 1 s


class SecurityHeaders:
    """Headers on every answer: no framing (clickjacking), no MIME sniffing, no referrer to other
    sites; API answers are not cached (they hold monitoring data and change every second)."""

    _ALWAYS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
               (b"content-security-policy", b"frame-ancestors 'none'"),
               (b"referrer-policy", b"same-origin")]

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        extra = self._ALWAYS + ([(b"cache-control", b"no-store")]
                                if scope["path"].startswith(("/api/", "/metrics")) else [])

        async def send_with_headers(message):
            if message["type"] == "http.response.start":  # a view's own header wins
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in extra if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


HEAD_AS_GET = "voice_monitor.head"  # scope key: the request came as HEAD (its 405 says so)


class HeadAsGet:
    """HEAD answered as GET without the body (RFC 9110 9.3.2): the same status, headers (its
    Content-Length included) and token check, on every GET route. FastAPI's routes take only
    the methods they declare (Starlette's own add HEAD to GET), so HEAD was 405 everywhere
    but /healthz."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "HEAD":
            return await self.app(scope, receive, send)

        async def without_body(message):
            if message["type"] == "http.response.body" and message.get("body"):
                message = {**message, "body": b""}
            await send(message)

        # a copy: the server reads the method of its own scope (a HEAD: no body is sent)
        await self.app({**scope, "method": "GET", HEAD_AS_GET: True}, receive, without_body)


def create_app(
    lake: Lake | str | os.PathLike,
    *,
    ingest_tokens: list[str] | tuple[str, ...] = (),
    staff_tokens: list[str] | tuple[str, ...] = (),
    no_auth: bool = False,
    tokens: Tokens | None = None,
    max_body_bytes: int = group_commit.DEFAULT_MAX_BODY_BYTES,
    queue_size: int = group_commit.DEFAULT_QUEUE_SIZE,
    landing_threads: int = group_commit.DEFAULT_LANDING_THREADS,
    alert_config: AlertConfig | None = None,
) -> FastAPI:
    """The whole service over one lake; `tokens` (from `load_tokens`) overrides the two lists;
    `alert_config`: the thresholds the failure-rate chart draws (default: AlertConfig())."""
    # before the lake is made: a bad argument leaves nothing behind
    group_commit.check_limits(max_body_bytes, queue_size, landing_threads, "landing_threads")
    lake = Lake.create(lake)  # serve creates its lake (contract §4); every read then finds it
    if tokens is None:
        tokens = Tokens(tuple((t, f"ingest-token-{i}") for i, t in enumerate(ingest_tokens, 1)),
                        tuple((t, f"staff-token-{i}") for i, t in enumerate(staff_tokens, 1)),
                        no_auth=no_auth)
    if not tokens.configured and not tokens.no_auth:
        raise auth.TokenConfigError("no tokens given; pass ingest_tokens and staff_tokens, or "
                                    "no_auth=True for local use")
    the_collector = group_commit.Collector(lake, max_body_bytes=max_body_bytes,
                                        queue_size=queue_size, threads=landing_threads)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        the_collector.close()  # after uvicorn let in-flight requests finish: land what is left

    # the schema is served by api.openapi, behind the staff token as the rest of /api/v1
    # redirect_slashes off: Starlette answered `/api/v1/events/` with a 307 to an address built
    # from the request's Host header (any client's choice, and http behind a TLS proxy); such a
    # path is a 404 naming it, and the path without the slash, as any other unknown path
    app = FastAPI(title="voice-monitor", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None, redirect_slashes=False)
    app.state.lake = lake
    app.state.tokens = tokens
    app.state.collector = the_collector
    app.state.snapshot_cache = SnapshotCache(lake)
    app.state.alert_config = alert_config
    app.state.lake_metrics = metrics.LakeCollector(lake, the_collector)
    app.state.registry = metrics.make_registry(app.state.lake_metrics)
    app.add_middleware(HeadAsGet)  # inside Shortcut: the collector's POSTs never pass it
    app.add_middleware(collector.Shortcut)  # inside SecurityHeaders: its answers get them too
    app.add_middleware(SecurityHeaders)
    app.include_router(auth.router)
    app.include_router(collector.router)
    app.include_router(api.router, prefix="/api/v1")
    app.include_router(metrics.router)
    app.include_router(dashboard.router)

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired):
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(404)
    async def not_found(request: Request, exc: Exception):
        detail = getattr(exc, "detail", None)
        if detail in (None, "Not Found"):  # the router's own: no route has this path
            detail = (f"no such path {shown(request.url.path)}; the API's paths are listed in "
                      "docs/server.md and at /api/v1/openapi.json" + _slash_hint(request))
        return JSONResponse({"detail": detail}, status_code=404,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(405)
    async def method_not_allowed(request: Request, exc: Exception):
        # Starlette's Allow names the methods of the first route on the path only: /login (a
        # GET page and a POST form) said "Allow: POST"
        taken = {method for method in _METHODS
                 if any(route.matches({**request.scope, "method": method})[0] == Match.FULL
                        for route in request.app.router.routes)}
        if "GET" in taken:  # and HEAD with it (HeadAsGet)
            taken.add("HEAD")
        allowed = [method for method in _METHODS if method in taken]
        method = "HEAD" if request.scope.get(HEAD_AS_GET) else request.method
        path = request.url.path  # (an artifact's path may be as long as a request line)
        path = path if len(path) <= SHOWN_CHARS else path[:SHOWN_CHARS] + "..."
        return JSONResponse({"detail": f"method {method} is not allowed on "
                                       f"{path}; it takes {', '.join(allowed)}"},
                            status_code=405, headers={"Allow": ", ".join(allowed)})

    @app.exception_handler(NoLakeError)
    async def lake_missing(request: Request, exc: NoLakeError):
        # the lake went away under a running server (an unmounted disk), or one of its folders
        # is a file (state/locks, made by hand or a bad sync): not the client's
        # fault, and over once it is back; a sender retries after the pause. Where the lake
        # is (a path on the server) is for its operator, in the log, not for any client
        return _retry_later(request, lake_trouble(exc), exc)

    async def store_unreachable(request: Request, exc: Exception):
        # the lake's object store did not answer: the server's trouble, over once the store
        # is back (as for an unmounted folder); a sender retries after the pause. Which store
        # (bucket, endpoint) and why is for the operator, in the log, as for a missing lake
        cause = storage.unreachable(exc) or exc
        return _retry_later(request, "the server's lake store did not answer (the server's log "
                                     "says which and why)",
                            storage.unreachable_message(request.app.state.lake.root, cause))

    if lake.remote:
        import botocore.exceptions  # s3fs's client: loaded by the lake's first request anyway

        for kind in (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError,
                     storage.StoreUnreachableError):
            app.add_exception_handler(kind, store_unreachable)

    async def counters_unreachable(request: Request, exc: Exception):
        # Redis (VOICE_MONITOR_COUNTERS) did not answer: over once it is back, as for the lake's
        # store. A batch was landed in the lake before its counting failed: sent again, it is
        # counted once. Which Redis and why is for the operator, in the log
        return _retry_later(request, "the server's real-time counter store did not answer (the "
                                     "server's log says which and why)", exc)

    from voice_monitor.redis_counters import CounterStoreUnavailable

    app.add_exception_handler(CounterStoreUnavailable, counters_unreachable)

    async def no_space(request: Request, exc: Exception):
        # a full disk under the lake (or its state folder): nothing of the request was kept
        # (a batch is answered 200 only once landed), over once space is freed; which file
        # system is for the operator, in the log. Any other error stays a 500, as before
        state_dir = request.app.state.lake.local_state_dir
        if not disk_space.is_full(exc, state_dir):
            raise exc
        return _retry_later(request, "the server has no space left on its disk; nothing of this "
                                     "request was kept", disk_space.message(
                                         disk_space.where(exc, request.app.state.lake.root)),
                            retry_after=NO_SPACE_RETRY_AFTER_S)

    for kind in (sqlite3.Error, duckdb.Error):
        app.add_exception_handler(kind, no_space)

    @app.exception_handler(OSError)
    async def access_denied(request: Request, exc: OSError):
        # a lake the server may no longer write to or read (a folder made read-only or another
        # user's, a remount, the object store's credentials revoked): over once the operator
        # gives access back, and a sender keeps its batch meanwhile; where and what to do is for
        # the log, as above. A GET was refused a read, unless the file system is read-only (a
        # read that had to write, e.g. its state)
        reading = request.method in ("GET", "HEAD") and getattr(exc, "errno", None) != errno.EROFS
        spans = read_only.across_file_systems(request.app.state.lake.root, exc)
        if spans is not None:
            # a folder inside the lake (events/) on another disk: no rename into it can work,
            # so nothing of the batch landed; the fix, and where, are the operator's (the
            # CLI's line), and the sender keeps its batch until it is made
            return _retry_later(request, "the server cannot write to its lake (its folders lie "
                                         "on more than one file system; the server's log says "
                                         "where and how to fix it); nothing of this request "
                                         "was landed", spans)
        logged = _denied_message(request.app.state.lake, exc, reading)
        if logged is None:
            # a full disk, else another OS error: the server-error middleware's 500 (and traceback)
            return await no_space(request, exc)
        if reading:
            return _retry_later(request, "the server may not read its lake (permission denied; "
                                         "the server's log says where and how to fix it)", logged)
        return _retry_later(request, "the server may not write to its lake (permission denied "
                                     "or a read-only file system; the server's log says where "
                                     "and how to fix it)", logged)

    @app.exception_handler(UnreadableFileError)
    async def lake_file_unreadable(request: Request, exc: UnreadableFileError):
        # a corrupt lake file is the server's fault, never the request's (400 would say so).
        # Staff are told which file (its name in the lake, as the lake_file_unreadable alert
        # names it) and the command, with the lake's path as the CLI and the API's own
        # `snapshots_unreadable` give it; a producer (ingest token) gets neither the path nor
        # the reader's error, which are for the log
        lake = request.app.state.lake
        names = ", ".join(relative(lake, path) for path, _ in exc.files)
        command = (move_aside_command(lake) if auth.admitted_as_staff(request)
                   else "voice-monitor lake check --move-aside")
        return _server_fault(request, f"unreadable lake file {names} (the server's log says "
                                      f"why); move it aside with: {command}", exc)

    @app.exception_handler(UnlistableFolderError)
    async def lake_folder_unlistable(request: Request, exc: UnlistableFolderError):
        # a folder the server's user may not list: never an answer without its events (and
        # never 400, the request is fine); staff get its name in the lake, the log the chmod
        return _server_fault(request, f"cannot list lake folder {data_name(exc.folder)}; give "
                                      "the server's user read access to it (the server's log "
                                      "says how)", exc)

    @app.exception_handler(CounterStoreError)
    async def counter_store_unreadable(request: Request, exc: CounterStoreError):
        return _server_fault(request, "the server's real-time counter store cannot be read "
                                      "(the server's log says which file and how to set it "
                                      "aside)", exc)

    @app.exception_handler(ValueError)
    async def bad_value(request: Request, exc: ValueError):
        # the library's checks raise ValueError naming the value and the fix
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def bad_parameter(request: Request, exc: RequestValidationError):
        problems = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error.get("loc", ())[1:]) or "request"
            fix = _FIXES.get(error.get("type"), "")
            problems.append(f"{where[:100]} {shown(error.get('input'))}: "
                            f"{error.get('msg')}{fix}")
        return JSONResponse({"detail": "; ".join(problems)}, status_code=400)

    return app


# the fix for a query parameter of the wrong type (pydantic says only what is wrong): an error
# names the value and the fix, as the library's own do
_FIXES = {"int_parsing": "; send a whole number in digits, e.g. 50",
          "bool_parsing": "; send true or false"}


def _slash_hint(request: Request) -> str:
    """`; without the trailing slash: PATH` when that path is one the server has."""
    path = request.url.path
    if len(path) < 2 or not path.endswith("/"):
        return ""
    bare = {**request.scope, "path": path.rstrip("/") or "/"}
    if any(route.matches(bare)[0] != Match.NONE for route in request.app.router.routes):
        return f"; without the trailing slash: {bare['path']!r}"
    return ""


def _retry_later(request: Request, trouble: str, logged,
                 retry_after: int = collector.RETRY_AFTER_S) -> JSONResponse:
    """503 + Retry-After for the server's own trouble, over once it is gone (a lake or store
    away): `trouble` for any client, without where; `logged` (where and why) for the operator."""
    _log.error("voice-monitor: %s %s answered 503: %s", request.method, request.url.path, logged)
    return JSONResponse({"detail": f"{trouble}; try again in a moment"}, status_code=503,
                        headers={"Retry-After": str(retry_after)})


def _denied_message(lake: Lake, exc: OSError, reading: bool = False) -> str | None:
    """The log's line for a lake the server may not write to, or read when `reading` (`exc`
    refused by the OS or the object store): which lake, why and what to do; None for any other
    OS error."""
    reason = " ".join(str(exc).split()) or type(exc).__name__
    refusal = storage.refused(exc) if lake.remote else None
    if refusal is not None:
        return storage.refused_message(lake.root, refusal)
    if not read_only.denied(exc):
        return None
    if exc.errno == errno.EROFS:
        return (f"the lake {lake.root} is on a read-only file system ({reason}); the server "
                "writes to its lake: mount it read-write")
    owner = ("its credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE) "
             "rights to list, get, put and delete in it" if lake.remote
             else f"{'read' if reading else 'write'} access to the lake's folders (chown -R, or "
             "run serve as the lake's owner)")
    return f"permission denied in the lake {lake.root} ({reason}); give the server's user {owner}"


def _server_fault(request: Request, trouble: str, logged) -> JSONResponse:
    """500 for the server's own fault that waiting does not mend: `trouble` for any client, a
    fixed text without the server's paths or its libraries' errors; `logged` for the operator."""
    _log.error("voice-monitor: %s %s answered 500: %s", request.method, request.url.path, logged)
    return JSONResponse({"detail": trouble}, status_code=500)


def app_from_env() -> FastAPI:
    """The app as `voice-monitor serve` configured it (options in $VOICE_MONITOR_SERVE_OPTIONS)."""
    options = json.loads(os.environ[SERVE_ENV])
    # the committer thread runs Python between DuckDB calls; hand the interpreter over to the
    # event loop and request threads sooner than the default 5 ms, so that a scrape or an
    # answer does not queue behind a landing at every step
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    options.pop("client_timeout", None)  # read by the HTTP protocol (server/protocol.py)
    tokens = load_tokens(tokens_file=options.pop("tokens_file"), no_auth=options.pop("no_auth"))
    auth.hide_tokens_in_logs(tokens)
    # the alert thresholds as the health checks read them (config file, environment)
    thresholds = load_settings().settings.alert_config()
    app = create_app(options.pop("lake"), tokens=tokens, alert_config=thresholds, **options)
    dashboard.warm_up(app.state)  # the first page after a start finds Plotly and DuckDB ready
    return app
