"""uvicorn's HTTP protocol with a deadline on clients that stall: `serve` runs with this one.

uvicorn arms no timer on a connection until it has answered a request there (its keep-alive
timeout), so a connection that sends nothing, or headers a byte at a time, or half a body and
then nothing (a producer host that lost power mid-batch leaves no FIN), is held for ever: a few
hundred of them use up the process's file descriptors and every other client is refused, and
each stalled batch keeps its place in the collector's queue. Here a request's headers must be
complete within `timeout` seconds of the connection's opening (or of the previous answer
on a kept-alive connection), and a body must not pause longer than `timeout` between two reads
(as nginx's client_header_timeout and client_body_timeout do; 408 when headers were begun), nor
come slower than MIN_BODY_RATE bytes a second on average: it must be whole within `timeout`
plus one second per MIN_BODY_RATE bytes read (Apache's mod_reqtimeout MinRate), or one byte
every `timeout` - 1 s held its connection, and its batch's place in the queue, for ever.
Otherwise the connection is closed. A body the app has not read yet (the server paused reading
it) is the server's wait, not the client's, and never times out, nor counts against the rate.
One timer per connection, re-armed only when it fires: a read costs a clock read, an addition
and two attribute stores.
A request's line and headers over MAX_HEAD_BYTES are 431: httptools buffers headers of any
size (uvicorn's h11 parser, the fallback, has its own 16 KiB bound).
"""

from __future__ import annotations

import json
import logging
import os

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Base
except ImportError:  # no httptools (not on Linux wheels): uvicorn's pure-Python parser
    from uvicorn.protocols.http.h11_impl import H11Protocol as _Base

from uvicorn.protocols.http.flow_control import FlowControl

from voice_monitor.server.app import SERVE_ENV

