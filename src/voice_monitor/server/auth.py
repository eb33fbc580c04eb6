"""Who may do what: two token roles, browser sessions, and cross-site protection (contract §12).

Ingest tokens may only post events; staff tokens may read and acknowledge. A staff token cannot
post events and an ingest token cannot read (least privilege: a leaked producer token shows
nothing). API clients send `Authorization: Bearer TOKEN` on every request; a browser signs in
once (`POST /login`, form field `token`) and keeps a signed session cookie. Tokens travel only in
headers, cookies and form bodies, never in a URL, so no access log ever holds one; they are
compared in constant time and never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import os
import re
import secrets
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated
from urllib.parse import unquote, unquote_plus, urlsplit

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool

from voice_monitor import storage
from voice_monitor.lake import Lake, LakeFolderError, NoLakeError, no_lake_message

INGEST_ENV = "VOICE_MONITOR_INGEST_TOKENS"
STAFF_ENV = "VOICE_MONITOR_STAFF_TOKENS"
ROLES = ("ingest", "staff")
SESSION_COOKIE = "voice_monitor_session"
SESSION_MAX_AGE_S = 12 * 3600
SESSIONS_ENDED = "sessions_ended"  # state/sessions_ended/<session id>: signed out before expiry
_SESSION_ID = re.compile(r"[0-9a-f]{32}")
_HOUR = timedelta(hours=1)
_log = logging.getLogger("uvicorn.error")  # uvicorn prints it; the app has no other log
# a 503 for a lake gone under the server (NoLakeError): where it was is in the log, never in
# an answer (any client, an unauthenticated one too, would learn the server's paths)
LAKE_MISSING = ("the server's lake is missing (unmounted, moved or deleted? the server's log "
                "says where)")
LAKE_FOLDER_BLOCKED = ("a file stands where a folder of the server's lake should be, or a folder "
                       "where a file should be (the server's log says which and how to fix it)")


def lake_trouble(exc: NoLakeError) -> str:
    """What a client is told of a NoLakeError (a lake gone, or a folder of it that is a file)."""
    return LAKE_FOLDER_BLOCKED if isinstance(exc, LakeFolderError) else LAKE_MISSING


class TokenConfigError(ValueError):
    """The token configuration is unusable (bad file, or no token and not --no-auth)."""


@dataclass(frozen=True)
class Actor:
    """The caller of one request: its roles and a name for the record (e.g. who acknowledged)."""

    roles: frozenset[str]
    name: str
    via: str  # bearer | session | no-auth

    def can(self, role: str) -> bool:
        return role in self.roles


@dataclass(frozen=True)
class Tokens:
    """The configured tokens of each role, with a display name per token."""

    ingest: tuple[tuple[str, str], ...] = ()  # (token, name)
    staff: tuple[tuple[str, str], ...] = ()
    no_auth: bool = False
    session_key: bytes = field(default=b"", repr=False)

    def __post_init__(self):
        # contract §12: ingest tokens may only post events. One token under both roles made a
        # producer's token (in every producer's configuration) read and acknowledge too
        staff = dict(self.staff)
        for token, name in self.ingest:
            if token in staff:
                raise TokenConfigError(
                    f"the ingest token {name!r} is also the staff token {staff[token]!r}; an "
                    "ingest token may only post events: give producers and staff a token each")
        material = "\n".join(sorted(t for t, _ in self.staff)).encode()
        object.__setattr__(self, "session_key",
                           hashlib.sha256(b"voice-monitor session\n" + material).digest())

    @property
    def configured(self) -> bool:
        return bool(self.ingest or self.staff)

    def actor(self, token: str, via: str = "bearer") -> Actor | None:
        """The actor holding `token`, or None; every configured token is compared (constant time)."""
        roles, name = set(), None
        presented = token.encode()
        for role, entries in (("ingest", self.ingest), ("staff", self.staff)):
            for candidate, label in entries:
                if hmac.compare_digest(presented, candidate.encode()):
                    roles.add(role)
                    name = name or label
        return Actor(frozenset(roles), name, via) if roles else None


def fingerprint(token: str) -> str:
    """A short one-way name for a token (in sessions; never the token itself)."""
    return hashlib.sha256(b"voice-monitor token\n" + token.encode()).hexdigest()[:16]


def _split(value: str | None) -> list[str]:
    return [t.strip() for t in (value or "").split(",") if t.strip()]


def _check_sendable(token: str, role: str, where: str) -> None:
    """TokenConfigError, naming where the token is and never the token, for one no HTTP header
    can carry (a tab or another control character, a character beyond ASCII): taken, it was a
    token no client could send ('Bearer sécret…' sent as UTF-8 was 401; the Producer refuses
    it), though serve said it had it."""
    if not (token.isascii() and token.isprintable()):
        raise TokenConfigError(
            f"{'an' if role == 'ingest' else 'a'} {role} token ({where}) holds a character an "
            "HTTP header cannot carry (a tab or another control character, or one that is not "
            "ASCII), so no client could send it; use printable ASCII, e.g. from "
            "'python -c \"import secrets; print(secrets.token_urlsafe())\"'")


def load_tokens(environ: dict | None = None, tokens_file: str | os.PathLike | None = None,
                no_auth: bool = False) -> Tokens:
    """Tokens from $VOICE_MONITOR_INGEST_TOKENS / $VOICE_MONITOR_STAFF_TOKENS and a tokens file.

    The file has one token per line, `ROLE TOKEN [NAME]` (ROLE is ingest or staff); blank lines
    and lines starting with # are ignored.
    """
    environ = os.environ if environ is None else environ
    found: dict[str, list[tuple[str, str]]] = {role: [] for role in ROLES}
    for role, env in (("ingest", INGEST_ENV), ("staff", STAFF_ENV)):
        for i, token in enumerate(_split(environ.get(env)), 1):
            _check_sendable(token, role, f"entry {i} of {env}")
            found[role].append((token, f"{role}-token-{i}"))
    if tokens_file is not None:
        path = Path(tokens_file)
        try:
            text = path.read_text(encoding="utf-8-sig")  # a byte-order mark is not a role
        except OSError as exc:  # OSError's words repeated the path and named no fix
            raise TokenConfigError(
                f"cannot read tokens file {str(path)!r}: {exc.strerror or exc}; check the path, "
                "and that the user running the server may read the file") from None
        except UnicodeDecodeError:
            raise TokenConfigError(
                f"tokens file {str(path)!r} is not UTF-8 text; write one 'ingest TOKEN [NAME]' "
                "or 'staff TOKEN [NAME]' per line") from None
        read = 0
        for number, line in enumerate(text.splitlines(), 1):
            parts = line.split()
            if not parts or parts[0].startswith("#"):
                continue
            read += 1
            if parts[0] not in ROLES or len(parts) not in (2, 3):
                # the first word is named only when it cannot hold a token: 'ingest=TOKEN' (or
                # a token alone, its role left out) printed 20 characters of it to the log
                first = parts[0]
                shown = (repr(first) if first in ROLES or (first.isalpha() and len(first) <= 12)
                         else "a word that is no role (not shown: it may hold a token)")
                raise TokenConfigError(
                    f"tokens file {str(path)!r} line {number}: expected 'ingest TOKEN [NAME]' or "
                    f"'staff TOKEN [NAME]', got a line starting {shown}")
            role, token = parts[0], parts[1]
            _check_sendable(token, role, f"tokens file {str(path)!r} line {number}")
            found[role].append((token, parts[2] if len(parts) == 3 else f"{role}-line-{number}"))
        if not read:  # a truncated or wrong file is a mistake, even when the environment has some
            raise TokenConfigError(
                f"tokens file {str(path)!r} holds no token (it is empty, or only blank and # "
                "lines); write one 'ingest TOKEN [NAME]' or 'staff TOKEN [NAME]' per line, "
                "tokens of at least 16 characters, or leave out --tokens-file")
    for role, entries in found.items():
        for token, _ in entries:
            if len(token) < 16:
                raise TokenConfigError(f"{'an' if role == 'ingest' else 'a'} {role} token is "
                                       f"{len(token)} characters long; use at "
                                       "least 16 random characters, e.g. from "
                                       "'python -c \"import secrets; print(secrets.token_urlsafe())\"'")
    return Tokens(tuple(found["ingest"]), tuple(found["staff"]), no_auth=no_auth)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_startup(tokens: Tokens, host: str) -> None:
    """Refuse an open server: no token needs --no-auth, and --no-auth needs a loopback address."""
    if tokens.no_auth:
        if tokens.configured:
            raise TokenConfigError("--no-auth was given but tokens are configured; drop --no-auth "
                                   f"or unset {INGEST_ENV} / {STAFF_ENV} and --tokens-file")
        if not is_loopback(host):
            raise TokenConfigError(f"--no-auth only binds 127.0.0.1, not {host!r}; configure "
                                   f"tokens ({INGEST_ENV}, {STAFF_ENV} or --tokens-file) instead")
    elif not tokens.configured:
        raise TokenConfigError(f"no tokens configured; set {INGEST_ENV} and {STAFF_ENV} "
                               "(comma-separated) or pass --tokens-file FILE, or bind 127.0.0.1 "
                               "with --no-auth for local use")


class HideTokens(logging.Filter):
    """Blanks every configured token out of a log record's text, and the value of a query
    parameter named as a token is (`?token=`, `access_token=`...: a rotated or mistyped token
    too): a client that put its token in the URL (refused) would otherwise leave it in uvicorn's
    access log, which prints the path and query string as sent (percent-encoded or not)."""

    HIDDEN = "[token hidden]"
    _NAMES = frozenset({"token", "access_token", "bearer", "api_key", "apikey", "auth"})
    _PARAMETER = re.compile(r"([?&;])([^=?&;\s\"]*)=([^&;\s\"]*)")

    def __init__(self, tokens: Tokens):
        super().__init__()
        self.secrets = sorted({t for t, _ in (*tokens.ingest, *tokens.staff)}, key=len,
                              reverse=True)

    def hide(self, text: str) -> str:
        if "=" in text:
            text = self._PARAMETER.sub(self._hide_value, text)
        # in the most decoded form a token shows in (a token sent encoded shows only decoded)
        for form in (text, unquote(text), unquote_plus(text)):
            if any(secret in form for secret in self.secrets):
                text = form
                for secret in self.secrets:
                    text = text.replace(secret, self.HIDDEN)
        return text

    def _hide_value(self, parameter: re.Match) -> str:
        # the name as the server reads it, decoded: `?%74oken=` is `?token=` to it
        name = parameter.group(2)
        if unquote_plus(name).strip().lower() not in self._NAMES:
            return parameter.group(0)
        return f"{parameter.group(1)}{name}={self.HIDDEN}"

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = self.hide(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(self.hide(a) if isinstance(a, str) else a for a in record.args)
        return True


def hide_tokens_in_logs(tokens: Tokens, names=("uvicorn.access", "uvicorn.error")) -> None:
    """Install `HideTokens` on the server's loggers (in place of one installed before)."""
    for name in names:
        logger = logging.getLogger(name)
        for old in [f for f in logger.filters if isinstance(f, HideTokens)]:
            logger.removeFilter(old)
        if tokens.configured:
            logger.addFilter(HideTokens(tokens))


