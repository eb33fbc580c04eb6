"""Clients that stall or go away mid-request, against a real `voice-monitor serve`: the server
answers them plainly, frees what they held and keeps serving everyone else."""

from __future__ import annotations

import contextlib
import socket
import time

import duckdb
import httpx
from server_process import INGEST, STAFF, ServerProcess, bearer

from voice_monitor.lake import Lake

HEADERS = {**bearer(INGEST), "Content-Type": "application/x-ndjson"}
EVENT = (b'{"event_id": "%s", "event_type": "artifact_received", '
         b'"timestamp": "2026-12-01T10:00:00Z"}\n')


def head(length: int) -> bytes:
    return (b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
            + INGEST.encode() + b"\r\nContent-Type: application/x-ndjson\r\n"
            + b"Content-Length: %d\r\n\r\n" % length)


def landed_ids(lake: Lake) -> list[str]:
    files = [str(f) for f in lake.events_dir.rglob("*.parquet")]
    if not files:
        return []
    con = duckdb.connect()
    return sorted(r[0] for r in con.execute("select event_id from read_parquet($f)",
                                            {"f": files}).fetchall())


def until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a socket timeout, 30 s, is
    the test failing: the server kept the connection)."""
    sock.settimeout(30)
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_a_client_gone_mid_body_lands_nothing_and_logs_one_line(tmp_path):
    lake = Lake(tmp_path / "lake")
    body = b"".join(EVENT % f"gone-{i}".encode() for i in range(50))
    with ServerProcess(lake, log=tmp_path / "log") as server:
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(head(len(body)) + body[: len(body) // 2])
        # the next batch is answered once landed; the server has seen the first one end by then
        # (one event loop, in order) or sees it on the next batch, so send until the line shows
        for k in range(50):
            answer = httpx.post(server.url + "/v1/events", content=EVENT % b"after-%d" % k,
                                headers=HEADERS, timeout=30)
            assert answer.status_code == 200
            if "ended before its body did" in server.output():
                break
    log = (tmp_path / "log").read_text()
    assert "POST /v1/events from 127.0.0.1 ended before its body did; nothing of it was landed" in log
    assert "Traceback" not in log and "Exception in ASGI application" not in log
    assert not [i for i in landed_ids(lake) if i.startswith("gone-")]


def test_a_client_that_half_closes_after_its_request_is_answered(tmp_path):
    """shutdown(SHUT_WR) once the request is sent (nc -N, raw-socket and HTTP/1.0 clients):
    uvicorn closed the connection at once, so no answer came, not even from /healthz, while the
    batch was landed (its sender, unanswered, sent it again)."""
    lake = Lake(tmp_path / "lake")
    with ServerProcess(lake, log=tmp_path / "log") as server:
        def half_closed(request: bytes) -> bytes:
            with socket.create_connection(("127.0.0.1", server.port)) as sock:
                sock.sendall(request)
                sock.shutdown(socket.SHUT_WR)
                return until_closed(sock)

        body = EVENT % b"half-1" + EVENT % b"half-2"
        answer = half_closed(head(len(body)) + body)
        assert answer.startswith(b"HTTP/1.1 200 ")
        assert answer.endswith(b'{"accepted":2,"duplicates":0,"quarantined":0}')
        assert b"connection: close" in answer.lower()
        assert half_closed(b"GET /healthz HTTP/1.0\r\n\r\n").endswith(b'{"status":"ok"}')
        # two requests pipelined, then the end: both answered, in order
        both = half_closed(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + head(len(body)) + body)
        assert both.count(b"HTTP/1.1 200 ") == 2
        assert both.endswith(b'{"accepted":2,"duplicates":2,"quarantined":0}')
        # a body cut short can get no more bytes: closed unanswered, nothing of it landed
        assert half_closed(head(len(body)) + (EVENT % b"half-3")[:20]) == b""
    assert landed_ids(lake) == ["half-1", "half-1", "half-2", "half-2"]


def test_a_connection_that_sends_nothing_is_closed_after_the_client_timeout(tmp_path):
    # uvicorn arms no timer before a connection's first request: held for ever, a few hundred of
    # them used up the process's file descriptors
    with ServerProcess(tmp_path / "lake", "--client-timeout", "1") as server, \
            socket.create_connection(("127.0.0.1", server.port)) as sock:
        assert until_closed(sock) == b""


def test_headers_sent_a_byte_at_a_time_are_408_naming_the_option(tmp_path):
    with ServerProcess(tmp_path / "lake", "--client-timeout", "1", log=tmp_path / "log") as server, \
            socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 1")  # and the rest never comes
        answer = until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert answer.endswith(b"the request's headers did not arrive within 1 s; send the whole "
                           b"request at once (the server waits at most 1 s, set by serve "
                           b"--client-timeout)\n")
    assert "408 to 127.0.0.1:" in (tmp_path / "log").read_text()


def hold_the_one_place(server, sock, sent: bytes) -> None:
    """Send `sent` (a request's head and part of its body) on `sock`, then post another batch
    until the server has admitted the first (it reads the headers first): it holds the one
    place (--queue-size 0, --landing-threads 1), so the other batch is 503."""
    sock.sendall(sent)
    for _ in range(100):
        answer = httpx.post(server.url + "/v1/events", content=EVENT % b"other-0",
                            headers=HEADERS, timeout=30)
        if answer.status_code == 503:
            break
    assert answer.status_code == 503


def test_a_stalled_body_gives_its_queue_place_back_and_lands_nothing(tmp_path):
    lake = Lake(tmp_path / "lake")
    stalled = b"".join(EVENT % f"stalled-{i}".encode() for i in range(10))
    with ServerProcess(lake, "--client-timeout", "1", "--queue-size", "0",
                       "--landing-threads", "1", log=tmp_path / "log") as server, \
            socket.create_connection(("127.0.0.1", server.port)) as sock:
        # a producer host that froze mid-batch: half its body, no FIN; its batch holds the one
        # place while the server waits for the rest
        hold_the_one_place(server, sock, head(len(stalled)) + stalled[: len(stalled) // 2])
        assert until_closed(sock) == b""  # cut off after a second without a byte
        answer = httpx.post(server.url + "/v1/events", content=EVENT % b"other-1",
                            headers=HEADERS, timeout=30)
        assert answer.json() == {"accepted": 1, "duplicates": 0, "quarantined": 0}
    assert landed_ids(lake) == ["other-1"] or landed_ids(lake) == ["other-0", "other-1"]
    assert "its request body paused over 1 s" in (tmp_path / "log").read_text()


def test_headers_over_a_mebibyte_are_431_and_the_server_serves_on(tmp_path):
    # uvicorn's httptools parser buffers headers of any size: each connection could hold
    # hundreds of MB of one header line
    with ServerProcess(tmp_path / "lake", log=tmp_path / "log") as server, \
            socket.create_connection(("127.0.0.1", server.port)) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # refused part way
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: "
                         + b"a" * (2 << 20) + b"\r\n\r\n")
        answer = until_closed(sock)
        assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
        assert answer.endswith(b"the request's headers are over 1048576 bytes; send a request "
                               b"with smaller headers\n")
        assert httpx.get(server.url + "/healthz", timeout=30).status_code == 200
    # the refused request never reaches the app (it answered after the 431, on a half-closed
    # connection: 'Cannot call write() after write_eof()' and a traceback in the log)
    assert "Traceback" not in (tmp_path / "log").read_text()


def test_a_body_trickled_a_byte_at_a_time_is_cut_off_and_gives_its_place_back(tmp_path):
    # one byte every fifth of a second, well inside the 2 s pause limit: the body never
    # paused long enough to be cut off, so the connection, and the batch's one place in the
    # queue, were held as long as the client kept trickling. Its body must come at 1,024 bytes
    # a second on average after the first 2 s: ~200 bytes of head and a few of body are due
    # within about 2.2 s.
    lake = Lake(tmp_path / "lake")
    trickled = b"".join(EVENT % f"trickled-{i}".encode() for i in range(10))
    with ServerProcess(lake, "--client-timeout", "2", "--queue-size", "0",
                       "--landing-threads", "1", log=tmp_path / "log") as server, \
            socket.create_connection(("127.0.0.1", server.port)) as sock:
        hold_the_one_place(server, sock, head(len(trickled)) + trickled[:1])
        sock.settimeout(0.2)  # the pace: a byte, then wait that long for the server's close
        closed, sent = False, 1
        for k in range(1, len(trickled)):  # the whole body at 5 bytes/s: ~3 min if not cut off
            try:
                sock.sendall(trickled[k:k + 1])
                sent += 1
                closed = sock.recv(65536) == b""
            except TimeoutError:
                continue
            except (ConnectionResetError, BrokenPipeError):
                closed = True
            if closed:
                break
        assert closed and sent < len(trickled)  # the server closed it before the body was whole
        answer = httpx.post(server.url + "/v1/events", content=EVENT % b"other-1",
                            headers=HEADERS, timeout=30)
        assert answer.json() == {"accepted": 1, "duplicates": 0, "quarantined": 0}
    assert landed_ids(lake) == ["other-1"]
    assert "its request body came slower than 1024 bytes/s on average" in (
        tmp_path / "log").read_text()


def test_every_early_answer_gives_its_queue_place_back(tmp_path):
    # one place (--queue-size 0, --landing-threads 1): a batch answered early that kept its
    # place would make every batch after it 503, for good. Each path in turn, a few times.
    lake = Lake(tmp_path / "lake")
    body = b"".join(EVENT % f"early-{i}".encode() for i in range(15))  # under 2000 bytes
    gone = 0
    latin1 = "application/x-ndjson; charset=iso-8859-1"
    with ServerProcess(lake, "--queue-size", "0", "--landing-threads", "1",
                       "--max-body-bytes", "2000", log=tmp_path / "log") as server:
        def post(content: bytes, **headers: str) -> httpx.Response:
            return httpx.post(server.url + "/v1/events", content=content,
                              headers={**HEADERS, **headers}, timeout=30)

        for k in range(1, 4):
            with socket.create_connection(("127.0.0.1", server.port)) as sock:  # gone mid-body
                sock.sendall(head(len(body)) + body[:100])
            for _ in range(300):  # (the server sees the end of the connection in its own time)
                gone = (tmp_path / "log").read_text().count("ended before its body did")
                if gone == k:
                    break
                time.sleep(0.1)
            assert gone == k
            assert post(EVENT % b"caf\xe9", **{"Content-Type": latin1}).status_code == 415
            assert post(body * 2).status_code == 413  # over --max-body-bytes
            assert post(b"not gzip", **{"Content-Encoding": "gzip"}).status_code == 400
        scrape = httpx.get(server.url + "/metrics", headers=bearer(STAFF), timeout=30).text
        assert "\nvoice_monitor_collector_queue_batches 0.0\n" in scrape
        assert post(EVENT % b"after").json() == {"accepted": 1, "duplicates": 0, "quarantined": 0}
    assert landed_ids(lake) == ["after"]
