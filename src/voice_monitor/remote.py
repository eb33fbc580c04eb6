"""Sending batches to a collector (`voice-monitor serve`) instead of landing them locally.

`Producer(url=..., token=...)` uses this: one POST of gzip'd JSON Lines per batch, and the
collector's answer (`accepted`, `duplicates`, `quarantined`) as the landing result. A record
the producer refused (`mappings.Rejected`: bytes, a set...) goes as a marked line the collector
quarantines with the producer's reason. Errors say
whether a retry can help: a 503 carries the collector's Retry-After, a network error, a 5xx,
a 408 or a 429 (a load balancer's timeout or rate limit, its Retry-After kept too) is
transient, any other refusal (401, 403, 404, 413, ...) is not (the producer sends a batch
refused as too large (413) again in halves), nor is a TLS handshake that cannot succeed (an
https:// url to a plain-HTTP server); a url no request can go to is refused at once.
"""

from __future__ import annotations

import gzip
import ssl
from collections.abc import Sequence
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from voice_monitor.landing import LandingResult
from voice_monitor.mappings import Rejected

DEFAULT_TIMEOUT_S = 60.0  # to answer: the collector answers once the batch is landed
CONNECT_TIMEOUT_S = 10.0  # to connect: a host that is down (no answer to SYN) is said sooner
_LATER = (408, 429)  # Request Timeout, Too Many Requests: sent again, as a 5xx is


class SendError(Exception):
    """A batch was not acknowledged; `retry_after` is the collector's hint (seconds) if it gave one."""

    def __init__(self, message: str, *, transient: bool, retry_after: float | None = None,
                 status: int | None = None):
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after
        self.status = status  # the collector's HTTP status, None when none came back


def body_line(record) -> bytes:
    """One record as the line a request body holds."""
    if isinstance(record, bytes):
        return record
    if isinstance(record, str):
        return record.encode("utf-8", errors="replace")
    if isinstance(record, Rejected):  # refused by the producer: quarantined with its reason
        return record.wire_line()
    return repr(record).encode("utf-8", errors="replace").replace(b"\n", b"\\n")


class CollectorClient:
    """Posts batches to one collector URL with a bearer token."""

    def __init__(self, url: str, token: str | None, timeout: float = DEFAULT_TIMEOUT_S):
        self.url = _checked_url(url).rstrip("/")
        self.endpoint = self.url if self.url.endswith("/v1/events") else self.url + "/v1/events"
        self.shown = _shown(self.url)  # for messages: a password in the url masked
        headers = {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}
        token = _checked_token(token)
        if token and urlsplit(self.url).username is not None:
            # httpx sends a url's user part as 'Authorization: Basic', in place of the token:
            # every batch was refused 401 'a valid ingest token is required', the token given
            raise ValueError(f"collector url {self.shown!r} holds a user name, which is sent as "
                             "'Authorization: Basic' in place of the token, so the collector "
                             "would refuse every batch (401); give the url without 'user…@', "
                             "e.g. 'http://collector:8787'")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._timeout = httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT_S))
        self._http = httpx.Client(headers=headers, timeout=self._timeout)

    def send(self, lines: Sequence, timeout: float | None = None) -> LandingResult:
        """POST one batch; its counts once the collector has landed it, else SendError.
        `timeout`: seconds for each step of this request, if shorter than the client's."""
        body = gzip.compress(b"\n".join(body_line(r) for r in lines) + b"\n", compresslevel=1)
        limit = self._timeout if timeout is None else httpx.Timeout(
            min(timeout, self._timeout.read), connect=min(timeout, self._timeout.connect))
        try:
            response = self._http.post(self.endpoint, content=body, timeout=limit)
        except httpx.HTTPError as exc:
            tls = _tls_refusal(exc)
            if tls is not None:  # a plain-HTTP server given https://: no retry can change it
                raise SendError(f"cannot reach collector {self.shown}: {tls}",
                                transient=False) from None
            raise SendError(f"cannot reach collector {self.shown}: {exc}", transient=True) from None
        if response.status_code == 200:
            try:
                counts = response.json()
                result = LandingResult(counts["accepted"], counts["duplicates"],
                                       counts["quarantined"])
            except (ValueError, KeyError, TypeError):
                result = None
            if result is not None and all(type(n) is int for n in (  # (not a bool either)
                    result.accepted, result.duplicates, result.quarantined)):
                return result
            # not a collector's answer (a wrong url, a proxy's page, counts that are no whole
            # numbers): said so, where the error was "KeyError('accepted')" (or a TypeError
            # adding them up, the batch then neither counted nor handed back); sent again, a
            # batch that did land counts once
            raise SendError(f"{_shown(self.endpoint)} answered 200 without a collector's counts "
                            f"({_detail(response)!r}); check that url= is the address of "
                            "voice-monitor serve", transient=True, status=200)
        detail, status = _detail(response), response.status_code
        hint = response.headers.get("retry-after", "")
        retry_after = float(hint) if hint.replace(".", "", 1).isdigit() else None
        if status == 503:
            raise SendError(f"collector {self.shown} is busy (503): {detail}", transient=True,
                            retry_after=retry_after, status=503)
        if 300 <= status < 400 and response.headers.get("location"):
            # (a load balancer sending http:// to https://, a moved collector): never followed,
            # a POST's events would go where the producer was not pointed; said with the place
            # (a relative Location, e.g. nginx's `return 308 /new/v1/events`, read against the
            # url posted to: alone, 'give url='/new'' named no collector one could give)
            place = _shown_safely(urljoin(self.endpoint, response.headers["location"]))
            base = place.removesuffix("/").removesuffix("/v1/events")
            detail = (f"redirected to {place!r}; give url={base!r} if that is the collector "
                      "(a redirect is not followed)")
        if status in (404, 405):  # a path or a server that is not the collector's
            detail += ("; check that url= is the address of voice-monitor serve, e.g. "
                       "'http://collector:8787' (its POST /v1/events is added)")
        # 408 and 429 say "later" as a 5xx does (a load balancer's body timeout, its rate
        # limit): refused for good, a producer behind one lost each such batch at once
        raise SendError(f"collector {self.shown} refused the batch ({status}): {detail}",
                        transient=status >= 500 or status in _LATER, retry_after=retry_after,
                        status=status)

    def close(self) -> None:
        self._http.close()