# -- sessions ----------------------------------------------------------------------------------
def _serializer(tokens: Tokens) -> URLSafeTimedSerializer:
    # keyed by the staff tokens themselves: every worker process agrees on it, and rotating the
    # tokens ends every session
    return URLSafeTimedSerializer(tokens.session_key.hex(), salt="session")


def _session(tokens: Tokens, cookie: str | None) -> tuple[dict, datetime] | None:
    """A session cookie's content and when it expires, if it is one this server signed and
    unexpired, else None."""
    if not cookie or not tokens.staff:
        return None
    try:
        data, signed = _serializer(tokens).loads(cookie, max_age=SESSION_MAX_AGE_S,
                                                 return_timestamp=True)
    except BadSignature:
        return None
    # a cookie signed before sessions had ids (so could not be ended) is signed in again
    ok = isinstance(data, dict) and _SESSION_ID.fullmatch(str(data.get("s", "")))
    return (data, signed + timedelta(seconds=SESSION_MAX_AGE_S)) if ok else None


def _ended_marker(lake: Lake, session_id: str, expires: datetime):
    # grouped by the UTC hour the cookie expires in, so that a whole hour's records are
    # forgotten at once, by name: no file times (an object store has no cheap mtime, and hosts'
    # clocks differ from the file server's)
    return lake.state_dir / SESSIONS_ENDED / f"{expires.astimezone(UTC):%Y-%m-%dT%H}" / session_id


