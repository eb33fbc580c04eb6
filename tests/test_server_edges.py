"""`voice-monitor serve` as a client on another host sees it: odd and hostile requests against a
real server process, each answer checked against docs/server.md (status, a message naming the
fault, nothing leaked)."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta

import pytest
from server_process import INGEST, STAFF, ServerProcess, bearer, client, served

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with served(tmp_path_factory.mktemp("edges")) as running:
        yield running


def test_a_chart_refuses_an_unknown_or_repeated_query_parameter(server):
    # as every other /api/v1 endpoint: a misspelt parameter is named, never ignored
    url = server.url + "/api/v1/charts/throughput"
    response = server.http.get(url, params={"hour": "2"}, headers=bearer(STAFF))
    assert response.status_code == 400
    assert response.json()["detail"] == ("unknown query parameter 'hour' for "
                                         "/api/v1/charts/throughput; it takes: hours, now")
    response = server.http.get(url + "?hours=2&hours=3", headers=bearer(STAFF))
    assert response.status_code == 400
    assert response.json()["detail"].startswith("query parameter 'hours' is given 2 times")
    assert server.http.get(url, params={"hours": "2"}, headers=bearer(STAFF)).status_code == 200


def test_a_token_sent_in_the_url_is_refused_and_kept_out_of_the_log(server):
    # curl users try ?token=; uvicorn's access log prints the query string as sent
    encoded = "%" + STAFF.encode().hex()[:2] + STAFF[1:]  # 's' percent-encoded: '%73taff-...'
    answers = [
        server.http.get(server.url + "/api/v1/alerts?token=" + STAFF),
        server.http.get(server.url + "/api/v1/alerts?access_token=" + encoded),
        server.http.post(server.url + "/v1/events?token=" + INGEST, content=b""),
    ]
    for response in answers:
        assert response.status_code == 401
        assert response.json()["detail"].endswith(
            "a token in the URL is never read (URLs are logged): send it in the Authorization "
            "header")
    # a token where an artifact id belongs is a valid request, logged with the token hidden
    timeline = server.http.get(server.url + f"/api/v1/artifacts/{STAFF}/timeline",
                               headers=bearer(STAFF))
    assert timeline.json() == {"artifact_id": STAFF, "rows": []}
    log = server.log.read_text()
    assert STAFF not in log and INGEST not in log and encoded not in log
    assert '"GET /api/v1/alerts?token=[token hidden] HTTP/1.1" 401' in log
    assert '"GET /api/v1/alerts?access_token=[token hidden] HTTP/1.1" 401' in log
    assert '"POST /v1/events?token=[token hidden] HTTP/1.1" 401' in log
    assert '"GET /api/v1/artifacts/[token hidden]/timeline HTTP/1.1" 200' in log


def test_a_token_parameter_with_a_percent_encoded_name_is_kept_out_of_the_log(server):
    # the server decodes a parameter's name ('%74oken' is 'token' to it), the log's redaction
    # matched the name as sent: a token no longer configured (rotated, or another server's)
    # showed in the access log
    secret = "rotated-token-0123456789abcdef"
    for query in (f"%74oken={secret}", f"x=1&ACCESS%5Ftoken={secret}", f"api%5fkey={secret}"):
        response = server.http.get(server.url + "/api/v1/alerts?" + query)
        assert response.status_code == 401  # refused as the plain name is
        assert response.json()["detail"].endswith("send it in the Authorization header")
    log = server.log.read_text()
    assert secret not in log
    assert '"GET /api/v1/alerts?%74oken=[token hidden] HTTP/1.1" 401' in log
    assert '"GET /api/v1/alerts?x=1&ACCESS%5Ftoken=[token hidden] HTTP/1.1" 401' in log
    assert '"GET /api/v1/alerts?api%5fkey=[token hidden] HTTP/1.1" 401' in log


def test_a_pretty_printed_event_sent_as_json_lines_is_one_event(server):
    # split into its 6 lines it was 6 quarantined scraps, answered 200
    at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    pretty = json.dumps({"event_id": "pretty-1", "event_type": "artifact_received",
                         "timestamp": at, "organization_id": "org-pretty"}, indent=2).encode()
    assert len(pretty.splitlines()) == 6
    headers = {**bearer(INGEST), "Content-Type": "application/x-ndjson"}
    for body, encoding in ((pretty, {}), (gzip.compress(pretty), {"Content-Encoding": "gzip"})):
        response = server.http.post(server.url + "/v1/events", content=body,
                                    headers={**headers, **encoding})
        assert response.status_code == 200
        # the second time the same event: a duplicate, counted once
        assert response.json() == {"accepted": 1, "duplicates": int(bool(encoding)),
                                   "quarantined": 0}


WRONG = "wrong-token-0123456789abcdef"


@pytest.mark.parametrize(("method", "path", "token"), [
    ("POST", "/v1/events", INGEST), ("GET", "/api/v1/alerts", STAFF), ("GET", "/metrics", STAFF)])
def test_two_authorization_headers_are_refused_whatever_their_order(server, method, path, token):
    # with the first one taken, a valid token ahead of a wrong one passed and behind it did not;
    # a proxy that checks the last one would disagree with the server about who is asking
    for pair in ((token, WRONG), (WRONG, token), (token, token)):
        headers = [("Authorization", f"Bearer {t}") for t in pair]
        response = server.http.request(method, server.url + path, headers=headers,
                                       content=b"" if method == "POST" else None)
        assert response.status_code == 400, pair
        assert response.json() == {"detail": "the request has 2 Authorization headers; send "
                                             "one: 'Authorization: Bearer TOKEN'"}
    assert server.http.request(method, server.url + path, headers=bearer(token),
                               content=b"" if method == "POST" else None).status_code == 200


def test_the_api_schema_is_behind_the_staff_token_as_the_rest_of_the_api(server):
    # docs/server.md: GET /api/v1/... is 401 without a token and 403 with an ingest token
    url = server.url + "/api/v1/openapi.json"
    assert server.http.get(url).status_code == 401
    assert server.http.get(url, headers=bearer(INGEST)).status_code == 403
    response = server.http.get(url, headers=bearer(STAFF))
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/v1/events" in paths and "/api/v1/events" in paths
    assert "/api/v1/openapi.json" not in paths


@pytest.mark.parametrize(("path", "allowed"), [
    ("/login", "GET, HEAD, POST"),  # the sign-in page and its form: two routes on one path
    ("/v1/events", "POST"),
    ("/api/v1/events", "GET, HEAD"),
    ("/api/v1/alerts/al-0000000000000000/ack", "POST"),
    ("/healthz", "GET, HEAD"),
    ("/static/dashboard.js", "GET, HEAD"),
])
def test_a_method_a_path_does_not_take_is_405_naming_every_method_it_takes(server, path,
                                                                           allowed):
    for method in ("PUT", "DELETE", "OPTIONS", "PATCH"):
        response = server.http.request(method, server.url + path, headers=bearer(STAFF))
        assert response.status_code == 405
        assert response.headers["allow"] == allowed
        assert response.json() == {"detail": f"method {method} is not allowed on {path}; it "
                                             f"takes {allowed}"}
    if "HEAD" not in allowed:  # (its answer has no body to read the detail from)
        response = server.http.head(server.url + path, headers=bearer(STAFF))
        assert (response.status_code, response.headers["allow"]) == (405, allowed)


@pytest.mark.parametrize(("path", "token", "status"), [
    ("/login", None, 200),
    ("/", None, 303),  # signed out: to /login
    ("/api/v1/freshness", STAFF, 200),
    ("/api/v1/events?limit=5", STAFF, 200),
    ("/api/v1/charts/throughput", STAFF, 200),
    ("/api/v1/openapi.json", STAFF, 200),
    ("/api/v1/events", None, 401),
    ("/api/v1/events", INGEST, 403),
    ("/api/v1/events?nope=1", STAFF, 400),
    ("/api/v1/nope", STAFF, 404),
    ("/metrics", STAFF, 200),
    ("/metrics", None, 401),
    ("/healthz", None, 200),
    ("/static/dashboard.js", None, 200),
])
def test_head_answers_as_get_does_without_the_body(server, path, token, status):
    # RFC 9110 9.3.2: HEAD is GET without the content; it was 405 on every path but /healthz
    url = server.url + path
    get = server.http.get(url, headers=bearer(token), follow_redirects=False)
    head = server.http.head(url, headers=bearer(token), follow_redirects=False)
    assert (get.status_code, head.status_code, head.content) == (status, status, b"")
    moving = {"date", "content-length"}  # (/metrics and freshness give ages: their length moves)
    assert ({k: v for k, v in head.headers.items() if k not in moving}
            == {k: v for k, v in get.headers.items() if k not in moving})
    if path.startswith(("/login", "/static/", "/api/v1/openapi")):
        assert head.headers["content-length"] == get.headers["content-length"] != "0"


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v2/events", "/v1/event", "/nope"])
def test_a_path_the_server_does_not_have_is_404_naming_it(server, path):
    for headers in ({}, bearer(STAFF)):
        response = server.http.get(server.url + path, headers=headers)
        assert response.status_code == 404
        assert response.json() == {"detail": f"no such path {path!r}; the API's paths are listed "
                                             "in docs/server.md and at /api/v1/openapi.json"}


@pytest.mark.parametrize(("path", "bare"), [("/api/v1/events/", "/api/v1/events"),
                                            ("/metrics/", "/metrics"), ("/v1/events/", "/v1/events"),
                                            ("/api/v1/artifacts/a1/timeline/",
                                             "/api/v1/artifacts/a1/timeline")])
def test_a_path_with_a_trailing_slash_is_404_naming_it_never_a_redirect(server, path, bare):
    # Starlette's 307 to the path without the slash built its Location from the Host header
    # (http://evil.example/api/v1/events), which any client, or a proxy, chooses
    for method in ("GET", "POST"):
        response = server.http.request(method, server.url + path, follow_redirects=False,
                                       headers={**bearer(STAFF), "Host": "evil.example"})
        assert response.status_code == 404, method
        assert "location" not in response.headers
        assert response.json() == {"detail": f"no such path {path!r}; the API's paths are "
                                             "listed in docs/server.md and at "
                                             f"/api/v1/openapi.json; without the trailing "
                                             f"slash: {bare!r}"}
    response = server.http.get(server.url + "/nope/", follow_redirects=False)
    assert response.json()["detail"].endswith("at /api/v1/openapi.json")  # no such path either


def test_a_404_of_a_view_keeps_its_own_message(server):
    response = server.http.get(server.url + "/static/index.html")
    assert (response.status_code, response.json()) == (404, {"detail": "no asset 'index.html'"})
    response = server.http.post(server.url + "/api/v1/alerts/al-0000000000000000/ack",
                                headers=bearer(STAFF))
    assert response.status_code == 404
    assert response.json()["detail"].startswith("no alert with id 'al-0000000000000000'")


def _sign_in(server) -> str:
    with client() as browser:  # its own cookie jar: server.http stays signed out
        response = browser.post(server.url + "/login", data={"token": STAFF},
                                headers={"Origin": server.url}, follow_redirects=False)
    assert response.status_code == 303
    return response.cookies["voice_monitor_session"]


def test_signing_out_ends_the_session_also_for_a_copy_of_its_cookie(server):
    kept, other = _sign_in(server), _sign_in(server)  # two browsers of one staff member
    alerts = server.url + "/api/v1/alerts"
    with client(cookies={"voice_monitor_session": kept}) as browser:
        assert browser.get(alerts).status_code == 200
        response = browser.post(server.url + "/logout", headers={"Origin": server.url},
                                follow_redirects=False)
        assert (response.status_code, response.headers["location"]) == (303, "/login")
    # the cookie as a copy kept it (a shared machine, a stolen cookie) no longer signs in
    with client(cookies={"voice_monitor_session": kept}) as replay:
        response = replay.get(alerts)
        assert response.status_code == 401
        assert replay.get(server.url + "/", follow_redirects=False).headers["location"] == "/login"
    # the other browser's session is its own
    with client(cookies={"voice_monitor_session": other}) as browser:
        assert browser.get(alerts).status_code == 200


@pytest.mark.parametrize(("path", "name", "value", "utc", "other"), [
    ("/api/v1/metrics/historical", "start", "2026-11-30", "2026-11-30T00:00:00Z",
     {"end": "2026-11-30T06:00:00Z"}),
    ("/api/v1/metrics/orgs", "end", "2026-11-30T10:00:00", "2026-11-30T10:00:00Z",
     {"start": "2026-11-30T08:00:00Z"}),
    ("/api/v1/events", "start", "2026-11-30 10:00", "2026-11-30T10:00:00Z", {}),
    ("/api/v1/artifacts/failed", "since", "2026-11-30T10:00", "2026-11-30T10:00:00Z", {}),
    ("/api/v1/freshness", "now", "2026-11-30T10:00:00.5", "2026-11-30T10:00:00.500Z", {}),
])
def test_a_time_without_timezone_is_utc_as_on_the_command_line(server, path, name, value, utc,
                                                                other):
    # it was a 400 ("has no timezone"), while the CLI reads `--start 2026-11-30` as UTC
    # (contract §11: `--hour 2026-02-15T14`): the same answer as for the time with Z
    answers = [server.http.get(server.url + path, params={name: given, **other},
                               headers=bearer(STAFF)) for given in (value, utc)]
    assert [a.status_code for a in answers] == [200, 200], answers[0].text
    assert answers[0].json() == answers[1].json()


@pytest.mark.parametrize("value", ["weekly", ""])
def test_an_unknown_period_is_400_with_a_fix_an_http_client_can_apply(server, value):
    # it said "expected 'hour', 'day' or None (automatic)": Python's None, which no query
    # string can send
    response = server.http.get(server.url + "/api/v1/metrics/historical", headers=bearer(STAFF),
                               params={"start": "2026-11-30T00:00:00Z",
                                       "end": "2026-11-30T06:00:00Z", "period": value})
    assert response.status_code == 400
    assert response.json() == {"detail": f"unknown period {value!r}; use 'hour' or 'day', or "
                                         "leave it out to have the range's length choose"}


def test_a_content_header_sent_twice_is_read_as_the_list_it_means(server):
    # two Content-Encoding: gzip headers say the body was gzip'd twice, as one 'gzip, gzip'
    # does (415); read as one gzip, the event landed as three quarantined scraps, answered 200
    event = (b'{"event_id": "twice-1", "event_type": "artifact_received", '
             b'"timestamp": "2026-11-30T10:00:00Z"}\n')
    ingest = [("Authorization", f"Bearer {INGEST}")]
    body = gzip.compress(gzip.compress(event))
    for encodings in (["gzip, gzip"], ["gzip", "gzip"]):
        response = server.http.post(
            server.url + "/v1/events", content=body,
            headers=ingest + [("Content-Type", "application/x-ndjson")]
            + [("Content-Encoding", e) for e in encodings])
        assert response.status_code == 415
        assert response.json() == {"detail": "content encoding 'gzip, gzip' is not accepted; "
                                             "use gzip or none"}
    response = server.http.post(server.url + "/v1/events", content=event,
                                headers=ingest + [("Content-Type", "application/x-ndjson"),
                                                  ("Content-Type", "application/xml")])
    assert response.status_code == 415
    assert response.json()["detail"].startswith(
        "content type 'application/x-ndjson, application/xml' is not accepted")
    # the first with parameters: its charset was read as 'utf-8, application/json' (415 naming
    # that for a body beyond ASCII, 200 for one in ASCII), now the list is named as above
    for first, body in (("application/json; charset=utf-8", event.replace(b"1", "é".encode())),
                        ('application/json; charset="iso-8859-1"', event)):
        response = server.http.post(server.url + "/v1/events", content=body,
                                    headers=ingest + [("Content-Type", first),
                                                      ("Content-Type", "application/json")])
        assert response.status_code == 415
        assert response.json() == {"detail": f"content type '{first}, application/json' is not "
                                             "accepted; send JSON Lines (application/x-ndjson) "
                                             "or a JSON array (application/json)"}
    events = server.http.get(server.url + "/api/v1/events", headers=bearer(STAFF)).json()
    assert "twice-1" not in [row["event_id"] for row in events["rows"]]


def test_a_value_sent_as_a_token_in_the_url_is_kept_out_of_the_log_configured_or_not(server):
    # a rotated-out or mistyped token is a secret too: the value of ?token= (and the like) is
    # hidden whatever it is; other parameters are logged as sent
    old = "rotated-token-9876543210fedcba"
    for query in (f"token={old}", f"limit=5&access_token={old}&org=org-1", f"API_KEY={old}"):
        response = server.http.get(server.url + "/api/v1/events?" + query)
        assert response.status_code == 401
    log = server.log.read_text()
    assert old not in log
    assert '"GET /api/v1/events?token=[token hidden] HTTP/1.1" 401' in log
    assert ('"GET /api/v1/events?limit=5&access_token=[token hidden]&org=org-1 HTTP/1.1" 401'
            in log)
    assert '"GET /api/v1/events?API_KEY=[token hidden] HTTP/1.1" 401' in log


def test_a_lake_gone_under_the_server_is_503_everywhere_and_never_made_again(tmp_path):
    # /metrics made state/counters.sqlite where the lake had been (an unmounted disk's mount
    # point), freshness said 200 "nothing landed, all stale", a chart answered empty
    lake, away = tmp_path / "lake", tmp_path / "away"
    with ServerProcess(lake) as running, client() as http:
        staff = bearer(STAFF)
        assert http.get(running.url + "/metrics", headers=staff).status_code == 200
        lake.rename(away)
        for path in ("/metrics", "/api/v1/freshness", "/api/v1/charts/throughput",
                     "/api/v1/metrics/realtime"):
            response = http.get(running.url + path, headers=staff)
            assert response.status_code == 503, path
            assert response.headers["retry-after"] == "1"
            assert response.json()["detail"].startswith("the server's lake is missing")
            assert str(tmp_path) not in response.text  # where it is is in the server's log
            assert not lake.exists(), path
        away.rename(lake)
        for path in ("/metrics", "/api/v1/freshness", "/api/v1/charts/throughput"):
            assert http.get(running.url + path, headers=staff).status_code == 200


@pytest.mark.parametrize(("host", "origin", "status"), [
    ("dash.example:80", "http://dash.example", 303),  # a proxy that names the default port
    ("Dash.Example", "http://dash.example", 303),  # host names are case-blind
    ("dash.example", "http://dash.example:80", 303),
    ("dash.example:80", "http://dash.example:8080", 403),  # another port is another site
    ("dash.example", "http://evil.example", 403),
    ("dash.example:x", "http://dash.example", 403),  # no origin at all
])
def test_sign_in_compares_origins_as_browsers_do(server, host, origin, status):
    with client() as browser:
        response = browser.post(server.url + "/login", data={"token": STAFF},
                                headers={"Host": host, "Origin": origin}, follow_redirects=False)
    assert response.status_code == status
    if status == 403:
        assert response.json()["detail"].startswith("cross-site sign-in refused")


def test_behind_a_tls_proxy_that_names_port_443_the_page_signs_in(server):
    # the proxy (trusted: 127.0.0.1) sends X-Forwarded-Proto and Host with the default port
    with client() as browser:
        response = browser.post(server.url + "/login", data={"token": STAFF},
                                headers={"Host": "dash.example:443", "X-Forwarded-Proto": "https",
                                         "Origin": "https://dash.example"},
                                follow_redirects=False)
    assert response.status_code == 303
    assert "; secure" in response.headers["set-cookie"].lower()


def _raw(server, request: bytes) -> bytes:
    """Send `request` on a new connection, end the sending side, and read the whole answer."""
    import socket

    with socket.create_connection(("127.0.0.1", server.port), timeout=120) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_a_batch_without_a_content_length_is_411_never_200_with_nothing_read(server):
    # an HTTP/1.0 client that sends its batch with no Content-Length: the server reads no body
    # from such a request (RFC 9112 6.3) and answered 200 '"accepted": 0', the events unread
    record = json.dumps({"event_id": "no-length-1", "event_type": "artifact_received",
                         "timestamp": "2026-02-16T14:00:00Z"}).encode() + b"\n"
    head = (b"POST /v1/events HTTP/1.0\r\nAuthorization: Bearer " + INGEST.encode()
            + b"\r\nContent-Type: application/x-ndjson\r\n")
    answer = _raw(server, head + b"\r\n" + record)
    assert answer.startswith(b"HTTP/1.1 411 Length Required\r\n")
    body = answer.split(b"\r\n\r\n", 1)[1]
    assert json.loads(body) == {"detail": "the request has no Content-Length (nor "
                                          "Transfer-Encoding: chunked), so the server reads no "
                                          "body from it: nothing was landed; send the batch "
                                          "with its Content-Length"}
    def landed() -> list[str]:
        rows = server.http.get(server.url + "/api/v1/events", headers=bearer(STAFF), params={
            "start": "2026-02-16T14:00:00Z", "end": "2026-02-16T14:00:01Z"}).json()["rows"]
        return [row["event_id"] for row in rows]

    assert landed() == []
    # with its length the same request lands (an empty one too: Content-Length: 0)
    answer = _raw(server, head + b"Content-Length: %d\r\n\r\n" % len(record) + record)
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1]) == {"accepted": 1, "duplicates": 0,
                                                           "quarantined": 0}
    assert landed() == ["no-length-1"]
    answer = _raw(server, head + b"Content-Length: 0\r\n\r\n")
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1]) == {"accepted": 0, "duplicates": 0,
                                                           "quarantined": 0}


def test_a_transfer_coding_other_than_chunked_is_501_never_landed_as_garbage(server):
    # the HTTP parser undoes chunked only: 'Transfer-Encoding: gzip, chunked' handed the app
    # the gzip'd bytes, quarantined as two records of garbage under a 200
    record = json.dumps({"event_id": "te-gzip-1", "event_type": "artifact_received",
                         "timestamp": "2026-02-16T15:00:00Z"}).encode() + b"\n"
    head = (b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
            + INGEST.encode() + b"\r\nContent-Type: application/x-ndjson\r\n")

    def chunked(body: bytes) -> bytes:
        return b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"

    def quarantined() -> str:
        text = server.http.get(server.url + "/metrics", headers=bearer(STAFF)).text
        return next(line for line in text.splitlines()
                    if line.startswith("voice_monitor_collector_events_quarantined_total "))

    before = quarantined()
    answer = _raw(server, head + b"Transfer-Encoding: gzip, chunked\r\n\r\n"
                  + chunked(gzip.compress(record)))
    assert answer.startswith(b"HTTP/1.1 501 Not Implemented\r\n")
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1]) == {
        "detail": "transfer coding 'gzip, chunked' is not implemented; send Transfer-Encoding: "
                  "chunked alone (or a Content-Length), and a gzip'd body with "
                  "Content-Encoding: gzip"}
    # chunked alone, the gzip as its content coding: landed
    answer = _raw(server, head + b"Transfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n"
                  b"Connection: close\r\n\r\n" + chunked(gzip.compress(record)))
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1]) == {"accepted": 1, "duplicates": 0,
                                                           "quarantined": 0}
    assert quarantined() == before


def test_a_gzip_body_padded_with_zero_bytes_lands_and_other_trailing_bytes_are_named(server):
    # a block-padded gzip (zeros after the last member, as tape and some stream writers leave)
    # was 400 'not valid gzip' though `gzip -d` and Python's gzip.decompress take it
    at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat().replace("+00:00", "Z")

    def record(event_id: str) -> bytes:
        return json.dumps({"event_id": event_id, "event_type": "artifact_received",
                           "timestamp": at}).encode() + b"\n"

    headers = {**bearer(INGEST), "Content-Type": "application/x-ndjson",
               "Content-Encoding": "gzip"}
    one, two = gzip.compress(record("pad-1")), gzip.compress(record("pad-2"))
    for body, accepted, duplicates in (
            (one + b"\0" * 512, 1, 0),  # padded to a block
            (one + b"\0", 1, 1),  # one zero byte; pad-1 again: a duplicate
            (two + b"\0" * 7 + gzip.compress(record("pad-3")), 2, 0)):  # between members
        response = server.http.post(server.url + "/v1/events", content=body, headers=headers)
        assert (response.status_code, response.json()) == (
            200, {"accepted": accepted, "duplicates": duplicates, "quarantined": 0})
    # anything else after the stream is refused, named, nothing landed (`gzip -d` drops it)
    for tail, shown in ((b"\0\0xyz", "3 bytes that are not gzip, from byte %d (b'xyz')"),
                        (b"garbage" * 4, "28 bytes that are not gzip, from byte %d "
                                         "(b'garbagegarbagega'…)")):
        body = gzip.compress(record("tail-1")) + tail
        response = server.http.post(server.url + "/v1/events", content=body, headers=headers)
        start = len(body) - len(tail.lstrip(b"\0"))
        assert (response.status_code, response.json()) == (400, {
            "detail": "the gzip body is followed by " + shown % start + "; send the compressed "
                      "stream alone (zero bytes of padding after it are ignored)"})
    response = server.http.post(server.url + "/v1/events", content=record("tail-1"),
                                headers={**headers, "Content-Encoding": "identity"})
    assert response.json() == {"accepted": 1, "duplicates": 0, "quarantined": 0}


def test_a_gzip_body_without_its_content_encoding_or_gzipped_twice_is_400_not_quarantined(
        server):
    # `ingest` refuses a gzip file; posted without 'Content-Encoding: gzip' (the header
    # forgotten after `gzip -c`), or gzip'd twice, it was one record of garbage, quarantined,
    # and the batch answered 200
    at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    record = json.dumps({"event_id": "gz-twice-1", "event_type": "artifact_received",
                         "timestamp": at}).encode() + b"\n"
    headers = {**bearer(INGEST), "Content-Type": "application/x-ndjson"}
    for body, encoding, detail in (
            (gzip.compress(record), {},
             "the body is gzip-compressed but was sent without 'Content-Encoding: gzip'; "
             "nothing of it was landed; send it with that header (curl -H 'Content-Encoding: "
             "gzip'), or uncompressed"),
            (gzip.compress(gzip.compress(record)), {"Content-Encoding": "gzip"},
             "the body is gzip-compressed twice (it decompresses to gzip); nothing of it was "
             "landed; compress it once")):
        response = server.http.post(server.url + "/v1/events", content=body,
                                    headers={**headers, **encoding})
        assert (response.status_code, response.json()) == (400, {"detail": detail})
    # nothing of either landed: the event is new, nothing quarantined
    response = server.http.post(server.url + "/v1/events", content=gzip.compress(record),
                                headers={**headers, "Content-Encoding": "gzip"})
    assert response.json() == {"accepted": 1, "duplicates": 0, "quarantined": 0}


def test_a_serve_that_parsed_statements_ends_without_nanobind_leaking_them(tmp_path):
    """A serve whose landings had parsed a statement through statements._PARSED (a batch of
    records the Arrow checks doubt: bad times, metadata, a bidi mark) ended its SIGTERM with
    'nanobind: leaked 1 instances! - leaked instance … of type "_duckdb.Statement"' and a dozen
    lines more on stderr: the cache outlived DuckDB's module at interpreter exit."""
    now = datetime(2026, 2, 16, 14, 0, tzinfo=UTC)
    lines = []
    for i in range(300):
        record = {"event_id": f"e{i}", "timestamp": (now - timedelta(seconds=i)).isoformat(),
                  "event_type": "artifact_received",
                  "artifact_id": f"a{i % 50}", "organization_id": "org-a",
                  "pipeline_stage": "ingestion", "duration_ms": i,
                  "metadata": {"k": "v" * (i % 7), "n": i}}
        if i % 13 == 0:
            record["timestamp"] = "not a time"
        if i % 17 == 0:
            record["error_message"] = "bad\u202e"
        lines.append(json.dumps(record))
    log = tmp_path / "server.log"
    with ServerProcess(tmp_path / "lake", log=log) as running, client() as http:
        response = http.post(running.url + "/v1/events", content="\n".join(lines),
                             headers={**bearer(INGEST), "content-type": "application/x-ndjson"})
        # 300 sent; i % 13 == 0 (0, 13, ..., 299: 24 of them) have no time and are quarantined
        assert response.json() == {"accepted": 276, "duplicates": 0, "quarantined": 24}
    assert running.proc.returncode == 0
    out = log.read_text()
    assert "Finished server process" in out
    assert "leaked" not in out, out
