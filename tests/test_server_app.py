"""The server app in-process (FastAPI's TestClient): auth, sessions, the collector's edges, the API.

Expected values are worked out from the few literal events each test lands.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import json
import os
import shutil
from datetime import UTC, datetime, timedelta

import click
import pytest
from conftest import NOW, event, run_main, ts
from fastapi.testclient import TestClient
from fsspec.spec import AbstractFileSystem

from voice_monitor import storage
from voice_monitor.health.alerts import run_checks
from voice_monitor.lake import Lake
from voice_monitor.landing import land_records
from voice_monitor.rollups import run_hourly
from voice_monitor.server import auth, create_app
from voice_monitor.server.auth import SESSION_COOKIE, TokenConfigError, end_session, load_tokens
from voice_monitor.server.group_commit import Collector

INGEST, STAFF = "ingest-0123456789abcdef", "staff-0123456789abcdef"
BASE = "http://testserver"


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def app(lake):
    return create_app(lake, ingest_tokens=[INGEST], staff_tokens=[STAFF], max_body_bytes=4096)


@pytest.fixture
def http(app):
    with TestClient(app, base_url=BASE) as client:
        yield client


# -- tokens ----------------------------------------------------------------------------------
def test_tokens_from_environment_and_file(tmp_path):
    path = tmp_path / "tokens"
    path.write_text("# who may do what\n\ningest producer-token-0123456789 billing\n"
                    "staff  alice-token-0123456789abc  alice\n")
    tokens = load_tokens({"VOICE_MONITOR_STAFF_TOKENS": " env-staff-0123456789ab , "}, path)
    assert [name for _, name in tokens.staff] == ["staff-token-1", "alice"]
    assert tokens.actor("alice-token-0123456789abc").name == "alice"
    assert tokens.actor("producer-token-0123456789").roles == {"ingest"}
    assert tokens.actor("alice-token-0123456789ab") is None  # a prefix is not the token


@pytest.mark.parametrize("line, said", [
    ("admin other-token-0123456789", "got a line starting 'admin'"),
    ("INGEST other-token-0123456789", "got a line starting 'INGEST'"),
    ("ingest other-token-0123456789 a b", "got a line starting 'ingest'"),
    # 'ingest=TOKEN', a token alone (its role left out), 'ingest:TOKEN': 20 characters of the
    # line were printed, most of the token, to a log that must never hold one
    ("ingest=other-token-0123456789", "got a line starting a word that is no role (not shown: "
                                      "it may hold a token)"),
    ("other-token-0123456789", "got a line starting a word that is no role (not shown: it may "
                               "hold a token)"),
    ("ingest:othertokenabcdefghij billing", "got a line starting a word that is no role (not "
                                            "shown: it may hold a token)"),
    ("othertokenabcdefghijklmno billing", "got a line starting a word that is no role (not "
                                          "shown: it may hold a token)"),
])
def test_a_bad_tokens_file_line_names_its_first_word_only_if_it_cannot_hold_a_token(
        tmp_path, line, said):
    path = tmp_path / "tokens"
    path.write_text(f"ingest good-token-0123456789\n{line}\n")
    with pytest.raises(TokenConfigError) as raised:
        load_tokens({}, path)
    assert str(raised.value) == (f"tokens file {str(path)!r} line 2: expected 'ingest TOKEN "
                                 f"[NAME]' or 'staff TOKEN [NAME]', {said}")
    assert "other-token" not in str(raised.value) and "othertoken" not in str(raised.value)


SENDABLE_FIX = ("holds a character an HTTP header cannot carry (a tab or another control "
                "character, or one that is not ASCII), so no client could send it; use printable "
                "ASCII, e.g. from 'python -c \"import secrets; print(secrets.token_urlsafe())\"'")


def test_a_token_no_http_header_can_carry_is_refused_naming_where_it_is(tmp_path):
    # 'sécret-…' was taken ("1 ingest token"), yet sent as UTF-8 it was 401 and the Producer
    # refuses it: a configuration no client could use, started without a word
    env = {"VOICE_MONITOR_STAFF_TOKENS": "good-staff-0123456789ab, s\u00e9cret-0123456789abcdef"}
    with pytest.raises(TokenConfigError) as raised:
        load_tokens(env)
    assert str(raised.value) == ("a staff token (entry 2 of VOICE_MONITOR_STAFF_TOKENS) "
                                 + SENDABLE_FIX)
    with pytest.raises(TokenConfigError) as raised:
        load_tokens({"VOICE_MONITOR_INGEST_TOKENS": "secret\tbehind-a-tab-0123"})
    assert str(raised.value) == ("an ingest token (entry 1 of VOICE_MONITOR_INGEST_TOKENS) "
                                 + SENDABLE_FIX)
    path = tmp_path / "tokens"
    path.write_text("ingest good-token-0123456789\ningest \u00fcber-token-0123456789 billing\n",
                    encoding="utf-8")
    with pytest.raises(TokenConfigError) as raised:
        load_tokens({}, path)
    assert str(raised.value) == (f"an ingest token (tokens file {str(path)!r} line 2) "
                                 + SENDABLE_FIX)
    assert "\u00fcber" not in str(raised.value) and "ber-token" not in str(raised.value)
    # a space is carried (curl -H 'Authorization: Bearer a b'), as the Producer takes it
    assert load_tokens({"VOICE_MONITOR_STAFF_TOKENS": "with a space 0123456789"}).configured


def test_a_tokens_file_saved_with_a_byte_order_mark_and_crlf_loads(tmp_path):
    # a Windows editor's BOM once made line 1 "got a line starting '\ufeffingest'"
    path = tmp_path / "tokens"
    path.write_bytes(b"\xef\xbb\xbfingest producer-token-0123456789 billing\r\n"
                     b"staff alice-token-0123456789abc alice\r\n")
    tokens = load_tokens({}, path)
    assert tokens.actor("producer-token-0123456789").name == "billing"
    assert tokens.actor("alice-token-0123456789abc").roles == {"staff"}


def test_a_bad_tokens_file_line_is_named(tmp_path):
    path = tmp_path / "tokens"
    path.write_text("ingest good-token-0123456789\nadmin other-token-0123456789\n")
    with pytest.raises(TokenConfigError, match=r"line 2: expected 'ingest TOKEN \[NAME\]'"):
        load_tokens({}, path)
    with pytest.raises(TokenConfigError, match="a staff token is 5 characters long"):
        load_tokens({"VOICE_MONITOR_STAFF_TOKENS": "short"})
    with pytest.raises(TokenConfigError, match="^an ingest token is 3 characters long"):
        load_tokens({"VOICE_MONITOR_INGEST_TOKENS": "abc"})


def test_create_app_refuses_to_run_open_unless_asked(lake):
    with pytest.raises(TokenConfigError, match="no tokens given"):
        create_app(lake)


# -- browser sessions ------------------------------------------------------------------------
def test_sign_in_sets_a_strict_http_only_cookie_that_reads_the_api(http):
    response = http.post("/login", data={"token": STAFF}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(SESSION_COOKIE + "=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert STAFF not in cookie  # the cookie names the token by a one-way fingerprint only
    assert http.get("/api/v1/alerts").status_code == 200
    assert http.get("/").status_code == 200


@pytest.mark.parametrize("token", ["", "nope-0123456789abcdef", INGEST])
def test_sign_in_needs_a_staff_token(http, token):
    response = http.post("/login", data={"token": token}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?error=invalid"
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    assert http.get("/api/v1/alerts").status_code == 401


@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"},
                                     {"Referer": "https://evil.example/page"}, {"Origin": "null"}])
def test_sign_in_from_another_site_is_refused(http, headers):
    # login CSRF: another site must not sign a browser in under the attacker's staff token
    response = http.post("/login", data={"token": STAFF}, headers=headers, follow_redirects=False)
    assert response.status_code == 403
    assert response.json()["detail"] == "cross-site sign-in refused"
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    assert http.get("/api/v1/alerts").status_code == 401
    # from this server's own form (or a script, which sends no Origin) it signs in
    same = http.post("/login", data={"token": STAFF}, headers={"Origin": BASE},
                     follow_redirects=False)
    assert same.status_code == 303 and same.headers["location"] == "/"


def test_sign_out_ends_the_session(http):
    http.post("/login", data={"token": STAFF})
    response = http.post("/logout", headers={"Origin": BASE}, follow_redirects=False)
    assert response.status_code == 303
    http.cookies.clear()  # the browser drops the cookie the response expired
    assert http.get("/", follow_redirects=False).headers["location"] == "/login"


def _ended(lake: Lake) -> list[str]:
    folder = lake.state_dir / "sessions_ended"
    if lake.remote:
        return storage.find(folder)
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("store", ["local", "object store"])
def test_a_sign_out_on_one_process_ends_the_session_on_another(tmp_path, store):
    # two server processes (serve --workers 2, or two hosts) on one lake, local or s3://
    root = (tmp_path / "lake" if store == "local"
            else f"memory://sign-out-{os.getpid()}-{tmp_path.name}/lake")
    one, two = (create_app(root, staff_tokens=[STAFF]) for _ in range(2))
    with TestClient(one, base_url=BASE) as first, TestClient(two, base_url=BASE) as second:
        first.post("/login", data={"token": STAFF})
        cookie = first.cookies[SESSION_COOKIE]
        second.cookies.set(SESSION_COOKIE, cookie)
        assert second.post("/logout", headers={"Origin": BASE},
                           follow_redirects=False).status_code == 303
        assert first.get("/api/v1/alerts").status_code == 401  # the copy on the other process
    assert len(_ended(one.state.lake)) == 1


def test_a_session_cookie_on_the_collector_and_metrics_is_looked_up_off_the_event_loop(
        lake, http, monkeypatch):
    # POST /v1/events and GET /metrics check their caller on the event loop (no thread hop
    # for a bearer token); a session cookie's sign-out record was read there too: on an object
    # store a GET that held up every other request. Now it is read on a worker thread, and a
    # signed-out cookie is refused there as everywhere
    seen: list[bool] = []
    real = auth._signed_out

    def recording(*args):
        try:
            asyncio.get_running_loop()
            seen.append(True)  # on the event loop
        except RuntimeError:
            seen.append(False)
        return real(*args)

    monkeypatch.setattr(auth, "_signed_out", recording)
    http.post("/login", data={"token": STAFF}, headers={"Origin": BASE}, follow_redirects=False)
    cookie = http.cookies[SESSION_COOKIE]
    assert http.get("/metrics").status_code == 200
    refused = http.post("/v1/events", content=_lines(event("artifact_received", NOW)),
                        headers={"Origin": BASE})
    assert refused.status_code == 401  # a staff session is no producer (contract §12)
    assert refused.json()["detail"].startswith("a valid ingest token is required")
    assert http.post("/logout", headers={"Origin": BASE}, follow_redirects=False).status_code == 303
    http.cookies.set(SESSION_COOKIE, cookie)  # a copy kept after the sign-out
    assert http.get("/metrics").status_code == 401
    assert http.post("/v1/events", content=_lines(event("artifact_received", NOW)),
                     headers={"Origin": BASE}).status_code == 401
    assert seen == [False, False, False, False]


def test_a_store_that_does_not_answer_never_lets_a_signed_out_cookie_in(tmp_path, monkeypatch,
                                                                         caplog):
    # fsspec's isfile answers False for any failure: a store timing out made a signed-out
    # (stolen) cookie sign in again; now that request is 503, the fault in the server's log
    # (the store's own words may name a bucket or key: not for the client)
    app = create_app(f"memory://unanswered-{os.getpid()}-{tmp_path.name}/lake",
                     staff_tokens=[STAFF])
    fs = app.state.lake.root.fs
    with TestClient(app, base_url=BASE) as browser:
        browser.post("/login", data={"token": STAFF}, headers={"Origin": BASE})
        cookie = browser.cookies[SESSION_COOKIE]
        assert browser.post("/logout", headers={"Origin": BASE},
                            follow_redirects=False).status_code == 303
        browser.cookies.set(SESSION_COOKIE, cookie)  # the copy a thief kept
        assert browser.get("/api/v1/alerts").status_code == 401

        def timing_out(real):
            def call(path, *args, **kwargs):
                if "sessions_ended" in str(path):  # the rest of the lake answers
                    raise TimeoutError("read timed out")
                return real(path, *args, **kwargs)
            return call

        for name in ("cat_file", "info"):  # what a GET and isfile's HEAD use
            monkeypatch.setattr(fs, name, timing_out(getattr(fs, name)))
        # memory:// looks isfile up in a dict; s3fs's, as fsspec's own, is info() in a
        # try/except that answers False for any exception
        monkeypatch.setattr(fs, "isfile", functools.partial(AbstractFileSystem.isfile, fs))
        response = browser.get("/api/v1/alerts")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"  # as every 503 for a store away a moment
    assert response.json()["detail"] == ("cannot tell whether this session was signed out: the "
                                         "lake's store did not answer (the server's log says "
                                         "why); try again")
    lake = f"memory://unanswered-{os.getpid()}-{tmp_path.name}/lake"
    assert ("voice-monitor: cannot tell whether a session was signed out: the store of the lake "
            f"at {lake} did not answer reading {lake}/state/sessions_ended/") in caplog.text
    assert caplog.text.count(": read timed out\n") == 1


def test_a_sign_out_the_lake_cannot_record_still_signs_this_browser_out(lake, http):
    # a person leaving a shared machine while the lake is away a moment (an unmounted disk):
    # the sign-out cannot be recorded, but this browser must not stay signed in
    before = datetime.now(UTC).replace(second=0, microsecond=0)
    http.post("/login", data={"token": STAFF}, headers={"Origin": BASE})
    after = datetime.now(UTC)
    shutil.rmtree(lake.root)
    response = http.post("/logout", headers={"Origin": BASE}, follow_redirects=False)
    assert response.status_code == 503
    assert response.headers["set-cookie"].startswith(f'{SESSION_COOKIE}=""; ')
    assert "Max-Age=0" in response.headers["set-cookie"]
    detail = response.json()["detail"]
    assert detail.startswith("signed out of this browser, but the sign-out could not be "
                             "recorded in the lake (the server's lake is missing (unmounted, "
                             "moved or deleted? the server's log says where)): ")
    assert str(lake.root) not in detail  # where the lake is: in the server's log only
    # the cookie was signed at login and lives 12 hours: the answer names when, to the minute
    head, _, expires = detail.rpartition(" until it expires at ")
    assert head.endswith("a copy of this browser's cookie still signs in")
    moment = datetime.strptime(expires, "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)
    assert before + timedelta(hours=12) <= moment <= after + timedelta(hours=12)


def test_a_sign_out_that_fails_otherwise_answers_500_without_the_servers_error(
        lake, http, monkeypatch, caplog):
    # any other failure to record it (here a folder the server may not write to): the person
    # is signed out of this browser and told so, the path and the OS's error go to the log
    http.post("/login", data={"token": STAFF}, headers={"Origin": BASE})
    folder = f"{lake.root}/state/sessions_ended"

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied", folder)

    monkeypatch.setattr(auth, "end_session", refused)
    response = http.post("/logout", headers={"Origin": BASE}, follow_redirects=False)
    assert response.status_code == 500
    assert response.headers["set-cookie"].startswith(f'{SESSION_COOKIE}=""; ')
    detail = response.json()["detail"]
    assert detail.startswith("signed out of this browser, but the sign-out could not be recorded "
                             "in the lake (the server failed to write it; its log says why): ")
    assert str(lake.root) not in detail and "Permission denied" not in detail
    assert f"sign-out not recorded: [Errno 13] Permission denied: '{folder}'" in caplog.text


@pytest.mark.parametrize("store", ["local", "object store"])
def test_a_sign_out_is_forgotten_once_its_cookie_has_expired(tmp_path, store):
    # docs/server.md: a record is forgotten once its cookie would have expired anyway, on an
    # object store too (it was kept there for ever); records are kept by the UTC hour in which
    # the cookie expires and go an hour after that hour ends (clocks of hosts differ)
    root = (tmp_path / "lake" if store == "local"
            else f"memory://forget-{os.getpid()}-{tmp_path.name}/lake")
    lake = Lake.create(root)
    a, b, c = "a" * 32, "b" * 32, "c" * 32
    day = datetime(2026, 2, 16, tzinfo=UTC)
    end_session(lake, a, expires=day.replace(hour=3, minute=20), now=day - timedelta(hours=8))
    # 04:59: a's cookie expired at 03:20, but its hour (03:00-04:00) has had less than its hour
    # of grace
    end_session(lake, b, expires=day.replace(hour=16, minute=59), now=day.replace(hour=4, minute=59))
    assert _ended(lake) == [f"2026-02-16T03/{a}", f"2026-02-16T16/{b}"]
    # 05:00: 03:00-04:00 plus an hour has passed: a's record goes, b's (16:59) stays
    end_session(lake, c, expires=day.replace(hour=17), now=day.replace(hour=5))
    assert _ended(lake) == [f"2026-02-16T16/{b}", f"2026-02-16T17/{c}"]


def test_a_forged_or_stale_cookie_is_no_session(lake, http):
    http.cookies.set(SESSION_COOKIE, "eyJ0IjoiYWJjIn0.forged.signature")
    assert http.get("/api/v1/alerts").status_code == 401
    # a session signed under other staff tokens (they were rotated) is void
    other = create_app(lake, staff_tokens=["rotated-0123456789abcdef"])
    with TestClient(other, base_url=BASE) as rotated:
        rotated.post("/login", data={"token": "rotated-0123456789abcdef"})
        http.cookies.set(SESSION_COOKIE, rotated.cookies[SESSION_COOKIE])
    assert http.get("/api/v1/alerts").status_code == 401


def _alert(lake) -> str:
    land_records(lake, [event("circuit_breaker_opened", NOW - timedelta(minutes=5)),
                        event("artifact_received", NOW - timedelta(minutes=5))], now=NOW)
    report = run_checks(lake, NOW)
    assert [a.alert_type for a in report.raised] == ["circuit_breaker_open"]
    return report.raised[0].alert_id


def test_acknowledge_from_a_session_needs_this_origin(lake, http):
    alert_id = _alert(lake)
    http.post("/login", data={"token": STAFF})
    url = f"/api/v1/alerts/{alert_id}/ack"
    assert http.post(url, json={"by": "mallory"}).status_code == 403  # no Origin, no Referer
    assert http.post(url, json={"by": "mallory"},
                     headers={"Origin": "https://evil.example"}).status_code == 403
    assert http.post(url, json={"by": "eve"},
                     headers={"Referer": "https://evil.example/x"}).status_code == 403
    response = http.post(url, json={"by": "alice", "note": "on it"}, headers={"Origin": BASE})
    assert response.status_code == 200
    assert (response.json()["acknowledged_by"], response.json()["acknowledged_note"]) == ("alice", "on it")


def test_acknowledge_with_a_bearer_token_defaults_to_the_token_name(lake, http):
    alert_id = _alert(lake)
    response = http.post(f"/api/v1/alerts/{alert_id}/ack", headers=bearer(STAFF))
    assert response.status_code == 200
    assert response.json()["acknowledged_by"] == "staff-token-1"
    history = http.get("/api/v1/alerts/history", headers=bearer(STAFF)).json()
    assert [a["acknowledged_by"] for a in history["alerts"]] == ["staff-token-1"]
    again = http.post(f"/api/v1/alerts/{alert_id}/ack", json={"by": "mallory"},
                      headers=bearer(STAFF))
    assert again.status_code == 409  # the first acknowledgement is kept, and named
    assert again.json()["detail"].startswith(
        f"alert {alert_id} is already acknowledged by staff-token-1 at ")
    assert again.json()["alert"]["acknowledged_by"] == "staff-token-1"
    history = http.get("/api/v1/alerts/history", headers=bearer(STAFF)).json()
    assert [a["acknowledged_by"] for a in history["alerts"]] == ["staff-token-1"]
    missing = http.post("/api/v1/alerts/al-0000000000000000/ack", headers=bearer(STAFF))
    assert missing.status_code == 404
    assert "al-0000000000000000" in missing.json()["detail"]


def test_an_acknowledgement_body_over_its_cap_is_413_naming_it(lake, http):
    # the body was read whole, however large; now 32 KiB at most, which the longest
    # acknowledgement allowed fits however it is written (below)
    alert_id = _alert(lake)
    url, staff = f"/api/v1/alerts/{alert_id}/ack", bearer(STAFF)
    refusal = ('the body is over 32,768 bytes; an acknowledgement is {"by": NAME, "note": TEXT} '
               "(a note of at most 2,000 characters)")
    for sent in (
        {"json": {"by": "alice", "note": "n" * 40_000}},  # declared length over the cap
        {"content": (b"x" * 4096 for _ in range(16)),  # streamed, no length declared
         "headers": {**staff, "Content-Type": "application/json"}},
        {"data": {"by": "alice", "note": "n" * 40_000}},
    ):
        response = http.post(url, **{"headers": staff, **sent})
        assert (response.status_code, response.json()["detail"]) == (413, refusal)
    # the longest allowed: a 256-character name, a 2,000-character note, each character
    # written as 12 bytes (%F0%9F%98%80 in a form, \ud83d\ude00 in ASCII JSON): ~27 KB
    longest = {"by": "\U0001F600" * 256, "note": "\U0001F600" * 2000}
    response = http.post(url, data=longest, headers=staff)
    assert response.status_code == 200
    assert (response.json()["acknowledged_by"], response.json()["acknowledged_note"]) == (
        longest["by"], longest["note"])
    as_json = json.dumps(longest).encode()  # ensure_ascii: 12 bytes a character
    assert len(as_json) == 12 * 2256 + len('{"by": "", "note": ""}')
    again = http.post(url, content=as_json, headers={**staff, "Content-Type": "application/json"})
    assert again.status_code == 409  # read and parsed: only already acknowledged


def test_an_acknowledgement_body_of_json_is_read_once_whatever_its_shape(lake, app):
    """The check for a field given twice read the JSON body again with Python's json, which
    took no body sent as application/json for a 400 ('Expecting value: line 1 column 1 (char
    0)') where it is the token's name, and 1,023 nested brackets (orjson reads them) for a 500
    (RecursionError)."""
    url = f"/api/v1/alerts/{_alert(lake)}/ack"
    as_json = {**bearer(STAFF), "Content-Type": "application/json"}
    with TestClient(app, base_url=BASE, raise_server_exceptions=False) as client:
        deep = b'{"by": "bob", "n": ' + b"[" * 1023 + b"]" * 1023 + b"}"
        response = client.post(url, content=deep, headers=as_json)
        assert (response.status_code, response.json()) == (400, {"detail": (
            'the body nests lists or objects too deeply; send {"by": "alice", "note": "..."}')})
        response = client.post(url, content=b"", headers=as_json)
        assert response.status_code == 200
        assert response.json()["acknowledged_by"] == "staff-token-1"


@pytest.mark.parametrize(("body", "sent"), [
    (b"null", "null"), (b"[]", "an array"), (b'[{"by": "bob"}]', "an array"),
    (b"17", "a number"), (b"-0.5e3", "a number"), (b'"bob"', "a string"), (b"true", "true"),
    (b"false", "false")])
def test_a_json_body_that_is_no_object_is_named_in_json_terms(lake, http, body, sent):
    """`null` was refused as "the body must be a JSON object, not NoneType": Python's name for
    it, and no word of what to send."""
    alert_id = _alert(lake)
    response = http.post(f"/api/v1/alerts/{alert_id}/ack", content=body,
                         headers={**bearer(STAFF), "Content-Type": "application/json"})
    assert (response.status_code, response.json()) == (400, {"detail": (
        f'the body must be a JSON object, not {sent}; send {{"by": "alice", "note": "..."}}, '
        "or no body to acknowledge as the token's name")})
    alert = http.get("/api/v1/alerts", headers=bearer(STAFF)).json()["alerts"][0]
    assert (alert["alert_id"], alert["acknowledged_at"]) == (alert_id, None)


@pytest.mark.parametrize(("headers", "sent"), [
    ({"Content-Type": ";;;"}, "content type ';;;', no media type,"),
    ({"Content-Type": "; charset=utf-8"}, "content type '; charset=utf-8', no media type,"),
    ({}, "a body without a content type"), ({"Content-Type": ""}, "a body without a content type"),
    ({"Content-Type": "Text/Plain; charset=utf-8"}, "content type 'text/plain'")])
def test_an_acknowledgement_body_of_another_type_is_415_naming_what_was_sent(lake, http,
                                                                             headers, sent):
    """Parameters with no media type, or no content type at all, were named "content type ''"."""
    alert_id = _alert(lake)
    response = http.post(f"/api/v1/alerts/{alert_id}/ack", content=b'{"by": "bob"}',
                         headers={**bearer(STAFF), **headers})
    assert (response.status_code, response.json()) == (415, {"detail": (
        f"{sent} is not accepted; send JSON (Content-Type: application/json) or a form")})
    alert = http.get("/api/v1/alerts", headers=bearer(STAFF)).json()["alerts"][0]
    assert (alert["alert_id"], alert["acknowledged_at"]) == (alert_id, None)


def test_acknowledge_takes_by_and_note_as_query_parameters_named_as_the_cli_options(lake, http):
    """Contract §12: query parameters named as the CLI's options (`alerts ack --by --note`);
    `?by=alice` was 400 "unknown query parameter 'by'"."""
    alert_id = _alert(lake)
    url = f"/api/v1/alerts/{alert_id}/ack"
    both = http.post(url, params={"by": "alice"}, json={"by": "bob"}, headers=bearer(STAFF))
    assert (both.status_code, both.json()["detail"]) == (
        400, "'by' is given in both the query string and the body; send it once")
    response = http.post(url, params={"by": "alice", "note": "on it"}, headers=bearer(STAFF))
    assert response.status_code == 200, response.json()
    assert (response.json()["acknowledged_by"], response.json()["acknowledged_note"]) == (
        "alice", "on it")


@pytest.mark.parametrize(("body", "said"), [
    ({"by": "alice", "note": 0}, "'note' is a number"),
    ({"by": "alice", "note": False}, "'note' is false"),
    ({"by": "alice", "note": []}, "'note' is an array"),
    ({"by": "alice", "note": {}}, "'note' is an object"),
    ({"by": "alice", "note": 0.0}, "'note' is a number"),
    ({"by": 5, "note": "on it"}, "'by' is a number"),
    ({"by": ["alice"]}, "'by' is an array"),
    ({"by": True, "note": 1}, "'by' is true"),
])
def test_a_by_or_note_that_is_not_text_is_400_naming_which_and_what(lake, http, body, said):
    """`{"note": 5}` was a 400 ("'by' and 'note' must be text") but a falsy note of another
    type (0, false, [], {}) was dropped without a word and the alert acknowledged, with no
    note: the body's fault hidden behind a 200 (docs/server.md: never ignored). The message
    named both fields whichever was wrong, what it was nowhere, and no fix."""
    alert_id = _alert(lake)
    response = http.post(f"/api/v1/alerts/{alert_id}/ack", json=body, headers=bearer(STAFF))
    assert (response.status_code, response.json()) == (400, {"detail": (
        f"{said}, not text; send it as a JSON string: "
        '{"by": "alice", "note": "..."}')})
    alert = http.get("/api/v1/alerts", headers=bearer(STAFF)).json()["alerts"][0]
    assert (alert["alert_id"], alert["acknowledged_at"]) == (alert_id, None)


# -- the collector's edges ---------------------------------------------------------------------
def _lines(*records) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def test_gzip_json_lines_are_landed(lake, http):
    body = gzip.compress(_lines(event("artifact_received", NOW), event("artifact_received", NOW))
                         + b"not json\n")
    response = http.post("/v1/events", content=body, headers={
        **bearer(INGEST), "Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.json() == {"accepted": 2, "duplicates": 0, "quarantined": 1}


def test_a_json_array_with_a_repeated_event_counts_the_copy(http):
    record = event("artifact_received", NOW)
    response = http.post("/v1/events", json=[record, record], headers=bearer(INGEST))
    assert response.json() == {"accepted": 2, "duplicates": 1, "quarantined": 0}


@pytest.mark.parametrize("array_first", [False, True])
def test_an_array_on_one_line_of_a_json_lines_body_lands_its_elements_alone(http, array_first):
    # it was quarantined whole ("record is JSON but not an object"), its events with it; as
    # the body's first line, the whole body was one raw record
    first, second, third = (event("artifact_received", NOW, event_id=f"line-{i}") for i in range(3))
    lines = [json.dumps(first), json.dumps([second, third, 17])]
    lines = lines[::-1] if array_first else lines
    body = ("\n".join(lines) + "\n[]\n" + '[{"event_id": "cut", \n').encode()
    response = http.post("/v1/events", content=body, headers={
        **bearer(INGEST), "Content-Type": "application/x-ndjson"})
    assert response.status_code == 200
    assert response.json() == {"accepted": 3, "duplicates": 0, "quarantined": 2}


def test_over_the_size_cap_is_413_sent_or_decompressed(http):
    big = b"x" * 5000  # the app's cap is 4096 bytes
    assert http.post("/v1/events", content=big, headers=bearer(INGEST)).status_code == 413
    bomb = gzip.compress(b" " * 1_000_000)  # ~1 KB on the wire, 1 MB inflated
    assert len(bomb) < 4096
    response = http.post("/v1/events", content=bomb,
                         headers={**bearer(INGEST), "Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert "4096 bytes" in response.json()["detail"]


def test_bad_gzip_and_unsupported_bodies_are_refused_clearly(http):
    response = http.post("/v1/events", content=b"not gzip",
                         headers={**bearer(INGEST), "Content-Encoding": "gzip"})
    assert response.status_code == 400
    assert "not valid gzip" in response.json()["detail"]
    response = http.post("/v1/events", data={"a": "b"}, headers=bearer(INGEST))
    assert response.status_code == 415
    assert "application/x-www-form-urlencoded" in response.json()["detail"]
    response = http.post("/v1/events", content=b"", headers={**bearer(INGEST),
                                                             "Content-Encoding": "br"})
    assert response.status_code == 415


def test_a_content_type_of_parameters_alone_is_415_and_a_blank_one_is_none(lake, http):
    """RFC 9110's Content-Type is a media type: ';;;' was taken as no content type at all. A
    blank value is what curl -H 'Content-Type;' and a Content-Type '' in requests, httpx or
    fetch send (seen on the wire): still no type, and taken."""
    body = _lines(event("artifact_received", NOW))
    for given in (";;;", "; charset=utf-8", ";application/json"):
        response = http.post("/v1/events", content=body,
                             headers={**bearer(INGEST), "Content-Type": given})
        assert (response.status_code, response.json()) == (415, {"detail": (
            f"content type {given!r} names no media type, only parameters; send JSON "
            "Lines (application/x-ndjson) or a JSON array (application/json)")}), given
    assert not list(lake.root.rglob("*.parquet"))  # nothing landed, not even in quarantine
    for blank in ("", "  "):
        response = http.post("/v1/events", content=_lines(event("artifact_received", NOW)),
                             headers={**bearer(INGEST), "Content-Type": blank})
        assert (response.status_code, response.json()) == (
            200, {"accepted": 1, "duplicates": 0, "quarantined": 0}), blank


def test_a_huge_header_value_is_quoted_cut_in_the_refusal(lake, app, http):
    """A refusal quoted the header whole: headers may be up to 1 MiB, so a 200 KB Content-Type
    was a 200 KB answer. Each value now shows its first 100 characters and '...'."""
    long = "x" * 200_000
    cut = repr("x" * 100 + "...")
    for headers, detail in (
        ({"Content-Type": long}, f"content type {cut} is not accepted; send JSON Lines "
                                 "(application/x-ndjson) or a JSON array (application/json)"),
        ({"Content-Type": ";" + long}, f"content type {repr(';' + 'x' * 99 + '...')} names no "
                                       "media type, only parameters; send JSON Lines "
                                       "(application/x-ndjson) or a JSON array (application/json)"),
        ({"Content-Encoding": long}, f"content encoding {cut} is not accepted; use gzip or none"),
        ({"Content-Type": "application/json; charset=a; charset=" + long},
         f"charset named 2 times ('a', {cut}); name one: send the batch as UTF-8 (charset=utf-8, "
         "or no charset): JSON is read as UTF-8 only"),
        ({"Content-Type": "application/json" + "".join(f"; charset=c{n}" for n in range(9))},
         "charset named 9 times ('c0', 'c1', 'c2', 'c3', 'c4', ...); name one: send the batch "
         "as UTF-8 (charset=utf-8, or no charset): JSON is read as UTF-8 only"),
    ):
        response = http.post("/v1/events", content=b"[]", headers={**bearer(INGEST), **headers})
        assert (response.status_code, response.json()) == (415, {"detail": detail})
    # a charset named whole is cut too (its body is not ASCII, so it is refused)
    response = http.post("/v1/events", content="[\"é\"]".encode(), headers={
        **bearer(INGEST), "Content-Type": "application/json; charset=latin-" + long})
    assert response.status_code == 415
    assert response.json()["detail"].startswith(f"charset {repr('latin-' + 'x' * 94 + '...')} "
                                                "is not accepted")
    # and the acknowledgement's refusal of another type
    response = http.post(f"/api/v1/alerts/{_alert(lake)}/ack", content=b"by=me",
                         headers={**bearer(STAFF), "Content-Type": "text/" + long})
    assert (response.status_code, response.json()) == (415, {"detail": (
        f"content type {repr('text/' + 'x' * 95 + '...')} is not accepted; send JSON "
        "(Content-Type: application/json) or a form")})
    assert app.state.collector.pending == 0


def test_a_body_in_another_charset_is_415_naming_it_before_anything_lands(lake, app, http):
    # the body is read as UTF-8 whatever its charset: Latin-1's é (0xe9) was quarantined as
    # "record is not valid UTF-8" and the batch answered 200, the sender never told to fix it
    record = event("artifact_received", NOW, event_id="café-1", organization_id="org-café")
    text = json.dumps(record, ensure_ascii=False) + "\n"
    for given in ("iso-8859-1", "ISO-8859-1", '"windows-1252"', "utf-16"):
        response = http.post("/v1/events", content=text.encode("latin-1"), headers={
            **bearer(INGEST), "Content-Type": f"application/x-ndjson; charset={given}"})
        assert response.status_code == 415
        assert response.json() == {"detail": f"charset {given.strip(chr(34))!r} is not accepted; "
                                             "send the batch as UTF-8 (charset=utf-8, or no "
                                             "charset): JSON is read as UTF-8 only"}
    assert not list(lake.root.rglob("*.parquet"))  # nothing landed, not even in quarantine
    for given in ("utf-8", '"UTF-8"', "utf8"):  # the same event in UTF-8: landed once
        response = http.post("/v1/events", content=text.encode(), headers={
            **bearer(INGEST), "Content-Type": f"application/json; charset={given}"})
        assert response.status_code == 200
    assert response.json() == {"accepted": 1, "duplicates": 1, "quarantined": 0}
    # all in ASCII, the body reads the same in Latin-1 and in UTF-8: landed (Java's
    # StringEntity labels its bodies ISO-8859-1), each of the three events once
    for n, given in enumerate(("iso-8859-1", "windows-1252", "latin1")):
        ascii_record = event("artifact_received", NOW, event_id=f"plain-{n}")
        response = http.post("/v1/events", content=(json.dumps(ascii_record) + "\n").encode(),
                             headers={**bearer(INGEST), "Content-Type": f"text/plain; charset={given}"})
        assert response.status_code == 200
        assert response.json() == {"accepted": 1, "duplicates": 0, "quarantined": 0}
    # a wide charset is refused even for ASCII-looking bytes (they are not UTF-16 text)
    response = http.post("/v1/events", content=(json.dumps(ascii_record) + "\n").encode(),
                         headers={**bearer(INGEST), "Content-Type": "application/json; charset=UTF-32"})
    assert response.status_code == 415
    assert app.state.collector.pending == 0  # each refused batch gave its place back


def test_a_charset_whose_ascii_is_other_text_is_415_and_one_charset_is_read(lake, app, http):
    """An all-ASCII body was taken in any charset but UTF-16/32, read as UTF-8: in UTF-7 the
    ASCII bytes '+AOk-' are an é, landed as the five characters; so were ISO-2022's escapes, and
    EBCDIC (cp037), where the bytes of `{"` are other letters altogether. And only the first
    charset parameter was read: 'charset=utf-8; charset=utf-7' was taken as UTF-8. One codec
    named twice ('utf-8; charset=utf8', Python's aliases of one codec) is one charset: it was
    refused as two."""
    record = event("artifact_received", NOW, event_id="caf+AOk--1")  # 'café-1' in UTF-7
    body = (json.dumps(record) + "\n").encode()
    assert body.isascii() and body.decode("utf-7") != body.decode()
    refused = "is not accepted; send the batch as UTF-8 (charset=utf-8, or no charset): JSON " \
              "is read as UTF-8 only"
    for given in ("utf-7", "UTF7", "unicode-1-1-utf-7", "iso-2022-jp", "hz-gb-2312", "cp037",
                  "shift_jisx0213", "base64"):
        response = http.post("/v1/events", content=body, headers={
            **bearer(INGEST), "Content-Type": f"application/x-ndjson; charset={given}"})
        assert (response.status_code, response.json()) == (
            415, {"detail": f"charset {given!r} {refused}"}), given
    for given in ("utf-8; charset=utf-7", 'UTF-8; Charset="iso-8859-1"', "utf-8; charset=ascii",
                  "x-cp1252; charset=x-cp1253"):
        response = http.post("/v1/events", content=body, headers={
            **bearer(INGEST), "Content-Type": f"application/json; charset={given}"})
        first, second = (v.split("=")[-1].strip('"') for v in given.split(";"))
        assert (response.status_code, response.json()) == (415, {"detail": (
            f"charset named 2 times ({first!r}, {second!r}); name one: send the batch as UTF-8 "
            "(charset=utf-8, or no charset): JSON is read as UTF-8 only")}), given
    assert not list(lake.root.rglob("*.parquet"))  # nothing landed, not even in quarantine
    # a charset whose ASCII is ASCII, one Python does not know, or UTF-8 named twice: taken
    for n, given in enumerate(("shift_jis", "x-cp1252", "utf-8; charset=UTF-8",
                               "utf-8; charset=utf8", '"UTF8"; charset=utf_8',
                               "latin1; charset=ISO-8859-1", "x-cp1252; charset=X-CP1252")):
        plain = event("artifact_received", NOW, event_id=f"plain+-{n}")
        response = http.post("/v1/events", content=(json.dumps(plain) + "\n").encode(),
                             headers={**bearer(INGEST),
                                      "Content-Type": f"text/plain; charset={given}"})
        assert (response.status_code, response.json()) == (
            200, {"accepted": 1, "duplicates": 0, "quarantined": 0}), given
    assert app.state.collector.pending == 0  # each refused batch gave its place back


def test_a_charset_whose_codec_cannot_read_ascii_is_415_naming_it(lake, app):
    """Python's 'undefined' codec reads nothing and 'punycode' refuses '.' of plain ASCII, each
    with a UnicodeError that is no UnicodeDecodeError: the charset check let it out, and the
    sender got a 400 quoting Python's codec ("decoding with 'undefined' codec failed") that
    neither named the charset as the fault nor said to send UTF-8."""
    plain = (json.dumps(event("artifact_received", NOW, event_id="plain-1")) + "\n").encode()
    with TestClient(app, base_url=BASE, raise_server_exceptions=False) as http:
        for given in ("undefined", "punycode"):
            response = http.post("/v1/events", content=plain, headers={
                **bearer(INGEST), "Content-Type": f"application/x-ndjson; charset={given}"})
            assert (response.status_code, response.json()) == (415, {"detail": (
                f"charset {given!r} is not accepted; send the batch as UTF-8 (charset=utf-8, "
                "or no charset): JSON is read as UTF-8 only")}), given
    assert not list(lake.root.rglob("*.parquet"))
    assert app.state.collector.pending == 0


def test_a_wide_charset_python_does_not_know_is_415_too(lake, app, http):
    """UTF-16 text all in ASCII characters is bytes all below 0x80 (a NUL beside each), so a
    charset Python does not know was taken at its word for it: IANA's ISO-10646-UCS-2, .NET
    Framework's unicodeFFFE (Encoding.BigEndianUnicode, no byte-order mark), UCS-2 and UCS-4
    spelt without a hyphen. The body was read as UTF-8, its records quarantined as not JSON,
    and the sender answered 200, never told to send UTF-8."""
    text = json.dumps(event("artifact_received", NOW, event_id="wide-1")) + "\n"
    for given, codec in (("ISO-10646-UCS-2", "utf-16-be"), ("unicodeFFFE", "utf-16-be"),
                         ("ucs2", "utf-16-le"), ("UCS4", "utf-32-le")):
        body = text.encode(codec)
        assert body.isascii()  # so only the name can tell
        response = http.post("/v1/events", content=body, headers={
            **bearer(INGEST), "Content-Type": f"application/x-ndjson; charset={given}"})
        assert (response.status_code, response.json()) == (415, {"detail": (
            f"charset {given!r} is not accepted; send the batch as UTF-8 (charset=utf-8, or no "
            "charset): JSON is read as UTF-8 only")}), given
    assert not list(lake.root.rglob("*.parquet"))  # nothing landed, not even in quarantine
    assert app.state.collector.pending == 0


def test_a_charset_python_does_not_know_is_not_kept_by_the_codec_registry(lake, http):
    """The codec registry keeps every name it missed, for good: a sender naming a new 500 KB
    charset in each batch grew a real server by 100 MB in 200 batches. A name no codec of
    Python's could have is taken as unknown without asking the registry."""
    import encodings

    for n in range(3):
        name = f"x-made-up-{n}-" + "y" * 1000
        response = http.post("/v1/events", content=b"[]", headers={
            **bearer(INGEST), "Content-Type": f"application/json; charset={name}"})
        assert (response.status_code, response.json()) == (
            200, {"accepted": 0, "duplicates": 0, "quarantined": 0})
        # (the registry keeps it as its C layer normalized it: hyphens as underscores)
        assert name.replace("-", "_") not in encodings._cache  # noqa: SLF001 - its memory is the bug
    # a name Python knows, however spelt, is still looked up: ASCII bytes are other text in these
    for name in ("utf 7", "UTF_7", "CP037", "iso-2022-JP", "csISO2022JP"):
        response = http.post("/v1/events", content=b"[]", headers={
            **bearer(INGEST), "Content-Type": f"application/json; charset={name}"})
        assert response.status_code == 415, name


def test_a_batch_of_only_bad_records_is_quarantined_and_answered_alike_in_every_type(
        lake, app, http):
    """Contract §12: a batch follows `ingest`'s rules and quarantine, and is answered with its
    counts once landed. A body whose every record is bad is no bad request: whatever type it was
    sent as (JSON Lines, a JSON array, text/plain, none), each record is quarantined with its
    reason and the answer is 200 with the count, so a sender can tell it apart from a batch the
    server did not take (4xx/5xx: send again)."""
    from voice_monitor.adhoc import run_query

    bodies = (b'{"event_type": "nope"}\nnot json\n',  # an unknown type; no JSON at all
              b'[{"event_type": "nope"}, 5]')  # the same as a JSON array: an object, a number
    for media in ("application/x-ndjson", "application/json", "text/plain", None):
        for body in bodies:
            headers = bearer(INGEST) | ({"Content-Type": media} if media else {})
            response = http.post("/v1/events", content=body, headers=headers)
            assert (response.status_code, response.json()) == (
                200, {"accepted": 0, "duplicates": 0, "quarantined": 2}), (media, body)
    assert not list((lake.root / "events").rglob("*.parquet"))
    assert run_query(lake, "select count(*) from quarantine", None).rows == [(16,)]  # 4 × 2 × 2


def test_a_gzip_body_in_another_charset_is_415_once_decompressed(lake, app, http):
    # the ASCII check read the compressed bytes as they came, so it was skipped for gzip: a
    # Latin-1 é inside was quarantined as "record is not valid UTF-8", the batch answered 200
    latin1 = {**bearer(INGEST), "Content-Type": "application/x-ndjson; charset=ISO-8859-1",
              "Content-Encoding": "gzip"}
    record = event("artifact_received", NOW, event_id="café-2")
    text = json.dumps(record, ensure_ascii=False) + "\n"
    response = http.post("/v1/events", content=gzip.compress(text.encode("latin-1")),
                         headers=latin1)
    assert response.status_code == 415
    assert response.json() == {"detail": "charset 'ISO-8859-1' is not accepted; send the batch "
                                         "as UTF-8 (charset=utf-8, or no charset): JSON is read "
                                         "as UTF-8 only"}
    assert not list(lake.root.rglob("*.parquet"))  # nothing landed, not even in quarantine
    plain = json.dumps(event("artifact_received", NOW, event_id="plain-gz")) + "\n"
    response = http.post("/v1/events", content=gzip.compress(plain.encode()), headers=latin1)
    assert response.json() == {"accepted": 1, "duplicates": 0, "quarantined": 0}
    assert app.state.collector.pending == 0 and app.state.collector.queued_bytes == 0


@pytest.mark.parametrize("given, named", [
    ({"max_body_bytes": True},
     "max_body_bytes True must be a whole number from 1 to 536870912, e.g. 16777216"),
    # 2**63 failed every gzip body with a 500 (OverflowError: zlib takes a C ssize_t)
    ({"max_body_bytes": 2**63},
     "max_body_bytes 9223372036854775808 must be a whole number from 1 to 536870912, "
     "e.g. 16777216"),
    ({"max_body_bytes": 512 * 1024 * 1024 + 1},
     "max_body_bytes 536870913 must be a whole number from 1 to 536870912, e.g. 16777216"),
    ({"queue_size": 2.5}, "queue_size 2.5 must be a whole number from 0 to 65536, e.g. 256"),
    ({"queue_size": False}, "queue_size False must be a whole number from 0 to 65536, e.g. 256"),
    ({"queue_size": 65537}, "queue_size 65537 must be a whole number from 0 to 65536, e.g. 256"),
    ({"landing_threads": True},
     "landing_threads True must be a whole number from 1 to 64, e.g. 1"),
    ({"landing_threads": 0}, "landing_threads 0 must be a whole number from 1 to 64, e.g. 1"),
    ({"landing_threads": 65}, "landing_threads 65 must be a whole number from 1 to 64, e.g. 1"),
])
def test_a_collector_limit_that_is_no_whole_number_is_named(tmp_path, given, named):
    # True is 1 to Python: max_body_bytes=True answered 413 to every batch over one byte
    with pytest.raises(ValueError, match=f"^{named}$"):
        create_app(tmp_path / "lake", no_auth=True, **given)
    assert not (tmp_path / "lake").exists()  # refused before the lake is made
    with pytest.raises(ValueError,
                       match="^threads True must be a whole number from 1 to 64, e.g. 1$"):
        Collector(Lake(tmp_path), threads=True)


def test_a_full_queue_answers_503_with_retry_after(app, http):
    collector = app.state.collector
    collector.pending = collector.capacity  # every place taken
    response = http.post("/v1/events", content=b"", headers=bearer(INGEST))
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    collector.pending = 0
    assert http.post("/v1/events", content=b"", headers=bearer(INGEST)).status_code == 200


def test_the_collectors_refusals_are_the_apps_answers(lake, app, monkeypatch):
    """POST /v1/events skips FastAPI's router (collector.Shortcut): its refusals must still be
    the answers the app's handlers give, with the headers every answer has."""
    safe = {"x-content-type-options": "nosniff", "x-frame-options": "DENY",
            "content-security-policy": "frame-ancestors 'none'", "referrer-policy": "same-origin"}
    with TestClient(app, base_url=BASE, raise_server_exceptions=False) as http:
        # a producer without a (valid) token is told what it needs: an ingest token, not a
        # sign-in at /login, whose session may not post events
        response = http.post("/v1/events", content=b"")
        assert (response.status_code, response.json()) == (401, {
            "detail": "a valid ingest token is required: send 'Authorization: Bearer "
                      "INGEST_TOKEN'"})
        response = http.post("/v1/events", content=b"", headers=bearer("wrong-0123456789abcdef"))
        assert (response.status_code, response.json()) == (401, {
            "detail": "a valid ingest token is required: send 'Authorization: Bearer "
                      "INGEST_TOKEN'"})
        assert response.headers["www-authenticate"] == "Bearer"
        assert safe.items() <= response.headers.items()
        assert "cache-control" not in response.headers  # (only /api/ and /metrics answers)
        response = http.post("/v1/events", content=b"", headers=bearer(STAFF))
        # contract §12: "401 without a valid ingest token", a staff token included
        assert (response.status_code, response.json()) == (401, {
            "detail": "a valid ingest token is required: this token (or session) may not post "
                      "events; send 'Authorization: Bearer INGEST_TOKEN'"})
        assert response.headers["www-authenticate"] == "Bearer"
        assert http.get("/v1/events", headers=bearer(INGEST)).status_code == 405  # the router's
        body = _lines(event("artifact_received", NOW))

        def broken(*args, **kwargs):
            raise ValueError("the counter store is damaged")

        monkeypatch.setattr("voice_monitor.server.group_commit.land_batches", broken)
        response = http.post("/v1/events", content=body, headers=bearer(INGEST))
        assert (response.status_code, response.json()) == (500, {  # the error: in the log
            "detail": "the batch was not landed: the server failed (its log says why); send it "
                      "again later, it is counted once"})
        assert safe.items() <= response.headers.items()

        def crashed(*args, **kwargs):
            raise RuntimeError("a bug")

        monkeypatch.setattr("voice_monitor.server.group_commit.land_batches", crashed)
        response = http.post("/v1/events", content=body, headers=bearer(INGEST))
        assert (response.status_code, response.text) == (500, "Internal Server Error")
        monkeypatch.undo()
        lake.root.rename(lake.root.with_name("moved"))  # the lake went away (unmounted...)
        response = http.post("/v1/events", content=body, headers=bearer(INGEST))
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert "the server's lake is missing" in response.json()["detail"]
        assert safe.items() <= response.headers.items()


# -- the reading API ---------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/api/v1/metrics/orgs", "/api/v1/charts/throughput"])
def test_a_lake_gone_since_a_kept_answer_is_503_not_that_answer(lake, http, path):
    """The organizations' answer is kept while the snapshots are the same; a lake with none yet
    has no folder whose change drops it, so once the lake was moved away (unmounted) the kept
    answer came back, 200 'every hour not built': a missing lake looked like an empty one."""
    assert http.get(path, headers=bearer(STAFF)).status_code == 200  # an empty lake: kept
    lake.root.rename(lake.root.with_name("moved"))
    response = http.get(path, headers=bearer(STAFF))
    assert response.status_code == 503
    assert "the server's lake is missing" in response.json()["detail"]


@pytest.fixture
def filled(lake):
    """Two artifacts in org-a: art-1 completes, art-2 fails in transcription; art-3 (org-b) is in flight."""
    at = NOW - timedelta(minutes=40)
    records = [
        event("artifact_received", at, event_id="r1", artifact_id="art-1", organization_id="org-a"),
        event("artifact_received", at, event_id="r2", artifact_id="art-2", organization_id="org-a"),
        event("artifact_received", at, event_id="r3", artifact_id="art-3", organization_id="org-b"),
        event("transcription_started", at + timedelta(minutes=1), event_id="t3",
              artifact_id="art-3", organization_id="org-b"),
        event("transcription_failed", at + timedelta(minutes=2), event_id="f2", artifact_id="art-2",
              organization_id="org-a", error_code="ASR_TIMEOUT"),
        event("artifact_failed", at + timedelta(minutes=3), event_id="x2", artifact_id="art-2",
              organization_id="org-a"),
        event("artifact_completed", at + timedelta(minutes=4), event_id="c1", artifact_id="art-1",
              organization_id="org-a", duration_ms=240000),
    ]
    land_records(lake, records, now=NOW)
    return lake


def test_realtime_counts_of_platform_and_organization(filled, http):
    platform = http.get("/api/v1/metrics/realtime", params={"now": ts(NOW)}, headers=bearer(STAFF))
    assert platform.status_code == 200
    got = platform.json()
    assert (got["artifacts_received"], got["artifacts_completed"], got["artifacts_failed"],
            got["failures"]) == (3, 1, 1, 2)  # failures: transcription_failed + artifact_failed
    assert got["window_start"] == "2026-02-16T13:31:00Z"
    org = http.get("/api/v1/metrics/realtime", params={"now": ts(NOW), "org": "org-b"},
                   headers=bearer(STAFF)).json()
    assert org["artifacts_received"] == 1
    assert org["failures"] == 0


def test_an_unknown_query_parameter_is_400_naming_it(filled, http):
    """`organization=` for `org=` was ignored: the platform's counts came back as if for one
    organization (3 received, not org-b's 1)."""
    answer = http.get("/api/v1/metrics/realtime", params={"now": ts(NOW), "organization": "org-b"},
                      headers=bearer(STAFF))
    assert answer.status_code == 400
    assert answer.json()["detail"] == ("unknown query parameter 'organization' for "
                                       "/api/v1/metrics/realtime; it takes: now, org")
    events = http.get("/api/v1/events", params={"limit": 3, "types": "artifact_failed"},
                      headers=bearer(STAFF))
    assert events.status_code == 400 and "'types'" in events.json()["detail"]
    assert "type" in events.json()["detail"].split("it takes: ")[1].split(", ")
    # without a token it is still 401 first: nothing about the API is told to a stranger
    assert http.get("/api/v1/metrics/realtime", params={"organization": "x"}).status_code == 401
    # a path parameter is not a query parameter: the timeline takes only limit and now
    timeline = http.get("/api/v1/artifacts/art-2/timeline", params={"artifact_id": "art-1"},
                        headers=bearer(STAFF))
    assert timeline.status_code == 400
    assert timeline.json()["detail"].endswith("it takes: limit, now")


def test_a_scalar_query_parameter_given_twice_is_400_naming_it(filled, http):
    """`start=` twice was taken once, silently (one of the two ranges asked for answered)."""
    answer = http.get("/api/v1/metrics/historical?start=2026-02-15T00:00:00Z"
                      "&start=2026-02-16T00:00:00Z&end=2026-02-16T12:00:00Z", headers=bearer(STAFF))
    assert answer.status_code == 400
    assert answer.json()["detail"] == (
        "query parameter 'start' is given 2 times for /api/v1/metrics/historical; it takes one "
        "value: send start= once")
    limit = http.get("/api/v1/events?limit=1&limit=2&limit=3", headers=bearer(STAFF))
    assert limit.status_code == 400 and "'limit' is given 3 times" in limit.json()["detail"]
    # `type` takes a list: each repeat is one more event type
    types = http.get("/api/v1/events?type=artifact_failed&type=artifact_completed",
                     headers=bearer(STAFF))
    assert types.status_code == 200
    assert sorted(r["event_type"] for r in types.json()["rows"]) == [
        "artifact_completed", "artifact_failed"]


def test_event_log_pages_newest_first_with_filters(filled, http):
    first = http.get("/api/v1/events", params={"limit": 3}, headers=bearer(STAFF)).json()
    assert [r["event_id"] for r in first["rows"]] == ["c1", "x2", "f2"]
    second = http.get("/api/v1/events", params={"limit": 3, "cursor": first["next_cursor"]},
                      headers=bearer(STAFF)).json()
    assert [r["event_id"] for r in second["rows"]] == ["t3", "r3", "r2"]
    errors = http.get("/api/v1/events", params={"errors_only": "true", "org": "org-a"},
                      headers=bearer(STAFF)).json()
    assert [r["event_id"] for r in errors["rows"]] == ["x2", "f2"]
    typed = http.get("/api/v1/events", params=[("type", "artifact_received"),
                                               ("type", "artifact_completed")],
                     headers=bearer(STAFF)).json()
    assert sorted(r["event_id"] for r in typed["rows"]) == ["c1", "r1", "r2", "r3"]


def test_event_log_at_a_past_now_holds_only_events_stamped_at_or_before_it(filled, http):
    """§10: a read at a past `now` sees only events stamped at or before it. The dashboard
    pinned to a moment (`?now=`) showed the newest events of the lake, hours after it."""
    at = ts(NOW - timedelta(minutes=38))  # 13:52: f2's own moment, which the page keeps

    def ids(**params) -> tuple[list[str], str | None]:
        answer = http.get("/api/v1/events", params=params, headers=bearer(STAFF))
        assert answer.status_code == 200, answer.json()
        return [r["event_id"] for r in answer.json()["rows"]], answer.json()["next_cursor"]

    # c1 13:54 and x2 13:53 are later; r1-r3 share 13:50 (event_id descending)
    assert ids(now=at)[0] == ["f2", "t3", "r3", "r2", "r1"]
    first, cursor = ids(now=at, limit=2)
    second, cursor = ids(now=at, limit=2, cursor=cursor)
    third, cursor = ids(now=at, limit=2, cursor=cursor)
    assert (first, second, third, cursor) == (["f2", "t3"], ["r3", "r2"], ["r1"], None)
    # an earlier `end` (exclusive) still bounds it: 13:51 leaves t3 out
    assert ids(now=at, end=ts(NOW - timedelta(minutes=39)))[0] == ["r3", "r2", "r1"]
    assert ids(now=at, end=ts(NOW))[0] == ["f2", "t3", "r3", "r2", "r1"]
    # a now without Z or an offset is UTC, as on the command line (docs/queries.md)
    assert ids(now="2026-02-16T13:52:00")[0] == ["f2", "t3", "r3", "r2", "r1"]
    # a start after now names now, not the end it made (13:52:00.000001, which nobody sent)
    after = http.get("/api/v1/events", params={"now": at, "start": "2026-02-16T13:53:00Z"},
                     headers=bearer(STAFF))
    assert (after.status_code, after.json()) == (400, {"detail": (
        "bad time range: start 2026-02-16T13:53:00Z is after now 2026-02-16T13:52:00.000Z, and "
        "only events stamped at or before now are read; give a start before now")})
    assert ids(now=at, start=at)[0] == ["f2"]  # start = now: the events stamped at now


def test_artifacts_timeline_failed_and_active(filled, http):
    timeline = http.get("/api/v1/artifacts/art-2/timeline", headers=bearer(STAFF)).json()
    assert [r["event_type"] for r in timeline["rows"]] == [
        "artifact_received", "transcription_failed", "artifact_failed"]
    failed = http.get("/api/v1/artifacts/failed", headers=bearer(STAFF)).json()
    assert [r["artifact_id"] for r in failed["rows"]] == ["art-2"]
    active = http.get("/api/v1/artifacts/active", params={"now": ts(NOW)},
                      headers=bearer(STAFF)).json()
    assert [(r["artifact_id"], r["current_stage"]) for r in active["rows"]] == [
        ("art-3", "transcription")]
    assert active["next_cursor"] is None


def test_timeline_at_a_past_now_holds_only_the_events_stamped_at_or_before_it(filled, http):
    """§10: a read at a past `now` sees only events stamped at or before it. The dashboard
    pinned to a moment (`?now=`) showed an artifact's whole timeline, its failure included,
    while its counters and event log ended before it."""

    def types(artifact: str, **params) -> list[str]:
        answer = http.get(f"/api/v1/artifacts/{artifact}/{params.pop('what', 'timeline')}",
                          params=params, headers=bearer(STAFF))
        assert answer.status_code == 200, answer.json()
        return [r["event_type"] for r in answer.json()["rows"]]

    # art-2: received 13:50, transcription_failed 13:52, artifact_failed 13:53
    assert types("art-2", now=ts(NOW - timedelta(minutes=38))) == [
        "artifact_received", "transcription_failed"]  # 13:52: f2's own moment is kept
    assert types("art-2", now=ts(NOW - timedelta(minutes=39))) == ["artifact_received"]
    assert types("art-2", now=ts(NOW - timedelta(minutes=41))) == []  # before it was received
    assert types("art-2", now=ts(NOW)) == [
        "artifact_received", "transcription_failed", "artifact_failed"]
    assert types("art-2", now=ts(NOW - timedelta(minutes=39)), what="retries") == []
    refused = http.get("/api/v1/artifacts/art-2/timeline", params={"now": "yesterday"},
                       headers=bearer(STAFF))
    assert refused.status_code == 400
    assert "'yesterday'" in refused.json()["detail"]


def test_failed_artifacts_take_now_as_the_cli_does(filled, http):
    """`artifacts failed --now T` reads the lake as it was at T; the API refused `now=` as an
    unknown parameter although §12 names its parameters as the CLI's options."""
    before = http.get("/api/v1/artifacts/failed", params={"now": ts(NOW - timedelta(minutes=39))},
                      headers=bearer(STAFF))
    assert before.status_code == 200
    assert before.json()["rows"] == []  # at 13:51 art-2 had not failed yet (13:52, 13:53)
    after = http.get("/api/v1/artifacts/failed", params={"now": ts(NOW)}, headers=bearer(STAFF))
    assert [r["artifact_id"] for r in after.json()["rows"]] == ["art-2"]


def test_every_reading_endpoint_takes_its_cli_commands_options(filled, http):
    """§12: "query parameters named as the CLI's options" -- each option of the reading
    command (bar --lake and --json) is taken by its endpoint, never refused as unknown."""
    from voice_monitor.cli import cli

    pairs = {"/api/v1/metrics/realtime": ("metrics", "realtime"),
             "/api/v1/metrics/historical": ("metrics", "historical"),
             "/api/v1/metrics/stages": ("metrics", "stages"),
             "/api/v1/metrics/orgs": ("metrics", "orgs"),
             "/api/v1/events": ("events", "recent"),
             "/api/v1/artifacts/art-1/timeline": ("events", "timeline"),
             "/api/v1/artifacts/failed": ("artifacts", "failed"),
             "/api/v1/artifacts/active": ("artifacts", "active"),
             "/api/v1/alerts": ("alerts", "list"),
             "/api/v1/alerts/history": ("alerts", "history")}
    values = {"now": ts(NOW), "start": ts(NOW - timedelta(hours=2)), "end": ts(NOW),
              "since": ts(NOW - timedelta(hours=2)), "limit": "5", "errors-only": "true",
              "type": "artifact_received", "stage": "transcription", "status": "active", "period": "day"}
    for path, (group, name) in pairs.items():
        command = cli.get_command(None, group).commands[name]
        for option in command.params:
            flag = option.opts[0].removeprefix("--")
            if not isinstance(option, click.Option) or flag in ("lake", "json", "cursor"):
                continue
            if path == "/api/v1/alerts/history" and flag == "type":
                value = "circuit_breaker_open"
            else:
                value = values.get(flag, "org-a")
            answer = http.get(path, params={flag.replace("-", "_"): value}, headers=bearer(STAFF))
            assert answer.status_code == 200, (path, flag, answer.json())
            # named exactly as the option (--errors-only: errors-only=), as §12 says it
            answer = http.get(path, params={flag: value}, headers=bearer(STAFF))
            assert answer.status_code == 200, (path, flag, answer.json())


def test_errors_only_is_taken_under_the_cli_options_name_too(filled, http):
    """`errors-only=true`, the CLI's `--errors-only`, was 400 "unknown query parameter"."""
    def ids(params):
        answer = http.get("/api/v1/events", params=params, headers=bearer(STAFF))
        assert answer.status_code == 200, answer.json()
        return sorted(r["event_id"] for r in answer.json()["rows"])

    assert ids({"errors-only": "true"}) == ids({"errors_only": "true"}) == ["f2", "x2"]
    assert len(ids({"errors-only": "false"})) == 7  # every event of the fixture
    both = http.get("/api/v1/events", params={"errors-only": "true", "errors_only": "true"},
                    headers=bearer(STAFF))
    assert (both.status_code, both.json()["detail"]) == (400, (
        "query parameters 'errors_only' and 'errors-only' are the same switch; send one of them"))


def test_historical_stages_and_orgs_read_the_snapshots(filled, http):
    run_hourly(filled, NOW, hour=NOW - timedelta(minutes=40))  # builds 13:00-14:00
    params = {"start": "2026-02-16T13:00:00Z", "end": "2026-02-16T14:00:00Z"}
    historical = http.get("/api/v1/metrics/historical", params=params, headers=bearer(STAFF)).json()
    assert [(r["period_start"], r["artifacts_received"], r["artifacts_failed"])
            for r in historical["rows"]] == [("2026-02-16T13:00:00Z", 3, 1)]
    assert historical["rows"][0]["overall_failure_rate"] == 0.5  # 1 failed / (1 completed + 1 failed)
    orgs = http.get("/api/v1/metrics/orgs", params=params, headers=bearer(STAFF)).json()
    assert [(r["organization_id"], r["artifacts_received"]) for r in orgs["rows"]] == [
        ("org-a", 2), ("org-b", 1)]
    stages = http.get("/api/v1/metrics/stages", params=params, headers=bearer(STAFF)).json()
    transcription = next(r for r in stages["rows"] if r["pipeline_stage"] == "transcription")
    assert (transcription["started"], transcription["failed"]) == (1, 1)


def test_org_totals_with_a_damaged_names_file_give_unknown_names_and_say_why(filled, http):
    # contract §10: a missing name is 'Unknown'; a corrupt dimensions/organizations.parquet
    # failed metrics/orgs outright (500), hiding every organization's totals for want of names
    params = {"start": "2026-02-16T13:00:00Z", "end": "2026-02-16T14:00:00Z"}
    run_hourly(filled, NOW, hour=NOW - timedelta(minutes=40))  # builds 13:00-14:00
    filled.organizations_file.parent.mkdir(parents=True, exist_ok=True)
    filled.organizations_file.write_bytes(b"not parquet at all")
    answer = http.get("/api/v1/metrics/orgs", params=params, headers=bearer(STAFF))
    assert answer.status_code == 200, answer.text
    orgs = answer.json()
    assert [(r["organization_id"], r["name"], r["artifacts_received"]) for r in orgs["rows"]] == [
        ("org-a", "Unknown", 2), ("org-b", "Unknown", 1)]
    # both commands name the lake (without --lake they would look at ./data)
    assert orgs["names_unreadable"] == (
        "dimensions/organizations.parquet cannot be read, so every name is 'Unknown'; move it "
        f"aside with: voice-monitor lake check --move-aside --lake {filled.root}, or load the "
        f"names again with: voice-monitor orgs load FILE.csv --lake {filled.root}")
    filled.organizations_file.unlink()  # no names file: no note
    assert "names_unreadable" not in http.get("/api/v1/metrics/orgs", params=params,
                                              headers=bearer(STAFF)).json()


def test_stage_and_org_totals_name_the_periods_they_leave_out(filled, http):
    """metrics/stages and metrics/orgs sum snapshot rows: an hour not built yet was left out of
    their totals with nothing in the answer saying so (the CLI prints a note, Python warns), so
    a script reading the last hours got totals silently short. "not_built" lists such hours."""
    params = {"start": "2026-02-16T12:00:00Z", "end": "2026-02-16T14:00:00Z"}
    run_hourly(filled, NOW, hour=NOW - timedelta(hours=2))  # 12:00, empty; 13:00 (every event) not
    for path in ("/api/v1/metrics/orgs", "/api/v1/metrics/stages"):
        got = http.get(path, params=params, headers=bearer(STAFF)).json()
        assert got["not_built"] == ["2026-02-16T13:00:00Z"], path
    assert got["rows"] and all(r["started"] == 0 for r in got["rows"])  # stages: hour 12 only
    run_hourly(filled, NOW, hour=NOW - timedelta(hours=1))
    for path in ("/api/v1/metrics/orgs", "/api/v1/metrics/stages"):
        got = http.get(path, params=params, headers=bearer(STAFF)).json()
        assert got["not_built"] == [], path
    orgs = http.get("/api/v1/metrics/orgs", params=params, headers=bearer(STAFF)).json()
    assert [(r["organization_id"], r["artifacts_received"]) for r in orgs["rows"]] == [
        ("org-a", 2), ("org-b", 1)]


def test_the_server_says_left_out_periods_in_its_answers_not_as_warnings(filled, http):
    """The server's own reads of the totals (the answers above, the dashboard's cost chart)
    say the periods they leave out in their answers: they warned PeriodsNotBuiltWarning too,
    which an app run in process (create_app, as docs/dashboard.md shows) printed on stderr at
    every range."""
    import warnings

    from voice_monitor.queries import PeriodsNotBuiltWarning

    params = {"start": "2026-02-16T12:00:00Z", "end": "2026-02-16T14:00:00Z"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for path in ("/api/v1/metrics/orgs", "/api/v1/metrics/stages"):  # hour 13 not built
            got = http.get(path, params=params, headers=bearer(STAFF))
            assert got.json()["not_built"] == ["2026-02-16T12:00:00Z", "2026-02-16T13:00:00Z"]
        chart = http.get("/api/v1/charts/cost_by_organization", params={"now": ts(NOW)},
                         headers=bearer(STAFF))
        assert chart.status_code == 200
    assert [w.message for w in caught if issubclass(w.category, PeriodsNotBuiltWarning)] == []


def test_stage_totals_name_the_stage_snapshots_they_leave_out(filled, http):
    """/metrics/stages sums the stage snapshots and /metrics/orgs the pipeline ones; a retention
    run that stopped between the two tables (pipeline_hourly dropped, stage_hourly kept) leaves
    an hour out of the one only. Each answer names its own: the stage answer named the pipeline
    table's gaps, hours its totals still held."""
    run_hourly(filled, NOW, hour=NOW - timedelta(hours=1))  # 13:00, every event
    shutil.rmtree(filled.snapshot_partition("pipeline_hourly", NOW.replace(hour=13, minute=0,
                                                                          second=0, microsecond=0)))
    params = {"start": "2026-02-16T13:00:00Z", "end": "2026-02-16T14:00:00Z"}
    orgs = http.get("/api/v1/metrics/orgs", params=params, headers=bearer(STAFF)).json()
    stages = http.get("/api/v1/metrics/stages", params=params, headers=bearer(STAFF)).json()
    assert orgs["not_built"] == ["2026-02-16T13:00:00Z"] and orgs["rows"] == []
    assert stages["not_built"] == []
    transcription = [r for r in stages["rows"] if r["pipeline_stage"] == "transcription"]
    assert [(r["started"], r["failed"]) for r in transcription] == [(1, 1)]  # t3 started; f2


def test_snapshot_reads_at_a_past_now_leave_out_periods_not_ended_by_then(filled, http):
    """Contract §10: a read at a past now sees only events stamped at or before it. The
    13:00 hour's snapshot, built once the hour was over, holds the events of 13:50-13:54: read
    at 13:52 (a post-mortem, the dashboard pinned with ?now=), historical, stages and orgs
    answered all of them, two stamped after 13:52 among them. At 13:52 that hour had not ended,
    so it had no snapshot: a zero row with computed_at null, and left out of the totals."""
    from voice_monitor import queries

    run_hourly(filled, NOW, hour=NOW - timedelta(minutes=40))  # builds 13:00-14:00
    during, after = "2026-02-16T13:52:00Z", "2026-02-16T14:00:00Z"
    for now, built in ((during, False), (after, True)):
        params = {"start": "2026-02-16T13:00:00Z", "now": now}  # end: now
        historical = http.get("/api/v1/metrics/historical", params=params,
                              headers=bearer(STAFF)).json()
        (row,) = historical["rows"]
        # built: 3 received (13:50), 1 failed (x2, 13:53), 1 completed (c1, 13:54)
        assert ((row["artifacts_received"], row["artifacts_failed"], row["artifacts_completed"])
                == ((3, 1, 1) if built else (0, 0, 0))), now
        assert (row["computed_at"] is not None) == built, now
        orgs = http.get("/api/v1/metrics/orgs", params=params, headers=bearer(STAFF)).json()
        stages = http.get("/api/v1/metrics/stages", params=params, headers=bearer(STAFF)).json()
        for got in (orgs, stages):
            assert got["not_built"] == ([] if built else ["2026-02-16T13:00:00Z"]), now
        assert [(r["organization_id"], r["artifacts_received"]) for r in orgs["rows"]] == (
            [("org-a", 2), ("org-b", 1)] if built else []), now
        transcription = next(r for r in stages["rows"] if r["pipeline_stage"] == "transcription")
        assert (transcription["started"], transcription["failed"]) == ((1, 1) if built else (0, 0))
        # the Python API the same, given now; without it every snapshot is read
        frame = queries.historical_metrics(filled, "2026-02-16T13:00Z", now, now=now)
        assert frame["artifacts_received"].to_list() == [3 if built else 0], now
    frame = queries.historical_metrics(filled, "2026-02-16T13:00Z", during)
    assert frame["artifacts_received"].to_list() == [3]


def test_freshness_reports_newest_event_and_snapshots(filled, http):
    from voice_monitor.rollup_plan import manifest_path

    run_hourly(filled, NOW, hour=NOW - timedelta(hours=1))
    # the 14:30 run wrote it (this test writes it later: a past now shows no later write)
    os.utime(manifest_path(filled, "hourly", NOW - timedelta(minutes=90)),
             (NOW.timestamp(), NOW.timestamp()))
    got = http.get("/api/v1/freshness", params={"now": ts(NOW)}, headers=bearer(STAFF)).json()
    assert got["newest_event_at"] == "2026-02-16T13:54:00Z"  # c1: 40 min before 14:30, + 4
    assert got["newest_event_age_s"] == 36 * 60
    assert got["events_stale"] is False
    assert got["newest_hourly_snapshot"] == "2026-02-16T13:00:00Z"
    assert got["hourly_stale"] is False  # at 14:30 the newest due hour is 13:00
    assert got["newest_daily_snapshot"] is None
    assert got["daily_stale"] is True
    assert got["last_hourly_rollup_at"] == "2026-02-16T14:30:00Z"  # the rollup's bookkeeping
    assert got["last_daily_rollup_at"] is None


def test_freshness_at_a_past_now_sees_the_lake_as_it_was_then(filled, http):
    """§10: a read at a past `now` sees only events stamped at or before it. Freshness named the
    lake's newest event and snapshot whatever `now` said, at age 0 (clamped) when they came
    after it, so a dashboard pinned to a post-mortem moment showed everything fresh."""
    land_records(filled, [event("artifact_received", NOW - timedelta(minutes=32), event_id="late",
                                artifact_id="art-4")], now=NOW)  # 13:58, a file of its own
    run_hourly(filled, NOW, hour=NOW - timedelta(hours=2))  # 12:00 (no events: zero rows)
    run_hourly(filled, NOW, hour=NOW - timedelta(hours=1))  # 13:00, ended at 14:00
    at = NOW - timedelta(minutes=37, seconds=30)  # 13:52:30
    got = http.get("/api/v1/freshness", params={"now": ts(at)}, headers=bearer(STAFF)).json()
    # f2 (13:52) is the newest by then: x2 13:53, c1 13:54 (the same file) and 13:58 came later
    assert (got["newest_event_at"], got["newest_event_age_s"]) == ("2026-02-16T13:52:00Z", 30.0)
    # hour 13's snapshot covers events up to 14:00: the newest that had ended is 12:00
    assert (got["newest_hourly_snapshot"], got["hourly_snapshot_age_s"]) == (
        "2026-02-16T12:00:00Z", 3150.0)  # its end 13:00 is 52 min 30 s before 13:52:30
    assert got["hourly_stale"] is False  # at 13:52 the newest due hour is 12:00
    # an event up to 5 minutes ahead of now (a producer's clock; landing accepts it) is newest
    ahead = http.get("/api/v1/freshness", params={"now": "2026-02-16T13:54:00Z"},
                     headers=bearer(STAFF)).json()
    assert (ahead["newest_event_at"], ahead["newest_event_age_s"]) == ("2026-02-16T13:58:00Z", 0.0)


def test_freshness_at_a_past_now_shows_no_rollup_write_from_after_it(filled, http):
    """At a past `now` the "last hourly rollup" was the lake's newest manifest write whatever
    `now` said, and a snapshot's built_at a time after `now`: a page pinned to 14:10 said the
    last rollup ran at 14:30:05. A snapshot whose period had ended still counts (a rebuild or a
    backfill rewrites its file whole: its first build time is not kept), built_at unknown."""
    from voice_monitor.lake import parquet_files
    from voice_monitor.rollup_plan import manifest_path

    for hour in (12, 13):  # built by the 13:30 and the 14:30 run
        period = datetime(2026, 2, 16, hour, tzinfo=UTC)
        run_hourly(filled, NOW, hour=period)
        written = (period + timedelta(hours=1, minutes=30, seconds=5)).timestamp()
        for path in [manifest_path(filled, "hourly", period),
                     *parquet_files(filled.snapshot_partition("pipeline_hourly", period))]:
            os.utime(path, (written, written))

    def fresh(at: str) -> tuple:
        got = http.get("/api/v1/freshness", params={"now": at}, headers=bearer(STAFF)).json()
        return (got["newest_hourly_snapshot"], got["newest_hourly_snapshot_built_at"],
                got["last_hourly_rollup_at"], got["last_daily_rollup_at"])

    assert fresh("2026-02-16T14:10:00Z") == (
        "2026-02-16T13:00:00Z", None, "2026-02-16T13:30:05Z", None)
    assert fresh("2026-02-16T13:20:00Z") == ("2026-02-16T12:00:00Z", None, None, None)
    # 5 minutes' grace, as for an event: another host's clock a little ahead is not the past
    assert fresh("2026-02-16T14:26:00Z") == (
        "2026-02-16T13:00:00Z", "2026-02-16T14:30:05Z", "2026-02-16T14:30:05Z", None)
    assert fresh("2026-02-16T14:40:00Z") == (
        "2026-02-16T13:00:00Z", "2026-02-16T14:30:05Z", "2026-02-16T14:30:05Z", None)


@pytest.mark.parametrize(("params", "detail"), [
    ({"limit": "1e3"}, "limit '1e3' is not a whole number; send one in digits, as --limit takes "
                       "it, e.g. limit=50"),
    ({"limit": ""}, "limit '' is not a whole number; send one in digits, as --limit takes it, "
                    "e.g. limit=50"),
    ({"errors_only": "maybe"}, "errors_only 'maybe': Input should be a valid boolean, unable to "
                               "interpret input; send true or false"),
])
def test_a_parameter_of_the_wrong_type_is_400_naming_the_value_and_the_fix(http, params, detail):
    answer = http.get("/api/v1/events", params=params, headers=bearer(STAFF))
    assert (answer.status_code, answer.json()) == (400, {"detail": detail})


@pytest.mark.parametrize(("path", "params", "named"), [
    ("/api/v1/events", {"limit": "many"}, "limit 'many'"),
    ("/api/v1/events", {"start": "yesterday"}, "start 'yesterday'"),
    ("/api/v1/events", {"type": "artifact_exploded"}, "'artifact_exploded'"),
    ("/api/v1/events", {"cursor": "bm90IGEgY3Vyc29y"}, "bad cursor"),
    ("/api/v1/events", {"limit": "0"}, "limit 0"),
    ("/api/v1/metrics/historical", {"start": "2026-02-16T14:00:00Z",
                                    "end": "2026-02-16T13:00:00Z"}, "bad time range"),
    ("/api/v1/alerts/history", {"status": "sleeping"}, "'sleeping'"),
    ("/api/v1/metrics/realtime", {"org": "a\nb"}, "organization_id"),
    # named as every other endpoint and `alerts history --org` name it ('org' here alone)
    ("/api/v1/alerts/history", {"org": "a\tb"}, "organization_id 'a\\tb' is not a valid id"),
])
def test_bad_input_is_400_naming_the_value(http, path, params, named):
    response = http.get(path, params=params, headers=bearer(STAFF))
    assert response.status_code == 400
    assert named in response.json()["detail"]


def test_metrics_exposition_names_counters_freshness_and_alerts(lake, http):
    _alert(lake)
    http.post("/v1/events", content=_lines(event("artifact_received", NOW)) + b"{broken\n",
              headers=bearer(INGEST))
    text = http.get("/metrics", headers=bearer(STAFF)).text
    assert "voice_monitor_collector_events_accepted_total 1.0" in text
    assert "voice_monitor_collector_events_quarantined_total 1.0" in text
    assert 'voice_monitor_alerts_active{alert_type="circuit_breaker_open",severity="critical"} 1.0' in text
    assert 'voice_monitor_alerts_active{alert_type="high_latency",severity="medium"} 0.0' in text
    assert 'voice_monitor_freshness_stale{what="pipeline_hourly"} 1.0' in text
    assert 'voice_monitor_realtime_events{metric="artifacts_received",organization_id="",scope="platform"}' in text
    # the breaker closes: the next check resolves the alert, and the next scrape sees it
    land_records(lake, [event("circuit_breaker_closed", NOW + timedelta(minutes=1)),
                        event("artifact_received", NOW + timedelta(minutes=1))],
                 now=NOW + timedelta(minutes=2))
    assert [a.alert_type for a in run_checks(lake, NOW + timedelta(minutes=2)).resolved] == [
        "circuit_breaker_open"]
    text = http.get("/metrics", headers=bearer(STAFF)).text
    assert 'voice_monitor_alerts_active{alert_type="circuit_breaker_open",severity="critical"} 0.0' in text


def test_alerts_at_a_past_now_are_those_active_then(lake, http):
    """The dashboard pinned to a past moment (`?now=`) listed today's active alerts: a
    post-mortem of 14:31, while the breaker was open, said 'No active alerts' once it closed."""
    alert_id = _alert(lake)  # raised at 14:30
    land_records(lake, [event("circuit_breaker_closed", NOW + timedelta(minutes=1)),
                        event("artifact_received", NOW + timedelta(minutes=1))],
                 now=NOW + timedelta(minutes=2))
    run_checks(lake, NOW + timedelta(minutes=2))  # resolved at 14:32

    def active(**params) -> list[tuple[str, str]]:
        answer = http.get("/api/v1/alerts", params=params, headers=bearer(STAFF))
        assert answer.status_code == 200, answer.json()
        return [(a["alert_id"], a["status"]) for a in answer.json()["alerts"]]

    assert active() == []
    assert active(now="2026-02-16T14:31:00Z") == [(alert_id, "resolved")]  # as it stands today
    assert active(now="2026-02-16T14:30:00Z") == [(alert_id, "resolved")]  # raised at that moment
    assert active(now="2026-02-16T14:29:59Z") == []  # not raised yet
    assert active(now="2026-02-16T14:32:00Z") == []  # resolved by then
    refused = http.get("/api/v1/alerts", params={"now": "soon"}, headers=bearer(STAFF))
    assert refused.status_code == 400 and "'soon'" in refused.json()["detail"]


def test_answers_forbid_framing_and_api_answers_are_not_cached(http):
    page = http.get("/login")
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    api = http.get("/api/v1/alerts", headers=bearer(STAFF))
    assert api.headers["cache-control"] == "no-store"
    assert api.headers["content-security-policy"] == "frame-ancestors 'none'"


def test_a_sign_in_refused_for_its_scheme_alone_names_the_proxy_setting(http):
    """Behind a TLS load balancer the browser's Origin is https://host while the server sees
    http://host: every sign-in was refused as 'cross-site' with no word on the cause, and the
    docs' fix, uvicorn's --forwarded-allow-ips, was no option of `serve`."""
    response = http.post("/login", data={"token": STAFF}, headers={"Origin": "https://testserver"},
                         follow_redirects=False)
    assert response.status_code == 403
    assert response.json()["detail"] == (
        "cross-site sign-in refused (the page is https but this server sees http: behind a TLS "
        "proxy, start serve with --forwarded-allow-ips PROXY_ADDRESS)")


def test_serve_passes_forwarded_allow_ips_to_uvicorn(tmp_path, monkeypatch, capsys):
    import uvicorn
    from conftest import run_main

    from voice_monitor.server.app import SERVE_ENV

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: seen.update(kwargs))
    monkeypatch.setenv("VOICE_MONITOR_STAFF_TOKENS", STAFF)
    monkeypatch.setenv(SERVE_ENV, "{}")  # serve sets it for its workers: restored afterwards
    code, _, err = run_main(capsys, "serve", "--lake", str(tmp_path / "lake"), "--port", "0",
                            "--forwarded-allow-ips", "10.0.0.7")
    assert code == 0, err
    assert seen["forwarded_allow_ips"] == "10.0.0.7"


def test_a_redis_that_does_not_answer_is_503_and_retry_after_never_500(lake, monkeypatch):
    # the batch was answered 500 "Internal Server Error" (plain text), as if it had failed for
    # good, though its events were in the lake; the real-time read too
    from server_process import free_port

    from voice_monitor.counters import COUNTERS_ENV

    monkeypatch.setenv(COUNTERS_ENV, f"redis://127.0.0.1:{free_port()}/0")
    app = create_app(lake, ingest_tokens=[INGEST], staff_tokens=[STAFF])
    with TestClient(app, base_url=BASE, raise_server_exceptions=False) as http:
        posted = http.post("/v1/events", content=json.dumps(event("artifact_received", NOW)),
                           headers={**bearer(INGEST), "Content-Type": "application/x-ndjson"})
        read = http.get("/api/v1/metrics/realtime", headers=bearer(STAFF))
    for answer in (posted, read):
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"] == "1"
        assert answer.json()["detail"] == ("the server's real-time counter store did not answer "
                                           "(the server's log says which and why); try again in "
                                           "a moment")


LONG = "x" * 60_000


@pytest.mark.parametrize(("path", "params"), [
    ("/api/v1/events", {"type": LONG}),
    ("/api/v1/events", {"stage": LONG}),
    ("/api/v1/events", {"start": LONG}),
    ("/api/v1/events", {"errors_only": LONG}),
    ("/api/v1/events", {LONG: "1"}),
    ("/api/v1/metrics/historical", {"period": LONG}),
    ("/api/v1/alerts/history", {"status": LONG}),
    ("/api/v1/alerts/history", {"type": LONG}),
    ("/api/v1/charts/" + LONG, {}),
    ("/api/v1/" + LONG, {}),
])
def test_a_huge_value_is_quoted_cut_in_a_400(lake, http, path, params):
    """An answer quoted the value it refused whole: a 60 KB type= was answered with 60 KB (a
    request line may be 1 MiB). Each value shows its first 100 characters and '...'."""
    response = http.get(path, params=params, headers=bearer(STAFF))
    assert response.status_code in (400, 404)
    detail = response.json()["detail"]
    assert "x" * 90 in detail and "x" * 101 not in detail and "...'" in detail
    assert len(detail) < 1_000


def test_a_method_not_allowed_on_a_long_path_names_it_cut(lake, http):
    response = http.put(f"/api/v1/artifacts/{LONG}/timeline", headers=bearer(STAFF))
    assert (response.status_code, response.json()) == (405, {"detail": (
        f"method PUT is not allowed on /api/v1/artifacts/{'x' * 82}...; it takes GET, HEAD")})


def test_an_unknown_alert_id_of_any_length_is_404_quoted_cut(lake, http):
    response = http.post(f"/api/v1/alerts/{LONG}/ack", json={}, headers=bearer(STAFF))
    assert (response.status_code, response.json()) == (404, {"detail": (
        f"no alert with id {'x' * 100 + '...'!r}; list them with 'voice-monitor alerts list' or "
        "'voice-monitor alerts history'")})


def test_several_event_types_in_one_value_are_told_to_come_one_a_value(capsys, lake, http):
    """type=transcription_failed,artifact_failed was 'unknown event type ...; expected one of'
    the 27 names, each of the two among them, so nothing said what was wrong."""
    said = ("event type 'transcription_failed,artifact_failed' is several types in one value; "
            "give each on its own: repeat --type (CLI) or type= (API), or pass a list (Python)")
    response = http.get("/api/v1/events", params={"type": "transcription_failed,artifact_failed"},
                        headers=bearer(STAFF))
    assert (response.status_code, response.json()) == (400, {"detail": said})
    code, _, err = run_main(capsys, "events", "recent", "--type",
                            "transcription_failed,artifact_failed", "--lake", str(lake.root))
    assert code == 2 and said in err  # a usage error (69b549a)
    # each on its own is taken; a list holding a name that is no type is still named unknown
    both = http.get("/api/v1/events", params=[("type", "transcription_failed"),
                                              ("type", "artifact_failed")], headers=bearer(STAFF))
    assert both.status_code == 200
    response = http.get("/api/v1/events", params={"type": "artifact_failed,nope"},
                        headers=bearer(STAFF))
    assert response.json()["detail"].startswith("unknown event type 'artifact_failed,nope'")


def test_a_path_or_parameter_that_is_not_utf8_once_decoded_is_400_naming_it(lake, http):
    # %ff was decoded to U+FFFD: 200 with no rows, for an artifact id nobody sent
    land_records(lake, [event("artifact_received", NOW, artifact_id="café")], now=NOW)
    for url, what in (("/api/v1/artifacts/%ff/timeline", "path '/api/v1/artifacts/%ff/timeline'"),
                      ("/api/v1/artifacts/caf%e9/retries",
                       "path '/api/v1/artifacts/caf%e9/retries'"),
                      ("/api/v1/events?org=%ff", "query parameter 'org=%ff'"),
                      ("/api/v1/events?or%ffg=1", "query parameter 'or%ffg=1'")):
        answer = http.get(url, headers=bearer(STAFF))
        assert (answer.status_code, answer.json()) == (400, {"detail": (
            f"{what} is not UTF-8 once percent-decoded; percent-encode each character's UTF-8 "
            "bytes (e.g. é as %C3%A9)")}), url
    # the UTF-8 bytes of é, and of U+FFFD itself, are ids like any other
    found = http.get("/api/v1/artifacts/caf%C3%A9/timeline", params={"now": ts(NOW)},
                     headers=bearer(STAFF)).json()
    assert (found["artifact_id"], len(found["rows"])) == ("café", 1)
    replacement = http.get("/api/v1/artifacts/%EF%BF%BD/timeline", headers=bearer(STAFF))
    assert (replacement.status_code, replacement.json()["rows"]) == (200, [])
    assert http.get("/api/v1/artifacts/%ff/timeline").status_code == 401  # the token first


def test_serve_on_an_ipv6_address_prints_a_url_that_works(tmp_path, monkeypatch, capsys):
    # 'on http://::1:8787': no browser or curl takes that; the address goes in brackets
    import uvicorn

    from voice_monitor.server.app import SERVE_ENV

    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: None)
    monkeypatch.setenv(SERVE_ENV, "{}")  # serve sets it for its workers: restored afterwards
    monkeypatch.delenv("VOICE_MONITOR_STAFF_TOKENS", raising=False)
    monkeypatch.delenv("VOICE_MONITOR_INGEST_TOKENS", raising=False)
    code, _, err = run_main(capsys, "serve", "--lake", str(tmp_path / "lake"), "--host", "::1",
                            "--port", "0", "--no-auth")
    assert code == 0, err
    # --port 0 names no port: the system picks one as uvicorn binds ('[::1]:0' was said)
    assert ("on http://[::1] at a free port (--port 0; uvicorn's 'Uvicorn running on' line "
            "names it) with no authentication (local only)") in err