def session_actor(tokens: Tokens, cookie: str | None, lake: Lake | None = None) -> Actor | None:
    """The staff actor of a valid session cookie whose token is still configured and which was
    not signed out (looked up in `lake`, shared by every process and host), else None."""
    found = _session(tokens, cookie)
    if found is None:
        return None
    data, expires = found
    for token, name in tokens.staff:
        if hmac.compare_digest(fingerprint(token), str(data.get("t", ""))):
            if lake is not None and _signed_out(lake, _ended_marker(lake, data["s"], expires)):
                return None
            return Actor(frozenset({"staff"}), name, "session")
    return None


def _signed_out(lake: Lake, marker) -> bool:
    """Whether the sign-out `marker` is in the lake. On an object store one GET of the (empty)
    object, and a fault of the store is an error (503), never "not signed out": fsspec's
    isfile answers False for any failure, a timeout or a refused request too, and costs a HEAD
    and a LIST for a session that was not signed out."""
    if not lake.remote:
        return marker.is_file()
    try:
        marker.fs.cat_file(marker.path)
    except FileNotFoundError:
        return False
    except Exception as exc:
        # the store's words (which may name a bucket or key) are for the log; the client learns
        # only that the store did not answer
        reason = " ".join(str(exc).split()) or type(exc).__name__
        _log.error("voice-monitor: cannot tell whether a session was signed out: the store of "
                   "the lake at %s did not answer reading %s: %s", storage.url(lake.root),
                   storage.url(marker), reason)
        from voice_monitor.server.collector import RETRY_AFTER_S  # (collector imports auth)

        raise HTTPException(503, "cannot tell whether this session was signed out: the lake's "
                                 "store did not answer (the server's log says why); try "
                                 "again", headers={"Retry-After": str(RETRY_AFTER_S)}) from exc
    return True


