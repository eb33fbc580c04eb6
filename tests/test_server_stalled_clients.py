"""Clients that stall or go away mid-request, against a real `voice-monitor serve`: the server
answers them plainly, frees what they held and keeps serving everyone else."""

from __future__ import annotations

import socket

import duckdb
import httpx
from server_process import INGEST, ServerProcess, bearer

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