DEFAULT_CLIENT_TIMEOUT_S = 30.0
# a body must come at this rate on average, after a first `timeout` of grace: a 16 MiB body
# (the default cap) may take 4.5 hours, a producer's 300 kB gzip'd batch 5 minutes
MIN_BODY_RATE = 1024
_log = logging.getLogger("uvicorn.error")
LINGER_S = 2.0  # how long a refused client may still send before its connection is closed
# a request's line and headers, counted from the read after the one that began them (a read is
# at most 256 KiB); the body bytes of the read that ends them count too
MAX_HEAD_BYTES = 1 << 20
_REFUSAL = (b"HTTP/1.1 %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"connection: close\r\ncontent-length: %d\r\n\r\n%s")


def client_timeout() -> float:
    """The seconds `serve --client-timeout` set (in the options it hands each worker)."""
    try:
        return float(json.loads(os.environ[SERVE_ENV]).get("client_timeout",
                                                           DEFAULT_CLIENT_TIMEOUT_S))
    except (KeyError, ValueError):
        return DEFAULT_CLIENT_TIMEOUT_S


class _TimedFlow(FlowControl):
    """uvicorn's flow control, keeping how long the server paused reading (its own wait)."""

    def __init__(self, transport, loop) -> None:
        super().__init__(transport)
        self._loop, self._paused_at, self._paused = loop, 0.0, 0.0

    def pause_reading(self) -> None:
        if not self.read_paused:
            self._paused_at = self._loop.time()
        super().pause_reading()

    def resume_reading(self) -> None:
        if self.read_paused:
            self._paused += self._loop.time() - self._paused_at
        super().resume_reading()

    def paused_for(self, now: float) -> float:
        """Seconds reading has been paused so far, on this connection."""
        return self._paused + (now - self._paused_at if self.read_paused else 0.0)


class GuardedProtocol(_Base):
    """uvicorn's protocol, closing connections whose client stalls (module docstring)."""

    timeout = None  # read once per process, on the first connection

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self.flow = _TimedFlow(transport, self.loop)
        if GuardedProtocol.timeout is None:
            GuardedProtocol.timeout = client_timeout()
        self._last_read = self._since = self.loop.time()
        self._in_head = False  # a request begun, its headers not complete (httptools only)
        self._head = 0  # bytes read since it began
        self._refused = False  # answered 408/431: what the client still sends is dropped
        self._got = 0  # bytes read since the previous answer (headers and body)
        self._body_since = None  # (loop time, seconds paused by then) when a body began
        self._stall_timer = self.loop.call_later(self.timeout, self._check_stall)

    def data_received(self, data: bytes) -> None:
        if self._refused:  # (uvloop keeps the bound method: the flag, not a new method)
            return
        self._last_read = self.loop.time()
        self._got += len(data)
        if self._in_head:  # uvicorn (httptools) sets no bound on the headers' size
            self._head += len(data)
            if self._head > MAX_HEAD_BYTES:
                self._refuse(b"431 Request Header Fields Too Large",
                             f"the request's headers are over {MAX_HEAD_BYTES} bytes",
                             "send a request with smaller headers")
                return
        super().data_received(data)

    def on_message_begin(self) -> None:
        self._in_head, self._head = True, 0
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._in_head = False
        now = self.loop.time()
        self._body_since = (now, self.flow.paused_for(now))
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        self._since = self.loop.time()
        self._got, self._body_since = 0, None
        super().on_response_complete()

    def connection_lost(self, exc) -> None:
        self._stall_timer.cancel()
        super().connection_lost(exc)

    def eof_received(self) -> bool | None:
        """A client that ends its sending side once its request is sent (`shutdown(SHUT_WR)`:
        `nc -N`, raw-socket and some HTTP/1.0 clients) is answered, then the connection closes.
        uvicorn closed it at once, so such a client had no answer at all, even from /healthz,
        while its batch was landed. A request cut short (headers or body incomplete) can get no
        more bytes: closed at once, as before."""
        cycle = self.cycle  # the newest request (pipelined ones wait behind it), answered last
        if cycle is None or cycle.response_complete or cycle.more_body:
            return None  # the transport closes: nothing (more) to answer
        cycle.keep_alive = False  # its answer closes the connection
        return True  # keep the sending side open for the answer(s)

    def _check_stall(self) -> None:
        if self.transport.is_closing():
            return
        now, cycle = self.loop.time(), self.cycle
        if self._in_head:  # headers begun: they must be whole within the timeout
            due = self._since + self.timeout
            if now >= due:
                self._refuse(b"408 Request Timeout", "the request's headers did not arrive "
                             f"within {self.timeout:g} s", "send the whole request at once "
                             f"(the server waits at most {self.timeout:g} s, set by serve "
                             "--client-timeout)")
                return
        elif cycle is None or cycle.response_complete:  # idle, or the rest of a refused body
            due = max(self._since, self._last_read) + self.timeout
            if now >= due:
                self.transport.close()  # nothing to answer
                return
        elif cycle.more_body and not self.flow.read_paused:  # the client owes the body
            due = self._last_read + self.timeout
            if now >= due:
                _log.warning("voice-monitor: closed the connection from %s: its request body "
                             "paused over %g s (not landed; the client sends it again)",
                             _client(self.client), self.timeout)
                self.transport.close()  # the app's read ends (client gone), its place is freed
                return
            if self._body_since is not None:  # (httptools: h11 reports no headers' end)
                began, paused = self._body_since
                spent = now - began - (self.flow.paused_for(now) - paused)
                whole = now + self.timeout + self._got / MIN_BODY_RATE - spent
                if now >= whole:
                    _log.warning("voice-monitor: closed the connection from %s: its request "
                                 "body came slower than %d bytes/s on average (%d bytes in "
                                 "%.0f s; not landed, the client sends it again)",
                                 _client(self.client), MIN_BODY_RATE, self._got, spent)
                    self.transport.close()
                    return
                due = min(due, whole)
        else:  # the server is working on the request, or waits for the app to read on
            due = now + self.timeout
        self._stall_timer = self.loop.call_later(max(due - now, 0.05), self._check_stall)

    def _refuse(self, status: bytes, reason: str, fix: str) -> None:
        """Answer `status` and end the connection: its sending side at once, the reading side
        after a while (what the client still sends is read and dropped; closed outright, the
        kernel resets the connection and the client loses the answer)."""
        _log.warning("voice-monitor: %s to %s: %s", status[:3].decode(), _client(self.client),
                     reason)
        text = f"{reason}; {fix}\n".encode()
        self.transport.write(_REFUSAL % (status, len(text), text))
        self._in_head, self._refused = False, True
        self._stall_timer.cancel()
        self._stall_timer = self.loop.call_later(LINGER_S, self.transport.close)
        if self.transport.can_write_eof():
            self.transport.write_eof()


def _client(address) -> str:
    return f"{address[0]}:{address[1]}" if address else "a client"