_BY_SESSION = object()  # (`_by_header`: the request names no token, its cookie decides)


def current_actor(request: Request) -> Actor | None:
    """Who sent this request: bearer token first, then the session cookie (looked up in the
    lake: call it on a worker thread, or use `current_actor_off_loop`)."""
    actor = _by_header(request)
    if actor is not _BY_SESSION:
        return actor
    return session_actor(request.app.state.tokens, request.cookies.get(SESSION_COOKIE),
                         request.app.state.lake)


async def current_actor_off_loop(request: Request) -> Actor | None:
    """`current_actor` for a view on the event loop: a session cookie's sign-out record is
    looked up on a worker thread (on an object store a GET, which would hold up every other
    request meanwhile); a bearer token is checked in place."""
    actor = _by_header(request)
    if actor is not _BY_SESSION:
        return actor
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    return await run_in_threadpool(session_actor, request.app.state.tokens, cookie,
                                   request.app.state.lake)


def _by_header(request: Request):
    """The actor the request's Authorization header (or --no-auth) makes it, or `_BY_SESSION`."""
    tokens: Tokens = request.app.state.tokens
    if tokens.no_auth:
        return Actor(frozenset(ROLES), "local", "no-auth")
    headers = request.headers.getlist("authorization")
    if len(headers) > 1:
        # which one counts would be up to each proxy on the way: none does
        raise HTTPException(400, f"the request has {len(headers)} Authorization headers; send "
                                 "one: 'Authorization: Bearer TOKEN'")
    scheme, _, credentials = (headers[0] if headers else "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return tokens.actor(credentials.strip())
    return _BY_SESSION


def same_origin(request: Request) -> bool:
    """True when the request's Origin (else Referer) names this server's own scheme and host."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        return False
    mine = _origin(request.url.scheme, request.url.netloc)
    return mine is not None and _origin(*urlsplit(source)[:2]) == mine


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(scheme: str, netloc: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) as browsers compare origins: case-blind, a default port the same
    as none (a proxy may send `Host: dash.example:443` for the page at https://dash.example)."""
    scheme = scheme.lower()
    try:
        parts = urlsplit(f"{scheme}://{netloc}")
        port = parts.port
    except ValueError:  # a port that is no number
        return None
    if parts.username is not None or parts.password is not None:
        return None
    return scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(scheme)


def scheme_hint(request: Request) -> str:
    """Why a request from this server's own host looks cross-site: its page came over https
    through a TLS proxy whose X-Forwarded-Proto this server does not trust, so the schemes
    differ. Empty when that is not the case."""
    source = request.headers.get("origin") or request.headers.get("referer") or ""
    parts = urlsplit(source)
    theirs = _origin(parts.scheme, parts.netloc)
    mine = _origin(request.url.scheme, request.url.netloc)
    if theirs is None or mine is None or theirs[1] != mine[1] or theirs[0] == mine[0]:
        return ""
    return (f" (the page is {parts.scheme} but this server sees {request.url.scheme}: behind a "
            "TLS proxy, start serve with --forwarded-allow-ips PROXY_ADDRESS)")


_URL_TOKEN_NAMES = {"token", "access_token", "bearer", "api_key", "apikey", "auth"}


class LoginRequired(Exception):
    """A browser page was asked for without a session: answered by a redirect to /login."""


def _require(role: str, *, page: bool = False):
    """A dependency (a plain function: FastAPI calls it on a worker thread) admitting `role`."""
    def dependency(request: Request) -> Actor:
        return _admit(request, current_actor(request), role, page)

    return dependency


async def ingest_actor(request: Request) -> Actor:
    """The ingest role's check for a view on the event loop (the collector)."""
    return _admit(request, await current_actor_off_loop(request), "ingest", False)


async def staff_actor(request: Request) -> Actor:
    """`require_staff` for a view on the event loop (/metrics)."""
    return _admit(request, await current_actor_off_loop(request), "staff", False)


def _admit(request: Request, actor: Actor | None, role: str, page: bool) -> Actor:
    """`actor` if it may do what `role` may from where the request came, else the refusal."""
    if actor is None:
        if page:
            raise LoginRequired()
        in_url = ("; a token in the URL is never read (URLs are logged): send it in the "
                  "Authorization header" if _URL_TOKEN_NAMES & {k.lower() for k in
                                                                request.query_params} else "")
        # the collector's senders are programs with an ingest token: a sign-in is no way in
        ask = ("a valid ingest token is required: send 'Authorization: Bearer INGEST_TOKEN'"
               if role == "ingest" else
               "a valid token is required: send 'Authorization: Bearer TOKEN' or sign in at "
               "/login")
        raise HTTPException(401, ask + in_url, headers={"WWW-Authenticate": "Bearer"})
    if not actor.can(role):
        if role == "ingest":  # contract §12: POST /v1/events is 401 without a valid ingest token
            raise HTTPException(401, "a valid ingest token is required: this token (or session) "
                                     "may not post events; send 'Authorization: Bearer "
                                     "INGEST_TOKEN'", headers={"WWW-Authenticate": "Bearer"})
        raise HTTPException(403, f"this token may not do that; it needs the {role} role")
    if (actor.via == "session" and request.method not in ("GET", "HEAD", "OPTIONS")
            and not same_origin(request)):
        raise HTTPException(403, "cross-site request refused: a signed-in browser may only "
                                 "change things from this server's own pages"
                                 + scheme_hint(request))
    request.state.actor = actor
    request.state.role = role  # what this request was let in for (see `admitted_as_staff`)
    return actor


def admitted_as_staff(request: Request) -> bool:
    """Whether the request was let in for the staff role (the reading API, the dashboard,
    /metrics). Only such an answer may name the lake's path on the server, in the command that
    fixes a fault (`--lake PATH`, as the CLI prints it): staff run that command on the server.
    An answer a producer's ingest token gets (the collector, also under --no-auth) or one given
    before or without admission (401, 404, /healthz, a lake gone) never names it."""
    return getattr(request.state, "role", None) == "staff"


require_staff = _require("staff")
require_staff_page = _require("staff", page=True)  # HTML pages: redirect to /login instead of 401
# for route signatures: `def view(actor: StaffActor)`
StaffActor = Annotated[Actor, Depends(require_staff)]
StaffPage = Annotated[Actor, Depends(require_staff_page)]

router = APIRouter()


@router.post("/login", include_in_schema=False)
def login(request: Request, token: Annotated[str, Form()] = "") -> RedirectResponse:
    """Sign a browser in with a staff token: a session cookie, then the dashboard."""
    tokens: Tokens = request.app.state.tokens
    origin = request.headers.get("origin") or request.headers.get("referer")
    if origin and not same_origin(request):
        raise HTTPException(403, "cross-site sign-in refused" + scheme_hint(request))
    actor = tokens.actor(token.strip()) if token.strip() else None
    if actor is None or not actor.can("staff"):
        return RedirectResponse("/login?error=invalid", status_code=303)
    response = RedirectResponse("/", status_code=303)
    cookie = _serializer(tokens).dumps({"t": fingerprint(token.strip()),
                                        "s": secrets.token_hex(16)})
    response.set_cookie(SESSION_COOKIE, cookie, max_age=SESSION_MAX_AGE_S, httponly=True,
                        samesite="strict", secure=request.url.scheme == "https", path="/")
    return response


@router.post("/logout", include_in_schema=False)
def logout(request: Request) -> Response:
    """End the browser session."""
    if request.cookies.get(SESSION_COOKIE) and not same_origin(request):
        raise HTTPException(403, "cross-site sign-out refused")
    response: Response = RedirectResponse("/login", status_code=303)
    found = _session(request.app.state.tokens, request.cookies.get(SESSION_COOKIE))
    if found is not None:  # the cookie is void from now on, also where a copy of it was kept
        try:
            end_session(request.app.state.lake, found[0]["s"], found[1])
        except Exception as exc:  # any: the browser is signed out all the same
            # a person leaving a shared machine must not stay signed in because the lake was
            # away for a moment: this browser's cookie goes anyway, and the answer says what
            # could not be done
            reason = " ".join(str(exc).split()) or type(exc).__name__
            _log.error("sign-out not recorded: %s", reason)
            # what failed (a path, a store's error) is for the log; the person, the fix
            reason = (lake_trouble(exc) if isinstance(exc, NoLakeError)
                      else "the server failed to write it; its log says why")
            response = JSONResponse(
                {"detail": f"signed out of this browser, but the sign-out could not be recorded "
                           f"in the lake ({reason}): a copy of this browser's cookie still signs "
                           f"in until it expires at {found[1].astimezone(UTC):%Y-%m-%dT%H:%M}Z"},
                status_code=503 if isinstance(exc, NoLakeError) else 500)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


def end_session(lake: Lake, session_id: str, expires: datetime,
                now: datetime | None = None) -> None:
    """Record in the lake that a session (whose cookie `expires` then) was signed out: every
    server process and host reads it. The records of cookies that have expired since are
    forgotten, an hour's at a time, on a local lake and an object store alike."""
    if not lake.exists():  # an unmounted lake: 503, and no folder made where it was
        raise NoLakeError(no_lake_message(lake.root))
    marker = lake.publish_bytes(_ended_marker(lake, session_id, expires), b"")
    now = datetime.now(UTC) if now is None else now
    for folder in marker.parent.parent.iterdir():
        try:
            hour = datetime.strptime(folder.name, "%Y-%m-%dT%H").replace(tzinfo=UTC)
        except ValueError:
            continue  # not a record of ours
        # every cookie of `hour` has expired an hour after it ends (an hour's grace for hosts
        # whose clocks differ): no copy of it signs in any more, its record can go
        if hour + 2 * _HOUR <= now:
            if lake.remote:
                storage.remove_tree(folder)
            else:
                shutil.rmtree(folder, ignore_errors=True)


__all__ = ["Actor", "LoginRequired", "StaffActor", "StaffPage", "Tokens", "check_startup", "current_actor",
           "current_actor_off_loop", "ingest_actor", "load_tokens", "require_staff",
           "require_staff_page", "router", "staff_actor"]