def test_limit_cuts_historical_orgs_and_timeline_as_the_cli_does(filled, http):
    # the CLI's metrics historical|orgs and events timeline took --limit (a45e3b7); their
    # endpoints refused limit= as an unknown parameter (§12: named as the CLI's options)
    run_hourly(filled, NOW, hour=NOW - timedelta(minutes=40))  # builds 13:00-14:00
    hours = {"start": "2026-02-16T11:00:00Z", "end": "2026-02-16T14:00:00Z", "now": ts(NOW)}

    def get(path, **params):
        answer = http.get(f"/api/v1/{path}", params=params, headers=bearer(STAFF))
        return answer.status_code, answer.json()

    code, got = get("metrics/historical", **hours, limit="2")
    assert code == 200 and got["rows_total"] == 3  # 11:00, 12:00, 13:00
    assert [r["period_start"] for r in got["rows"]] == ["2026-02-16T11:00:00Z",
                                                       "2026-02-16T12:00:00Z"]
    for whole in ({"limit": "0"}, {"limit": "3"}, {}):  # 0 = all, as is none
        code, got = get("metrics/historical", **hours, **whole)
        assert code == 200 and len(got["rows"]) == 3 and "rows_total" not in got
    code, got = get("metrics/orgs", **hours, limit="1")  # org-a received 2, org-b 1
    assert [r["organization_id"] for r in got["rows"]] == ["org-a"] and got["rows_total"] == 2
    code, got = get("artifacts/art-2/timeline", limit="2")  # received, failed transcription...
    assert [r["event_id"] for r in got["rows"]] == ["r2", "f2"] and got["rows_total"] == 3
    assert get("metrics/orgs", limit="-1") == (400, {"detail": (
        "limit -1 is below 0; send the number of rows to answer, or 0 (the default) for all "
        "of them")})
    assert get("artifacts/art-2/timeline", limit="2.5") == (400, {"detail": (
        "limit '2.5' is not a whole number; send one in digits, as --limit takes it, e.g. "
        "limit=100")})


