"""The dashboard's routes through an in-process client: pages, assets, the charts endpoint.

(The page itself, in a real browser against a real server process, is test_dashboard_browser.)
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime

import pytest
from conftest import NOW, event
from fastapi.testclient import TestClient

from voice_monitor.lake import Lake
from voice_monitor.landing import land_records
from voice_monitor.rollups import run_hourly
from voice_monitor.schema import EVENT_TYPES
from voice_monitor.server.app import create_app

STAFF = "staff-token-0123456789abcdef"
INGEST = "ingest-token-0123456789abcdef"
PINNED = "2026-02-16T14:30:00Z"


@pytest.fixture(scope="module")
def http(tmp_path_factory):
    lake = Lake(tmp_path_factory.mktemp("dashboard") / "lake")
    hour = NOW.replace(hour=13, minute=0)
    land_records(lake, [
        event("artifact_received", hour.replace(minute=5), artifact_id="x1",
              organization_id="org-1", metadata={"ai_cost_usd": 0.4}),
        event("artifact_received", hour.replace(minute=6), artifact_id="x2",
              organization_id="org-1", metadata={"ai_cost_usd": 0.2}),
        event("artifact_completed", hour.replace(minute=30), artifact_id="x1",
              organization_id="org-1"),
        event("artifact_failed", hour.replace(minute=31), artifact_id="x2",
              organization_id="org-1"),
    ], now=NOW)
    run_hourly(lake, now=NOW)
    app = create_app(lake, ingest_tokens=[INGEST], staff_tokens=[STAFF])
    with TestClient(app, base_url="http://127.0.0.1:8787") as client:
        yield client


def staff() -> dict:
    return {"Authorization": f"Bearer {STAFF}"}


def test_chart_endpoint_returns_the_figure_of_the_query(http):
    figure = http.get(f"/api/v1/charts/throughput?now={PINNED}", headers=staff()).json()
    received = dict(zip(figure["data"][0]["x"], figure["data"][0]["y"], strict=True))
    assert figure["data"][0]["name"] == "received"
    assert received["2026-02-16 13:00:00"] == 2  # x1 and x2
    assert received["2026-02-16 14:00:00"] is None  # not built yet: a gap
    # [14:30 on the 14th, 14:30 today) overlaps the hours 14:00 on the 14th ... 14:00 today: 49
    assert len(received) == 49
    rate = http.get(f"/api/v1/charts/failure_rate?now={PINNED}", headers=staff()).json()
    assert dict(zip(rate["data"][0]["x"], rate["data"][0]["y"], strict=True))[
        "2026-02-16 13:00:00"] == 50.0  # 1 failed / (1 completed + 1 failed)
    cost = http.get(f"/api/v1/charts/cost_by_organization?now={PINNED}", headers=staff()).json()
    assert cost["data"][0]["text"] == ["$0.60"]  # 0.4 + 0.2
    short = http.get(f"/api/v1/charts/throughput?now={PINNED}&hours=2", headers=staff()).json()
    assert short["data"][0]["x"] == ["2026-02-16 12:00:00", "2026-02-16 13:00:00",
                                     "2026-02-16 14:00:00"]


@pytest.mark.parametrize(("path", "status", "message"), [
    ("/api/v1/charts/pie", 400, "unknown chart 'pie'"),
    ("/api/v1/charts/throughput?hours=0", 400, "hours 0 is out of range"),
    ("/api/v1/charts/throughput?hours=169", 400, "hours 169 is out of range"),
    ("/api/v1/charts/throughput?now=yesterday", 400, "yesterday"),
])
def test_chart_endpoint_bad_input(http, path, status, message):
    response = http.get(path, headers=staff())
    assert response.status_code == status
    assert message in response.json()["detail"]


@pytest.mark.parametrize("text", ["5.0", "5.", "1e1", "", "abc", "0x10"])
def test_chart_hours_that_are_no_whole_number_are_400_naming_them(http, text):
    """`hours` was pydantic's int: '5.0' was taken as 5 where `limit=5.0` is refused, and 'abc'
    was told 'e.g. 50' (a page size, not hours). It is read as `limit` is, by int()."""
    response = http.get("/api/v1/charts/throughput", params={"hours": text}, headers=staff())
    assert (response.status_code, response.json()) == (400, {"detail": (
        f"hours {text!r} is not a whole number; send one in digits, e.g. hours=48")})


def test_chart_hours_in_the_api_schema_is_an_integer_of_default_48(http):
    schema = http.get("/api/v1/openapi.json", headers=staff()).json()
    (hours,) = [p for p in schema["paths"]["/api/v1/charts/{name}"]["get"]["parameters"]
                if p["name"] == "hours"]
    assert (hours["schema"]["type"], hours["schema"]["default"]) == ("integer", 48)


def test_charts_and_page_need_a_staff_token(http):
    assert http.get("/api/v1/charts/throughput").status_code == 401
    ingest = {"Authorization": f"Bearer {INGEST}"}
    assert http.get("/api/v1/charts/throughput", headers=ingest).status_code == 403
    page = http.get("/", follow_redirects=False)
    assert (page.status_code, page.headers["location"]) == (303, "/login")


def test_page_lists_every_event_type_and_stage_and_no_marker_is_left(http):
    page = http.get("/", headers=staff())
    assert page.status_code == 200
    types = re.search(r'<select name="type">(.*?)</select>', page.text).group(1)
    assert re.findall(r'<option value="(\w+)">', types) == sorted(EVENT_TYPES)
    assert len(EVENT_TYPES) == 27
    assert "<!--" not in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")


def test_login_page_and_its_error(http):
    assert 'name="token"' in http.get("/login").text
    assert "login-error" not in http.get("/login").text
    assert "That is not a staff token" in http.get("/login?error=invalid").text


def test_assets_are_a_fixed_list(http):
    plotly_js = http.get("/static/plotly-basic.min.js")
    assert plotly_js.status_code == 200
    assert plotly_js.headers["content-type"].startswith("text/javascript")
    assert http.get("/static/dashboard.js").status_code == 200
    for name in ("index.html", "..%2Fdashboard.py", "nope.js", "plotly.min.js"):
        assert http.get(f"/static/{name}").status_code == 404, name


def test_a_chart_is_drawn_again_only_when_its_periods_or_the_snapshots_change(tmp_path, monkeypatch):
    from voice_monitor.server import dashboard

    drawn: list[str] = []
    real = dashboard.chart_figure
    lake = Lake.create(tmp_path / "lake")

    def counted(drawn_lake, name, *args):
        if drawn_lake.root == lake.root:  # (another app's warm-up may be drawing its own)
            drawn.append(name)
        return real(drawn_lake, name, *args)

    monkeypatch.setattr(dashboard, "chart_figure", counted)
    hour = NOW.replace(hour=13, minute=0)
    land_records(lake, [event("artifact_received", hour.replace(minute=5))], now=NOW)
    run_hourly(lake, now=NOW)
    app = create_app(lake, staff_tokens=[STAFF])

    def received_at_13(now: str) -> int:
        figure = http.get(f"/api/v1/charts/throughput?now={now}", headers=staff()).json()
        return dict(zip(figure["data"][0]["x"], figure["data"][0]["y"], strict=True))[
            "2026-02-16 13:00:00"]

    with TestClient(app, base_url="http://127.0.0.1:8787") as http:
        assert received_at_13(PINNED) == 1 and drawn == ["throughput"]
        # 14:59 reads the same hours as 14:30 (14:00 on the 14th to 14:00 today): drawn once
        assert received_at_13("2026-02-16T14:59:00Z") == 1 and len(drawn) == 1
        # 15:00 adds the hour 15:00 and drops 14:00 on the 14th: drawn again
        received_at_13("2026-02-16T15:00:00Z")
        assert len(drawn) == 2
        # a late event in 13:00, rolled up again: the snapshots changed, the chart follows
        land_records(lake, [event("artifact_received", hour.replace(minute=7))], now=NOW)
        run_hourly(lake, now=NOW, hour=hour)
        assert received_at_13(PINNED) == 2 and len(drawn) == 3


def test_the_warm_up_draws_the_charts_of_now_and_of_a_quiet_lakes_newest_event(tmp_path, monkeypatch):
    from voice_monitor import queries
    from voice_monitor.server import dashboard

    lake = Lake.create(tmp_path / "lake")
    newest = NOW.replace(hour=13, minute=40)  # conftest's NOW is months before the real clock
    land_records(lake, [event("artifact_received", NOW.replace(hour=13, minute=5),
                              organization_id="org-1"),
                        event("artifact_received", newest, organization_id="org-1")], now=NOW)
    run_hourly(lake, now=NOW)
    app = create_app(lake, staff_tokens=[STAFF])
    live_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    dashboard.warm_up(app.state)
    app.state.warming.join(120)
    dashboard.warm_up(app.state)  # once per process: a second call starts nothing
    assert [t.name for t in threading.enumerate()].count("voice-monitor-warm-up") == 0

    drawn: list[str] = []
    monkeypatch.setattr(dashboard, "chart_figure", lambda *a, **k: drawn.append(a[1]))
    monkeypatch.setattr(queries, "org_breakdown", lambda *a, **k: drawn.append("orgs"))
    pinned = "2026-02-16T13:59:00Z"  # the page pinned in the newest event's hour
    with TestClient(app, base_url="http://127.0.0.1:8787") as http:
        for name in ("throughput", "failure_rate", "stage_latency", "cost_by_organization"):
            figure = http.get(f"/api/v1/charts/{name}?now={pinned}", headers=staff()).json()
            assert figure["data"], name
        orgs = http.get("/api/v1/metrics/orgs", headers=staff(), params={  # as the page asks
            "start": "2026-02-14T13:59:00Z", "end": pinned, "now": pinned}).json()
        # at 13:59 the 13:00 hour, which holds both events, had not ended: no snapshot then
        assert (orgs["rows"], orgs["not_built"][-1]) == ([], "2026-02-16T13:00:00Z")
        assert drawn == []  # all from the warm-up's cache, none drawn again
        http.get("/api/v1/charts/throughput", headers=staff()).raise_for_status()  # live
        if datetime.now(UTC).replace(minute=0, second=0, microsecond=0) == live_hour:
            assert drawn == []  # (unless the clock passed an hour since the warm-up)


def test_the_failure_rate_chart_draws_the_configured_alert_thresholds(tmp_path, monkeypatch):
    # contract §12: the chart shows the failure rate "with its alert thresholds"; the app read
    # app.state.alert_config, which nothing set, so it drew the defaults (10 %, 25 %) whatever
    # VOICE_MONITOR_ALERTS_FAILURE_RATE_* or voice-monitor.toml said
    import json
    import sys

    from voice_monitor.server.app import SERVE_ENV, app_from_env

    lake = Lake.create(tmp_path / "lake")
    monkeypatch.chdir(tmp_path)  # no voice-monitor.toml of the caller's
    monkeypatch.setattr(sys, "setswitchinterval", lambda _: None)
    monkeypatch.setenv("VOICE_MONITOR_ALERTS_FAILURE_RATE_HIGH", "0.2")
    monkeypatch.setenv("VOICE_MONITOR_ALERTS_FAILURE_RATE_CRITICAL", "0.35")
    # and a 72 h inactivity window, which events kept 72 h allow (the app once built its
    # thresholds without the event retention: refused as longer than the default 48 h)
    monkeypatch.setenv("VOICE_MONITOR_ALERTS_INACTIVITY_WINDOW", "72h")
    monkeypatch.setenv("VOICE_MONITOR_RETENTION_EVENTS", "72h")
    monkeypatch.setenv(SERVE_ENV, json.dumps({
        "lake": str(lake.root), "tokens_file": None, "no_auth": True}))
    with TestClient(app_from_env(), base_url="http://127.0.0.1:8787") as client:
        figure = client.get(f"/api/v1/charts/failure_rate?now={PINNED}").json()
    lines = sorted(s["y0"] for s in figure["layout"]["shapes"])
    assert lines == [20.0, 35.0]  # 0.2 and 0.35 as percentages
    assert sorted(a["text"] for a in figure["layout"]["annotations"]) == [
        "critical alert > 35 %", "high alert > 20 %"]


def test_under_no_auth_the_page_offers_no_sign_out_and_login_leads_to_it(tmp_path, http):
    """With --no-auth there is no sign-in: the page's Sign out led to /login, whose form no
    token passes (none is configured), so a local user was shut out of the page."""
    local = TestClient(create_app(tmp_path / "lake", no_auth=True), base_url="http://127.0.0.1")
    with local:
        page = local.get("/")
        assert page.status_code == 200
        assert 'action="/logout"' not in page.text
        assert '<span class="muted" id="no-auth">local, no sign-in (--no-auth)</span>' in page.text
        login = local.get("/login", follow_redirects=False)
        assert (login.status_code, login.headers["location"]) == (303, "/")
        # a sign-out posted anyway (an old page) ends on the dashboard too
        assert local.post("/logout", headers={"Origin": "http://127.0.0.1"}).url.path == "/"
    # with tokens: the page signs out, /login is the form
    assert 'action="/logout"' in http.get("/", headers=staff()).text
    assert 'id="token"' in http.get("/login").text
