"""`voice-monitor serve` as a real process: startup rules, liveness, the token matrix over HTTP."""

from __future__ import annotations

import os
import subprocess

import httpx
import pytest
from conftest import NOW, event
from server_process import INGEST, SCRIPT, STAFF, ServerProcess, bearer, client, served

pytestmark = pytest.mark.slow

WRONG = "wrong-token-0123456789abcdef"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with served(tmp_path_factory.mktemp("served")) as running:
        yield running


def test_healthz_needs_no_token(server):
    response = server.http.get(server.url + "/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


# (method, path, body) per route class; the expected status for none, wrong, ingest, staff
MATRIX = [
    (("POST", "/v1/events", b""), (401, 401, 200, 401)),  # contract §12: 401 without an ingest token
    (("GET", "/api/v1/alerts", None), (401, 401, 403, 200)),
    (("GET", "/api/v1/metrics/realtime", None), (401, 401, 403, 200)),
    (("POST", "/api/v1/alerts/al-0000000000000000/ack", None), (401, 401, 403, 404)),
    (("GET", "/metrics", None), (401, 401, 403, 200)),
]


@pytest.mark.parametrize(("route", "expected"), MATRIX, ids=[r[0][1] for r in MATRIX])
def test_token_matrix(server, route, expected):
    method, path, body = route
    got = []
    for token in (None, WRONG, INGEST, STAFF):
        response = server.http.request(method, server.url + path, content=body,
                                 headers={**bearer(token), "Content-Type": "application/x-ndjson"})
        got.append(response.status_code)
    assert tuple(got) == expected


def test_page_redirects_to_login_without_a_session(server):
    response = server.http.get(server.url + "/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert server.http.get(server.url + "/", headers=bearer(STAFF)).status_code == 200
    assert server.http.get(server.url + "/", headers=bearer(INGEST)).status_code == 403


def test_an_ingested_event_is_read_back_through_the_api(server):
    record = event("artifact_received", NOW, artifact_id="art-http-1", organization_id="org-h")
    posted = server.http.post(server.url + "/v1/events", json=[record], headers=bearer(INGEST))
    assert posted.status_code == 200
    assert posted.json() == {"accepted": 1, "duplicates": 0, "quarantined": 0}
    timeline = server.http.get(server.url + "/api/v1/artifacts/art-http-1/timeline", headers=bearer(STAFF))
    assert timeline.status_code == 200
    assert [r["event_id"] for r in timeline.json()["rows"]] == [record["event_id"]]
    assert timeline.json()["rows"][0]["timestamp"] == "2026-02-16T14:30:00Z"


def _serve(tmp_path, *args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), "serve", "--lake", str(tmp_path / "lake"), "--port", "1",
                           *args], env=env, capture_output=True, text=True, timeout=60)


def _env(**extra: str) -> dict:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("VOICE_MONITOR_")}, **extra}


def test_refuses_to_start_without_tokens(tmp_path):
    env = _env()
    result = _serve(tmp_path, env=env)
    assert result.returncode == 1
    assert "no tokens configured" in result.stderr
    assert "Traceback" not in result.stderr
    result = _serve(tmp_path, "--no-auth", "--host", "0.0.0.0", env=env)
    assert result.returncode == 1
    assert "--no-auth only binds 127.0.0.1, not '0.0.0.0'" in result.stderr


def test_no_auth_on_loopback_serves_everyone(tmp_path):
    with ServerProcess(tmp_path / "lake", "--no-auth", tokens=False) as running:
        assert httpx.get(running.url + "/api/v1/alerts", timeout=120).status_code == 200
        posted = httpx.post(running.url + "/v1/events", content=b"", timeout=120,
                            headers={"Content-Type": "application/x-ndjson"})
        assert posted.json() == {"accepted": 0, "duplicates": 0, "quarantined": 0}


def test_no_auth_with_tokens_configured_is_refused(tmp_path):
    result = _serve(tmp_path, "--no-auth", env=_env(VOICE_MONITOR_STAFF_TOKENS=STAFF))
    assert result.returncode == 1
    assert "--no-auth was given but tokens are configured" in result.stderr


def test_the_demo_ends_with_the_command_that_serves_its_lake(tmp_path):
    lake = tmp_path / "demo lake"
    done = subprocess.run([str(SCRIPT), "demo", "--lake", str(lake), "--days", "1",
                           "--artifacts-per-day", "10", "--end", "2026-02-18T12:00:00Z"],
                          env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith(f"Serve it: voice-monitor serve --no-auth --lake '{lake}'")


def test_tokens_never_reach_the_log(server):
    server.http.post(server.url + "/login", data={"token": STAFF})
    server.http.get(server.url + "/api/v1/alerts", headers=bearer(WRONG))
    log = server.log.read_text()
    assert "GET /api/v1/alerts" in log  # the access log is on, and holds paths only
    for token in (INGEST, STAFF, WRONG):
        assert token not in log


def test_several_worker_processes_share_the_port(tmp_path):
    with ServerProcess(tmp_path / "lake", "--workers", "2", log=tmp_path / "log") as running, \
            client() as http:
        answers = [http.post(running.url + "/v1/events", headers=bearer(INGEST),
                             json=[event("artifact_received", NOW, event_id=f"w{i}")]).json()
                   for i in range(6)]
        assert answers == [{"accepted": 1, "duplicates": 0, "quarantined": 0}] * 6
        rows = http.get(running.url + "/api/v1/events", headers=bearer(STAFF)).json()["rows"]
    assert sorted(r["event_id"] for r in rows) == [f"w{i}" for i in range(6)]