def test_a_query_parameter_on_the_collector_is_400_naming_it_and_nothing_lands(lake, http):
    # the collector read no query string: `?dry_run=1` landed the batch a sender meant only to
    # try, answered 200, where the reading API refuses a parameter it does not take
    body = (json.dumps(event("artifact_received", NOW, event_id="dry-1")) + "\n").encode()
    for query, name in (("?dry_run=1", "dry_run"), ("?validate", "validate"),
                        ("?org=o1&dry_run=true", "org"), ("?=1", "")):
        response = http.post("/v1/events" + query, content=body, headers=bearer(INGEST))
        assert (response.status_code, response.json()) == (400, {
            "detail": f"unknown query parameter {name!r} for /v1/events; it takes none: nothing "
                      "of the batch was landed; send the batch to /v1/events without a query "
                      "string"}), query
    assert not list(lake.root.rglob("*.parquet"))  # neither landed nor quarantined
    # a token in the URL without one in the header is still told to use the header (401)
    response = http.post("/v1/events?token=x", content=body)
    assert response.status_code == 401 and "a token in the URL is never read" in response.text
    # an empty query string asks nothing: the batch lands
    response = http.post("/v1/events?", content=body, headers=bearer(INGEST))
    assert response.json() == {"accepted": 1, "duplicates": 0, "quarantined": 0}


