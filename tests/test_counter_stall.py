"""A Redis that stalls (a paused process: SIGSTOP) under a running collector holds each real-time
read for the client's socket timeout (30 s). Those reads ran on the server's shared worker
threads (40): 45 dashboards or scripts polling `metrics/realtime` took them all, and /healthz and
every other API route waited behind them (27.7 s for /healthz in one run), so a load balancer
would have taken the collector for dead. The real-time reads now have a few threads of their own.
A real redis-server and a real `voice-monitor serve` on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from datetime import UTC, datetime

import httpx
import pytest
import redis
from conftest import event
from server_process import INGEST, STAFF, ServerProcess, bearer, client
from servers import redis_server

pytestmark = pytest.mark.slow

READS = 45  # more than the 40 worker threads the server's routes share


def test_reads_of_a_stalled_redis_leave_healthz_and_the_other_routes_answering(tmp_path):
    (tmp_path / "redis").mkdir()
    with redis_server(tmp_path / "redis") as url:
        pid = redis.Redis.from_url(url).info("server")["process_id"]
        env = {"VOICE_MONITOR_COUNTERS": url}
        with ServerProcess(tmp_path / "lake", env=env, log=tmp_path / "server.log") as server, \
                client() as http:
            now = datetime.now(UTC)
            sent = http.post(server.url + "/v1/events", content=json.dumps(
                event("artifact_received", now, event_id="before")), headers={
                **bearer(INGEST), "Content-Type": "application/x-ndjson"})
            assert sent.json() == {"accepted": 1, "duplicates": 0, "quarantined": 0}
            answered: list[int] = []

            def read_realtime():
                got = httpx.get(server.url + "/api/v1/metrics/realtime", headers=bearer(STAFF),
                                timeout=120)
                answered.append(got.status_code)

            readers = [threading.Thread(target=read_realtime) for _ in range(READS)]
            os.kill(pid, signal.SIGSTOP)
            try:
                for reader in readers:
                    reader.start()
                time.sleep(3)  # (the reads reach the server; nothing here asserts a duration)
                # while every real-time read waits on the paused Redis (none has answered)
                health = http.get(server.url + "/healthz")
                events = http.get(server.url + "/api/v1/events", headers=bearer(STAFF))
                assert answered == []
            finally:
                os.kill(pid, signal.SIGCONT)
            for reader in readers:
                reader.join(120)
            assert (health.status_code, health.json()) == (200, {"status": "ok"})
            assert [r["event_id"] for r in events.json()["rows"]] == ["before"]
            # each read answered: 200 once Redis was back, or 503 (Retry-After) for those its
            # socket timeout ended first; none failed otherwise
            assert len(answered) == READS and set(answered) <= {200, 503}