def _checked_url(url) -> str:
    """`url` if a request can be sent to it, else ValueError naming it and the fix: a port
    that is no number, a missing host, a space in it failed each post, retried as a network
    fault for a minute and a half (or raised past the retries as httpx.InvalidURL)."""
    example = "e.g. 'http://collector:8787'"
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError(f"collector url {url!r} must start with http:// or https://, {example}")
    try:
        parts = urlsplit(url)
        _ = parts.port  # ValueError for a port that is no number or out of range
        httpx.URL(url)
    except (ValueError, httpx.InvalidURL) as exc:
        raise ValueError(f"collector url {_shown_safely(url)!r} is not a valid address ({exc}); "
                         f"give scheme://host:port, {example}") from None
    if not parts.hostname or any(c.isspace() or not c.isprintable() for c in parts.netloc):
        raise ValueError(f"collector url {_shown_safely(url)!r} names no valid host; give "
                         f"scheme://host:port, {example}")
    if "?" in url or "#" in url:
        # /v1/events went after it: 'http://c:8787?x=1/v1/events' posted to '/', refused 405
        # ('method POST is not allowed on /'), the url never named as the fault
        raise ValueError(f"collector url {_shown_safely(url)!r} has a query string or a "
                         "fragment ('?…', '#…'), which the collector takes none of; give "
                         f"scheme://host:port, {example}")
    return url


def _shown_safely(url: str) -> str:
    try:
        return _shown(url)
    except ValueError:
        return url.rpartition("@")[2]


def _tls_refusal(exc: BaseException) -> str | None:
    """What to say when `exc` is a TLS handshake that cannot succeed by trying again (the
    server speaks plain HTTP, its certificate is not trusted), else None: a connection cut
    during the handshake (an EOF, a reset) is a network fault like any other."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, ssl.SSLCertVerificationError):
            return (f"its TLS certificate is not trusted ({exc.verify_message or exc}); give "
                    "the server a certificate from a trusted CA, or point SSL_CERT_FILE at "
                    "the CA bundle that signed it")
        if isinstance(exc, ssl.SSLError) and not isinstance(
                exc, ssl.SSLEOFError | ssl.SSLZeroReturnError | ssl.SSLSyscallError):
            return (f"the TLS handshake failed ({exc.reason or exc}); if the collector serves "
                    "plain HTTP (voice-monitor serve does, unless behind a TLS proxy), use "
                    "an http:// url")
        exc = exc.__cause__ or exc.__context__
    return None


def _shown(url: str) -> str:
    """`url` with the password of its user part masked (http://user:****@host): an error
    names the collector, and such errors are logged; the url itself is sent as given."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:****@{host}"))


def _checked_token(token):
    """The token as the server reads it (it strips what it is configured with and what it is
    sent: a token read from a file with its newline is the same token), or ValueError, never
    naming the token itself, for one no HTTP header can carry. A newline in the header failed
    each post as 'cannot reach collector ... Illegal header value', retried as a network fault
    for a minute and a half; a non-ASCII one raised UnicodeEncodeError from the constructor."""
    if token is None:
        return None
    if not isinstance(token, str):
        raise ValueError(f"token must be a string (an ingest token of the collector), not a "
                         f"{type(token).__name__}")
    token = token.strip()
    if not (token.isascii() and token.isprintable()):
        raise ValueError(f"token ({len(token)} characters) holds a character an HTTP header "
                         "cannot carry (a control character such as a newline or NUL, or one "
                         "that is not ASCII); pass the ingest token exactly as the collector's "
                         "VOICE_MONITOR_INGEST_TOKENS or --tokens-file holds it")
    return token


def _detail(response: httpx.Response) -> str:
    """The collector's `detail`, else the answer's text (a proxy's page, other JSON)."""
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if isinstance(answer, dict) and "detail" in answer:
        return str(answer["detail"])[:300]
    return response.text[:300]