def test_only_answers_to_staff_name_the_lake_path_in_their_fix(tmp_path, monkeypatch):
    """One rule for where the lake is on the server: an answer to a request let in as staff
    gives the fix as the CLI prints it, `--lake PATH` included (an unreadable file's 500 left
    it out while `snapshots_unreadable` and `names_unreadable` named it); an answer a producer
    gets never names it, under --no-auth too (the ingest role lets that request in)."""
    import pyarrow.parquet as pq

    lake = Lake.create(tmp_path / "the lake")  # a space: the command quotes the path
    land_records(lake, [event("artifact_received", NOW, event_id="e1")], now=NOW)
    (good,) = (lake.root / "events").rglob("*.parquet")
    bad = good.with_name("zz-truncated.parquet")
    bad.write_bytes(good.read_bytes()[:100])
    with pytest.raises(Exception):  # noqa: B017 (the premise: the file really is unreadable)
        pq.read_table(bad)
    name = "events/date=2026-02-16/hour=14/zz-truncated.parquet"
    params = {"start": "2026-02-16T00:00:00Z", "end": "2026-02-17T00:00:00Z"}
    # an alert record the reads cannot go around (the event log reads around its hour)
    record = lake.alerts_dir / "date=2026-02-16" / "zz-truncated.parquet"
    record.parent.mkdir(parents=True)
    record.write_bytes(b"PAR1 not really")
    fix = f"move it aside with: voice-monitor lake check --move-aside --lake '{lake.root}'"
    for app, headers in ((create_app(lake, ingest_tokens=[INGEST], staff_tokens=[STAFF]),
                          bearer(STAFF)), (create_app(lake, no_auth=True), {})):
        with TestClient(app, base_url=BASE, raise_server_exceptions=False) as http:
            response = http.get("/api/v1/alerts/history", headers=headers)
            assert (response.status_code, response.json()) == (500, {
                "detail": "unreadable lake file alerts/date=2026-02-16/zz-truncated.parquet "
                          f"(the server's log says why); {fix}"})
            response = http.get("/api/v1/events", params=params, headers=headers)
            said = response.json()["events_unreadable"]["message"]
            assert response.status_code == 200 and name in said and said.endswith(fix), said
            # the collector met the same file: a producer learns only to send again
            from voice_monitor.integrity import UnreadableFileError

            def unreadable(*args, **kwargs):
                raise UnreadableFileError(lake, [(bad, "ArrowInvalid: magic bytes")])

            monkeypatch.setattr("voice_monitor.server.group_commit.land_batches", unreadable)
            sent = bearer(INGEST) if headers else {}
            response = http.post("/v1/events", content=_lines(event("artifact_received", NOW)),
                                 headers=sent)
            assert (response.status_code, response.json()) == (500, {
                "detail": "the batch was not landed: the server failed (its log says why); "
                          "send it again later, it is counted once"})
            assert str(tmp_path) not in response.text
            monkeypatch.undo()


def test_a_token_under_both_roles_is_refused_naming_both_entries(tmp_path):
    """Contract §12: ingest tokens may only post events. One token listed as ingest and staff
    was both: a producer's token (in every producer's configuration) read and acknowledged."""
    same = "same-token-0123456789ab"
    with pytest.raises(TokenConfigError, match="^the ingest token 'ingest-token-1' is also the "
                       "staff token 'staff-token-2'; an ingest token may only post events: give "
                       "producers and staff a token each$"):
        load_tokens({"VOICE_MONITOR_INGEST_TOKENS": same,
                     "VOICE_MONITOR_STAFF_TOKENS": f"other-token-0123456789,{same}"})
    path = tmp_path / "tokens"
    path.write_text(f"ingest {same} billing\nstaff {same} alice\n")
    with pytest.raises(TokenConfigError, match="'billing' is also the staff token 'alice'"):
        load_tokens({}, path)
    with pytest.raises(TokenConfigError, match="is also the staff token") as refused:
        create_app(tmp_path / "lake", ingest_tokens=[same], staff_tokens=[same])
    assert same not in str(refused.value)  # entries are named, never the token itself
