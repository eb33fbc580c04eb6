"""The dashboard in a real headless browser (Debian's chromium, driven by Playwright) against a
real `voice-monitor serve` process over a small lake built here; every expected value below is
worked out by hand from the events listed in `lake_events`.

The page is pinned to NOW with `?now=` (as a post-mortem would be), so the numbers hold whatever
the clock says.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from browsers import browser_fixture, needs_chromium  # noqa: F401 - the `browser` fixture
from conftest import event
from playwright.sync_api import expect
from server_process import STAFF, ServerProcess, bearer, client

from voice_monitor.health import alerts
from voice_monitor.lake import Lake
from voice_monitor.landing import land_records
from voice_monitor.rollups import run_hourly

pytestmark = pytest.mark.slow

NOW = datetime(2026, 2, 16, 14, 30, tzinfo=UTC)
PINNED = "2026-02-16T14:30:00Z"


def at(hour: int, minute: int) -> datetime:
    return datetime(2026, 2, 16, hour, minute, tzinfo=UTC)


def lake_events() -> list[dict]:
    """29 events in hours 12, 13 and 14 (UTC) of 2026-02-16; NOW is 14:30."""
    a, b = {"organization_id": "org-a"}, {"organization_id": "org-b"}
    evs = []
    # hour 12: a1..a4 and b1, b2 received, one minute apart; cost $0.50 (org-a), $0.25 (org-b)
    for i in range(1, 5):
        evs.append(event("artifact_received", at(12, i), artifact_id=f"a{i}",
                         metadata={"ai_cost_usd": 0.5}, **a))
    for i in (1, 2):
        evs.append(event("artifact_received", at(12, 4 + i), artifact_id=f"b{i}",
                         metadata={"ai_cost_usd": 0.25}, **b))
    evs.append(event("transcription_completed", at(12, 15), artifact_id="a1", duration_ms=1500, **a))
    evs.append(event("drafts_generated", at(12, 18), artifact_id="a1", duration_ms=30_000, **a))
    for i in (1, 2, 3):
        evs.append(event("artifact_completed", at(12, 20 + i), artifact_id=f"a{i}", **a))
    evs.append(event("artifact_failed", at(12, 25), artifact_id="a4", error_code="E_DRAFT", **a))
    evs.append(event("artifact_completed", at(12, 26), artifact_id="b1", **b))
    for minute in range(30, 40):  # ten status changes of a2, to fill a second page
        evs.append(event("artifact_status_changed", at(12, minute), artifact_id="a2",
                         previous_status="x", new_status="y", **a))
    # hour 13: a5 received ($0.50) and completed; the circuit breaker opens
    evs.append(event("artifact_received", at(13, 40), artifact_id="a5",
                     metadata={"ai_cost_usd": 0.5}, **a))
    evs.append(event("circuit_breaker_opened", at(13, 45)))
    evs.append(event("artifact_completed", at(13, 50), artifact_id="a5", **a))
    # hour 14 (not rolled up yet): b3 received, fails transcription, fails
    evs.append(event("artifact_received", at(14, 10), artifact_id="b3", **b))
    evs.append(event("transcription_failed", at(14, 15), artifact_id="b3",
                     error_code="E_ASR", error_message="decoder gave up", **b))
    evs.append(event("artifact_failed", at(14, 20), artifact_id="b3", **b))
    return evs


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    needs_chromium()
    root = tmp_path_factory.mktemp("dashboard")
    lake = Lake(root / "lake")
    result = land_records(lake, lake_events(), now=NOW)
    assert result.accepted == 29
    run_hourly(lake, now=NOW)  # hours 12 and 13; no daily rollup: the daily snapshot is stale
    report = alerts.run_checks(lake, NOW)
    assert [a.alert_type for a in report.active] == ["circuit_breaker_open"]
    with ServerProcess(lake, log=root / "server.log") as server, client() as http:
        # `serve` warms the dashboard up at start, before anyone asks for a page
        deadline = time.monotonic() + 120
        while "dashboard warmed up in" not in server.output() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "dashboard warmed up in" in server.output()
        assert "warm-up stopped" not in server.output()
        server.http = http
        server.shots = root / "screenshots"
        server.shots.mkdir()
        yield server


def _text(page, selector: str) -> list[str]:
    return [t.strip() for t in page.locator(selector).all_inner_texts()]


def test_dashboard_in_a_real_browser(served, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(60_000)
    page = context.new_page()
    errors, requests = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda r: requests.append(r.url))

    # sign in: the dashboard sends a browser without a session to the token form
    page.goto(f"{served.url}/?now={PINNED}")
    assert urlsplit(page.url).path == "/login"
    page.fill("#token", "not-the-token-0123456789")
    page.click("button[type=submit]")
    assert page.locator("#login-error").is_visible()
    page.fill("#token", STAFF)
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-loaded=true]")  # the live (unpinned) dashboard
    page.goto(f"{served.url}/?now={PINNED}")
    page.wait_for_selector("body[data-loaded=true]")
    page.wait_for_selector("#chart-cost_by_organization[data-rendered=true]")
    page.screenshot(path=served.shots / "dashboard.png", full_page=True)

    # cards: the window 13:31-14:30 holds a5 received+completed, b3 received, transcription_failed
    # and artifact_failed: 2 received, 1 completed, 1 failed = 1 / (1 + 1) = 50 %, 2 *_failed
    card = {m: page.locator(f".card[data-metric={m}] .value").inner_text()
            for m in ("artifacts_received", "artifacts_completed", "artifacts_failed",
                      "failure_rate", "transcriptions_completed", "failures")}
    assert card == {"artifacts_received": "2", "artifacts_completed": "1",
                    "artifacts_failed": "1", "failure_rate": "50.0 %",
                    "transcriptions_completed": "0", "failures": "2"}
    assert page.locator("#window").inner_text() == "2026-02-16 13:31:00 – 2026-02-16 14:30:00 UTC"

    # freshness: newest event 14:20 (10 min old, fresh); hourly snapshot 13:00 is the one
    # expected at 14:30; no daily rollup ran, so the daily row is stale (red)
    fresh = page.locator("#freshness tr")
    assert fresh.nth(0).inner_text().split("\t")[1:] == ["2026-02-16 14:20:00", "10.0 min ago"]
    assert fresh.nth(1).inner_text().split("\t")[1:] == ["2026-02-16 13:00:00", "30.0 min ago"]
    stale = [fresh.nth(i).get_attribute("data-stale") for i in range(3)]
    assert stale == ["false", "false", "true"]
    assert fresh.nth(2).evaluate("tr => getComputedStyle(tr.cells[1]).color") == "rgb(198, 40, 40)"

    # the one active alert: the circuit breaker opened at 13:45 and never closed
    alert_row = page.locator("#alerts tbody tr")
    assert alert_row.count() == 1
    assert _text(page, "#alerts tbody tr td")[:3] == ["critical", "circuit_breaker_open", "platform"]

    # charts: four Plotly figures; values from the hourly snapshots of hours 12 and 13
    for name in ("throughput", "failure_rate", "stage_latency", "cost_by_organization"):
        assert page.locator(f"#chart-{name} .main-svg").count() > 0, name
    traces = page.evaluate("""() => Object.fromEntries(
        [...document.querySelectorAll('.chart')].map(d => [d.id, d.data.map(t => [t.name, t.x, t.y])]))""")
    received = dict(zip(traces["chart-throughput"][0][1], traces["chart-throughput"][0][2],
                        strict=True))
    assert received["2026-02-16 12:00:00"] == 6  # a1..a4, b1, b2
    assert received["2026-02-16 13:00:00"] == 1  # a5
    assert received["2026-02-16 14:00:00"] is None  # not rolled up yet: a gap, not a zero
    failure = dict(zip(*traces["chart-failure_rate"][0][1:], strict=True))
    assert failure["2026-02-16 12:00:00"] == 20.0  # a4 failed, a1-a3 and b1 completed: 1/5
    latency = {t[0]: dict(zip(t[1], t[2], strict=True)) for t in traces["chart-stage_latency"]}
    assert latency["transcription"]["2026-02-16 12:00:00"] == 1.5  # 1,500 ms
    assert latency["draft_generation"]["2026-02-16 12:00:00"] == 30.0
    shapes = page.evaluate("() => document.getElementById('chart-failure_rate').layout.shapes.map(s => s.y0)")
    assert sorted(shapes) == [10, 25]  # the alert config's thresholds, in %
    assert page.evaluate("() => document.getElementById('chart-stage_latency').layout.yaxis.type") == "log"

    # organizations over the 48 h: org-a a1..a5 received, 4 completed, a4 failed -> 20.0 %,
    # 5 x $0.50 = $2.50, $0.50 each; org-b b1, b2 (b3 is in the unbuilt hour 14): $0.50, $0.25 each
    orgs = [r.split("\t") for r in _text(page, "#orgs tbody tr")]
    assert [r[:5] + r[6:] for r in orgs] == [
        ["org-a", "5", "4", "1", "20.0 %", "$2.50", "$0.50"],
        ["org-b", "2", "1", "0", "0.0 %", "$0.50", "$0.25"],
    ]

    # event log: 29 events, 25 a page, newest first
    rows = page.locator("#events tbody tr")
    assert rows.count() == 25
    assert rows.first.inner_text().startswith("2026-02-16 14:20:00\tartifact_failed")
    page.click("#events-next")
    page.wait_for_selector("#events-page:has-text('page 2')")
    assert _text(page, "#events tbody tr td:nth-child(5)") == ["a4", "a3", "a2", "a1"]
    page.screenshot(path=served.shots / "events-page-2.png", full_page=True)

    # an artifact's timeline: a1 has four events
    page.click("#events tbody a.artifact:text-is('a1')")
    page.wait_for_selector("#timeline-panel:not([hidden])")
    assert _text(page, "#timeline tbody tr td:nth-child(2)") == [
        "artifact_received", "transcription_completed", "drafts_generated", "artifact_completed"]
    assert _text(page, "#timeline tbody tr td:nth-child(4)") == ["", "1.50 s", "30.0 s", ""]

    # filters: org-b and errors only -> b3's transcription_failed and artifact_failed
    page.select_option("#event-filters select[name=stage]", "")
    page.fill("#event-filters input[name=org]", "org-b")
    page.check("#event-filters input[name=errors_only]")
    page.click("#event-filters button[type=submit]")
    expect(page.locator("#events tbody tr")).to_have_count(2)
    assert _text(page, "#events tbody tr td:nth-child(2)") == ["artifact_failed",
                                                               "transcription_failed"]

    # acknowledge the alert: the row says who, and the API agrees
    page.click("#alerts button:text-is('Acknowledge')")
    page.wait_for_selector("#alerts tbody tr td:has-text('staff-token-1 at')")
    page.screenshot(path=served.shots / "acknowledged.png", full_page=True)
    listed = served.http.get(served.url + "/api/v1/alerts", headers=bearer(STAFF)).json()
    assert [a["acknowledged_by"] for a in listed["alerts"]] == ["staff-token-1"]

    assert errors == []
    foreign = [u for u in requests if urlsplit(u).hostname not in ("127.0.0.1",)
               and not u.startswith("data:")]
    assert foreign == []
    context.close()


def _signed_in(served, browser, viewport=None, **options):
    """A new browser context (`viewport`, else 1400 x 1000, and `options` for it) signed in with
    the staff token, its page on the live dashboard, and the list its page errors go to."""
    context = browser.new_context(viewport=viewport or {"width": 1400, "height": 1000}, **options)
    context.set_default_timeout(60_000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{served.url}/login")
    page.fill("#token", STAFF)
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-loaded=true]")
    return context, page, errors


def test_a_page_pinned_to_a_past_moment_logs_only_the_events_stamped_by_then(served, browser):
    """At 13:00 the lake held hour 12's 23 events (a5, the breaker and b3 came later): the log
    showed b3's artifact_failed of 14:20 first, hours after the pinned moment."""
    context, page, errors = _signed_in(served, browser)
    page.goto(f"{served.url}/?now=2026-02-16T13:00:00Z")
    page.wait_for_selector("body[data-loaded=true]")
    rows = page.locator("#events tbody tr")
    expect(rows).to_have_count(23)  # a1-a4, b1, b2, 2 stage events, 4 outcomes, b1 done, 10 a2
    assert rows.first.inner_text().startswith("2026-02-16 12:39:00\tartifact_status_changed")
    assert rows.last.inner_text().startswith("2026-02-16 12:01:00\tartifact_received")
    assert page.locator("#events-next").is_disabled()
    assert errors == []
    context.close()


def test_a_page_pinned_to_a_past_moment_shows_an_artifacts_timeline_as_it_was_then(served, browser):
    """At 14:17 b3 had been received (14:10) and failed transcription (14:15); its
    artifact_failed of 14:20 came later. The timeline panel showed all three."""
    context, page, errors = _signed_in(served, browser)
    page.goto(f"{served.url}/?now=2026-02-16T14:17:00Z#artifact=b3")
    page.wait_for_selector("#timeline-panel:not([hidden])")
    # the breaker's alert was raised by the 14:30 check: at 14:17 no alert was active
    expect(page.locator("#alerts tbody")).to_have_text("No alert was active at that moment.")
    assert page.locator("#alert-count").inner_text() == "(0)"
    assert _text(page, "#timeline tbody tr td:nth-child(2)") == [
        "artifact_received", "transcription_failed"]
    # opened from the event log, as then: b3's two events are the newest two
    page.click("#timeline-close")
    page.click("#events tbody a.artifact:text-is('b3') >> nth=0")
    page.wait_for_selector("#timeline-panel:not([hidden])")
    assert _text(page, "#timeline tbody tr td:nth-child(2)") == [
        "artifact_received", "transcription_failed"]
    # before b3 was received (14:10) its timeline is empty, and says so
    page.goto(f"{served.url}/?now=2026-02-16T14:05:00Z#artifact=b3")
    page.wait_for_selector("#timeline-panel:not([hidden])")
    assert _text(page, "#timeline tbody tr") == [
        "No event of this artifact is stamped at or before that moment."]
    assert errors == []
    context.close()


def test_a_moment_pinned_without_an_offset_is_utc_in_a_browser_elsewhere(served, browser):
    """?now= without an offset is UTC, as the API reads it; a browser in New York took it as its
    local time for the organization table's 48 hours (up to 18:00 UTC, a5 of 13:40 in), while
    every other panel ended at 13:00 UTC; the header said "pinned to" the text as typed."""
    context, page, errors = _signed_in(served, browser, timezone_id="America/New_York")
    # an hour alone (2026-02-16T13) is a time to the API: the organizations panel said it was none
    for pinned in ("2026-02-16T13:00:00", "2026-02-16T08:00:00-05:00", "2026-02-16T13",
                   "2026-02-16T08-05:00"):
        page.goto(f"{served.url}/?now={pinned.replace('+', '%2B')}")
        page.wait_for_selector("body[data-loaded=true]")
        # hour 12's snapshot only: org-a a1..a4 received, a4 failed; org-b b1, b2
        orgs = [r.split("\t")[:4] for r in _text(page, "#orgs tbody tr")]
        assert orgs == [["org-a", "4", "3", "1"], ["org-b", "2", "1", "0"]], pinned
        assert page.locator("#clock").inner_text().endswith(
            " · pinned to 2026-02-16 13:00:00 UTC"), pinned
    # no time at all: every panel says so as the API does (the organizations' "Invalid time
    # value" was the browser's)
    page.goto(f"{served.url}/?now=yesterday")
    page.wait_for_selector("body[data-loaded=true]")
    # one line: the API's words once, after every panel they stop (the organizations' own check
    # says it in the same words)
    panels, said = page.locator("#error").inner_text().split(": ", 1)
    assert said == "now 'yesterday' is not an ISO-8601 time; use e.g. 2026-02-16T14:30:00Z"
    assert set(panels.split(", ")) == PANELS
    assert errors == []
    context.close()


PANELS = {"real-time counters", "freshness", "alerts", "event log", "organizations",
          "chart throughput", "chart failure_rate", "chart stage_latency",
          "chart cost_by_organization"}


def test_a_missing_lake_is_one_line_naming_its_panels_and_the_clock_says_not_updated(
        served, browser):
    """With the lake gone (every /api/v1 answer 503, the same words) the red line said them nine
    times, once per panel, each with its API path; and the clock said "updated" at that moment
    while each panel kept what it had shown before. Now the words come once, after the panels,
    and the clock says not all were updated."""
    context, page, errors = _signed_in(served, browser)
    page.uncheck("#auto-refresh")
    page.goto(f"{served.url}/?now={PINNED}")
    page.wait_for_selector("body[data-loaded=true]")
    assert page.locator("#error").is_hidden()
    assert page.locator("#clock").inner_text().startswith("updated ")
    missing = ("the server's lake is missing (unmounted, moved or deleted? the server's log "
               "says where); try again in a moment")
    page.route("**/api/v1/**", lambda route: route.fulfill(status=503, json={"detail": missing}))
    page.evaluate("refresh({all: true})")
    panels, said = page.locator("#error").inner_text().split(": ", 1)
    assert said == missing
    assert set(panels.split(", ")) == PANELS
    assert page.locator("#clock").inner_text().startswith("not all updated (see the red line) ")
    # what the panels showed before stays (b3's artifact_failed of 14:20, the one failure in
    # the hour before 14:30), said to be old by the clock
    assert page.locator(".card[data-metric=artifacts_failed] .value").inner_text() == "1"
    page.unroute("**/api/v1/**")
    page.evaluate("refresh({all: true})")
    assert page.locator("#error").is_hidden()
    assert page.locator("#clock").inner_text().startswith("updated ")
    assert errors == []
    context.close()


def test_a_next_page_that_fails_to_load_is_not_turned_to(served, browser):
    """'Next page' counted on before its rows came: when they did not (the lake gone a moment),
    the label said page 2 over page 1's rows, and a second click loaded the newest rows (no
    cursor for page 3) as 'page 3'. The buttons were live before any page had loaded, too."""
    context, page, errors = _signed_in(served, browser)
    failing = ("**/api/v1/events?**", lambda route: route.fulfill(
        status=503, json={"detail": "the server's lake is missing"}))
    page.route(*failing)
    page.goto(f"{served.url}/?now={PINNED}")
    page.wait_for_selector("body[data-loaded=true]")
    expect(page.locator("#events-next")).to_be_disabled()  # no page loaded: none to turn
    expect(page.locator("#events-first")).to_be_disabled()
    page.unroute(failing[0])
    page.uncheck("#auto-refresh")
    page.evaluate("refresh({all: true})")
    rows = page.locator("#events tbody tr")
    expect(rows).to_have_count(25)  # 29 events, 25 a page
    first = _text(page, "#events tbody tr")
    page.route(*failing)
    for _ in range(2):
        page.click("#events-next")
        expect(page.locator("#error")).to_have_text("event log: the server's lake is missing")
        assert page.locator("#events-page").inner_text() == "page 1"
        assert _text(page, "#events tbody tr") == first
    page.unroute("**/api/v1/events?**")
    page.click("#events-next")
    expect(page.locator("#events-page")).to_have_text("page 2")
    expect(rows).to_have_count(4)  # the 4 oldest
    assert page.locator("#error").is_hidden()
    assert errors == []
    context.close()


def test_next_page_is_one_turn_at_a_time_while_its_rows_load(served, browser):
    """A second click on 'Next page' while the first page's rows were on their way found no
    cursor for page 3 (it comes with page 2) and loaded the newest rows labelled 'page 3'
    (226e5cc fixed that for a page that fails to load, not for one that is slow)."""
    context, page, errors = _signed_in(served, browser)
    page.uncheck("#auto-refresh")
    rows = page.locator("#events tbody tr")
    expect(rows).to_have_count(25)  # 29 events, 25 a page
    held = []
    # page 2's answer waits for the test
    page.route("**/api/v1/events?**", lambda route: held.append(route))
    page.click("#events-next")
    for _ in range(600):  # until the click's request reaches the route (not a timing assert)
        if held:
            break
        page.wait_for_timeout(50)
    assert len(held) == 1
    expect(page.locator("#events-next")).to_be_disabled()  # no second turn meanwhile
    held[0].continue_()
    expect(page.locator("#events-page")).to_have_text("page 2")
    expect(rows).to_have_count(4)  # the 4 oldest
    expect(page.locator("#events-next")).to_be_disabled()  # the last page
    page.unroute("**/api/v1/events?**")
    assert errors == []
    context.close()


def test_only_the_latest_load_of_the_event_log_is_shown(served, browser):
    """A filter applied while page 2 loaded, or while a refresh loaded the log: the older
    answer, drawn last, showed page 2's unfiltered rows as the filter's 'page 1' (or every
    organization's under the filter), its cursor taken for the next page."""
    context, page, errors = _signed_in(served, browser)
    page.uncheck("#auto-refresh")
    rows = page.locator("#events tbody tr")
    expect(rows).to_have_count(25)  # 29 events, 25 a page
    held = []
    page.route("**/api/v1/events?**", lambda route: held.append(route))

    def wait_held(n: int) -> None:
        for _ in range(600):  # until the request reaches the route (not a timing assert)
            if len(held) == n:
                return
            page.wait_for_timeout(50)
        assert len(held) == n

    def answer(route) -> None:
        settled = page.evaluate("state.eventsSettled")
        route.continue_()
        page.wait_for_function("(n) => state.eventsSettled === n", arg=settled + 1)

    def filter_org(org: str, n: int) -> None:
        page.fill("#event-filters input[name=org]", org)
        page.click("#event-filters button[type=submit]")
        wait_held(n)

    def shows_org_b() -> None:
        # org-b's 6: b1, b2 received, b1 completed, b3 received, its transcription failed, failed
        shown = _text(page, "#events tbody tr")
        assert len(shown) == 6 and {r.split("\t")[3] for r in shown} == {"org-b"}
        assert page.locator("#events-page").inner_text() == "page 1"
        assert page.locator("#events-next").is_disabled()

    page.click("#events-next")  # page 2 (the 4 oldest) is on its way...
    wait_held(1)
    filter_org("org-b", 2)  # ...when a filter is applied
    answer(held[1])  # the filtered page comes first
    answer(held[0])  # then page 2's, too late to be shown
    shows_org_b()
    filter_org("", 3)
    answer(held[2])
    expect(rows).to_have_count(25)
    page.evaluate("() => { refresh(); }")  # a refresh (not awaited) loads the log...
    wait_held(4)
    filter_org("org-b", 5)  # ...when the filter is applied again
    answer(held[4])
    answer(held[3])
    shows_org_b()
    page.unroute("**/api/v1/events?**")
    assert errors == []
    context.close()


def test_a_filter_the_api_refuses_shows_its_error_not_the_previous_filters_rows(
        served, browser):
    """A filter the API refused (a 300-character organization) left the last filter's rows in
    the log under the new form values: org-b's events shown under an organization they are not
    of. The panel now says why it shows none; a filter that loads shows its rows again."""
    context, page, errors = _signed_in(served, browser)
    page.uncheck("#auto-refresh")
    rows = page.locator("#events tbody tr")
    page.fill("#event-filters input[name=org]", "org-b")
    page.click("#event-filters button[type=submit]")
    expect(rows).to_have_count(6)  # org-b's 6 events
    page.fill("#event-filters input[name=org]", "o" * 300)
    page.click("#event-filters button[type=submit]")
    expect(page.locator("#error")).to_contain_text("event log: ")
    said = page.locator("#error").inner_text().removeprefix("event log: ")
    assert "256" in said  # the server's words: an id is 1-256 characters
    expect(rows).to_have_count(1)
    assert _text(page, "#events tbody tr") == [
        f"These filters did not load: {said}. No rows are shown (those shown before were the "
        "previous filters')."]
    assert page.locator("#events-page").inner_text() == ""
    assert page.locator("#events-next").is_disabled()
    assert page.locator("#events-first").is_disabled()
    # a refresh of the refused filter fails again: still no other filter's rows
    page.evaluate("refresh({all: true})")
    assert _text(page, "#events tbody tr")[0].startswith("These filters did not load: ")
    page.fill("#event-filters input[name=org]", "org-a")
    page.click("#event-filters button[type=submit]")
    # org-a's: a1..a5 received (5), a1..a3, a5 completed (4), a4's failure (2 events) ... all
    # of org-a, none of another organization
    expect(page.locator("#events-page")).to_have_text("page 1")
    shown = _text(page, "#events tbody tr")
    assert shown and {r.split("\t")[3] for r in shown} == {"org-a"}
    assert page.locator("#error").is_hidden()
    assert errors == []
    context.close()


def test_the_timeline_shows_the_last_artifact_clicked(served, browser):
    """Two artifacts clicked one after the other: the first one's answer, coming last, was
    drawn over the second's."""
    context, page, errors = _signed_in(served, browser)
    page.uncheck("#auto-refresh")
    expect(page.locator("#events tbody tr")).to_have_count(25)
    held = []
    page.route("**/api/v1/artifacts/*/timeline*", lambda route: held.append(route))
    for n, artifact in enumerate(("b3", "a5"), 1):
        page.locator("#events a.artifact", has_text=artifact).first.click()
        for _ in range(600):  # until the request reaches the route (not a timing assert)
            if len(held) == n:
                break
            page.wait_for_timeout(50)
        assert len(held) == n
    for route in (held[1], held[0]):  # a5's answer first, then b3's
        settled = page.evaluate("state.timelinesSettled")
        route.continue_()
        page.wait_for_function("(n) => state.timelinesSettled === n", arg=settled + 1)
    assert page.locator("#timeline-artifact").inner_text() == "a5"
    # a5: received 13:40, completed 13:50
    assert [r.split("\t")[1] for r in _text(page, "#timeline tbody tr")] == [
        "artifact_received", "artifact_completed"]
    page.unroute("**/api/v1/artifacts/*/timeline*")
    assert errors == []
    context.close()


def test_a_timed_refresh_waits_for_the_last_one_to_end(served, browser):
    """Every 15 s a refresh began, however many before it were still waiting: a slow server
    got ever more requests from each open page, and an older round could land last."""
    context, page, errors = _signed_in(served, browser)
    held = []
    page.route("**/api/v1/metrics/realtime*", lambda route: held.append(route))

    def wait_held(n: int) -> None:
        for _ in range(600):  # until the request reaches the route (not a timing assert)
            if len(held) >= n:
                break
            page.wait_for_timeout(50)
        assert len(held) == n

    page.wait_for_function("() => state.refreshing === 0")
    assert page.evaluate("() => { tick(); return state.refreshing; }") == 1
    wait_held(1)
    # ticks while its real-time counters are on their way start no other round
    assert page.evaluate("() => { tick(); tick(); return state.refreshing; }") == 1
    held[0].continue_()
    page.wait_for_function("() => state.refreshing === 0")
    assert len(held) == 1
    page.evaluate("() => { tick(); }")  # the round over, the next tick refreshes
    wait_held(2)
    held[1].continue_()
    page.unroute("**/api/v1/metrics/realtime*")
    assert errors == []
    context.close()


def test_a_request_never_answered_ends_its_round_and_is_said(served, browser):
    """A timed refresh waits for the last round to end (f15e3ef): one answer that never came
    stopped every later refresh, without a word. A request unanswered for state.apiTimeoutMs
    (2 minutes; here 1 s) fails its panel in the red line, and the next tick refreshes."""
    context, page, errors = _signed_in(served, browser)
    held = []
    page.route("**/api/v1/metrics/realtime*", lambda route: held.append(route))
    page.wait_for_function("() => state.refreshing === 0")
    page.evaluate("() => { state.apiTimeoutMs = 1000; tick(); }")
    page.wait_for_function("() => state.refreshing === 0")  # ended, its answer never given
    expect(page.locator("#error")).to_contain_text("no answer from the server in 1 s")
    assert len(held) == 1
    page.evaluate("() => { state.apiTimeoutMs = 120000; tick(); }")
    for _ in range(600):  # until the request reaches the route (not a timing assert)
        if len(held) == 2:
            break
        page.wait_for_timeout(50)
    assert len(held) == 2
    held[1].continue_()
    page.wait_for_function("() => state.refreshing === 0")
    expect(page.locator("#error")).to_be_hidden()
    page.unroute("**/api/v1/metrics/realtime*")
    assert errors == []
    context.close()


def test_what_a_panel_read_around_is_said_in_the_red_line(served, browser):
    """An unreadable snapshot file (its hour drawn as not built) or organizations file (every
    name 'Unknown') was in the API's answers only: the page drew the charts and the table as if
    nothing were missing. Answers as the server gives them on such a lake (the API's test:
    test_queries_unreadable), the panels that read the same file on one line."""
    said = ("1 hour(s) (2026-02-16T13:00:00Z) read as having no snapshot: unreadable lake file "
            "snapshots/pipeline_hourly/date=2026-02-16/hour=13/x.parquet (not parquet); move "
            "it aside with: voice-monitor lake check --move-aside --lake /lake")
    unreadable = {"files": ["snapshots/pipeline_hourly/date=2026-02-16/hour=13/x.parquet"],
                  "periods": ["2026-02-16T13:00:00Z"]}
    names = "dimensions/organizations.parquet cannot be read, so every name is 'Unknown'"

    def answered_with(route, query: str, **extra) -> None:
        answer = route.fetch()
        route.fulfill(response=answer, json={**answer.json(), **extra, "snapshots_unreadable": {
            **unreadable, "message": f"{query}: {said}"}})

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(60_000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.route("**/api/v1/metrics/orgs?**", lambda route: answered_with(
        route, "org_breakdown", names_unreadable=names))
    page.route("**/api/v1/charts/throughput", lambda route: answered_with(
        route, "historical_metrics"))
    page.goto(f"{served.url}/login")
    page.fill("#token", STAFF)
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-loaded=true]")
    expect(page.locator("#error")).to_contain_text("chart throughput: ")
    expect(page.locator("#error")).to_contain_text("organizations: ")
    assert set(page.locator("#error").inner_text().split(" · ")) == {
        f"chart throughput: {said}", f"organizations: {said}; {names}"}
    expect(page.locator("#chart-throughput")).to_have_attribute("data-rendered", "true")
    # drawn all the same (unpinned: the served lake's hours are months before the clock)
    expect(page.locator("#orgs tbody")).to_have_text("No organization snapshots in the last 48 hours.")
    page.screenshot(path=str(served.shots / "read-around.png"))
    assert errors == []
    context.close()


def test_a_failed_acknowledgement_is_said_then_goes_once_the_page_refreshed(served, browser):
    """"already acknowledged by ..." (another tab was first) stayed in the red line for as long
    as the page was open, the row beside it showing who had acknowledged."""
    context, page, _ = _signed_in(served, browser)
    page.uncheck("#auto-refresh")
    alert = {"alert_id": "al-1", "alert_type": "circuit_breaker_open", "organization_id": None,
             "severity": "critical", "status": "active", "message": "breaker open",
             "value": None, "threshold": None, "raised_at": "2026-02-16T14:30:00Z",
             "resolved_at": None, "acknowledged_at": None, "acknowledged_by": None,
             "acknowledged_note": None}
    taken = "alert al-1 is already acknowledged by bob at 2026-02-16T14:31:00Z"
    page.route("**/api/v1/alerts", lambda route: route.fulfill(json={"alerts": [alert]}))
    page.route("**/api/v1/alerts/al-1/ack",
               lambda route: route.fulfill(status=409, json={"detail": taken}))
    page.evaluate("refresh()")
    page.click("#alerts button:text-is('Acknowledge')")
    expect(page.locator("#error")).to_have_text(f"acknowledge: {taken}")
    page.evaluate("refresh()")  # at once after it: still said
    assert page.locator("#error").inner_text() == f"acknowledge: {taken}"
    page.evaluate("refresh()")  # a whole interval later: gone
    assert page.locator("#error").is_hidden()
    context.close()


def test_page_and_assets_name_no_external_url(served):
    """The HTML, CSS and JS of the page name no other host (Plotly's bundle is vendored)."""
    with client() as http:
        for path in ("/", "/login", "/static/dashboard.js", "/static/dashboard.css"):
            response = http.get(served.url + path, headers=bearer(STAFF))
            assert response.status_code == 200, path
            assert re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", response.text) == [], path
        page = http.get(served.url + "/", headers=bearer(STAFF))
        assert "default-src 'self'" in page.headers["content-security-policy"]
        plotly_js = http.get(served.url + "/static/plotly-basic.min.js")
        assert plotly_js.status_code == 200 and "plotly.js" in plotly_js.text[:500]
        assert http.get(served.url + "/static/../auth.py").status_code == 404


def test_acknowledge_refuses_cross_site_requests(served):
    """A signed-in browser's session cannot acknowledge from another site, or with no Origin."""
    with client() as http:
        http.post(served.url + "/login", data={"token": STAFF}, follow_redirects=False)
        assert http.cookies.get("voice_monitor_session")
        before = http.get(served.url + "/api/v1/alerts").json()["alerts"][0]
        path = f"{served.url}/api/v1/alerts/{before['alert_id']}/ack"
        for headers in ({}, {"Origin": "http://evil.example"},
                        {"Referer": "http://evil.example/page"}, {"Origin": "null"}):
            response = http.post(path, json={"by": "mallory"}, headers=headers)
            assert response.status_code == 403, headers
            assert "cross-site" in response.json()["detail"]
        after = http.get(served.url + "/api/v1/alerts").json()["alerts"][0]
        assert after["acknowledged_at"] == before["acknowledged_at"]  # nothing was recorded
        same = http.post(path, json={"by": "alice"}, headers={"Origin": served.url})
        # past the cross-site check; an alert is acknowledged once, so when the page test above
        # acknowledged it first, the answer is 409 naming that first acknowledgement, kept
        if before["acknowledged_by"] is None:
            assert same.status_code == 200 and same.json()["acknowledged_by"] == "alice"
        else:
            assert same.status_code == 409, same.text
            assert same.json()["alert"]["acknowledged_by"] == before["acknowledged_by"]


def test_an_hour_a_timeline_left_out_is_said_in_the_red_line(tmp_path, browser):
    """The API's timeline reads around an unreadable event file, leaving its hour out and saying
    so in `events_unreadable`; the page drew the rest (or "No event of this artifact is in the
    lake.") as if nothing were missing. A real truncated file in a real lake: a1 has two events
    in hour 12 and one in hour 13, where the damaged file is; a9 has its one event in hour 13."""
    needs_chromium()
    lake = Lake(tmp_path / "lake")
    land_records(lake, [
        event("artifact_received", at(12, 1), artifact_id="a1"),
        event("transcription_completed", at(12, 5), artifact_id="a1", duration_ms=2000),
        event("artifact_completed", at(13, 10), artifact_id="a1"),
        event("artifact_received", at(13, 20), artifact_id="a9"),
    ], now=NOW)
    hour = lake.root / "events" / "date=2026-02-16" / "hour=13"
    (good,) = hour.glob("*.parquet")
    (hour / "zz-truncated.parquet").write_bytes(good.read_bytes()[:200])
    said = ("the events of 1 hour(s) (2026-02-16T13:00:00Z) are left out of this answer: "
            "unreadable lake file events/date=2026-02-16/hour=13/zz-truncated.parquet")
    # the event log reads around the hour too, and one line names both panels in the order
    # they loaded: 'timeline, event log: …' as often as 'event log, timeline: …'
    by_timeline = re.compile(f"timeline(, event log)?: {re.escape(said)}")
    with ServerProcess(lake, log=tmp_path / "server.log") as server:
        context, page, errors = _signed_in(server, browser)
        page.uncheck("#auto-refresh")
        page.goto(f"{server.url}/?now={PINNED}#artifact=a1")
        page.wait_for_selector("#timeline-panel:not([hidden])")
        assert _text(page, "#timeline tbody tr td:nth-child(2)") == [
            "artifact_received", "transcription_completed"]  # hour 13's completion left out
        expect(page.locator("#error")).to_contain_text(by_timeline)
        assert "move it aside with: voice-monitor lake check --move-aside --lake" in (
            page.locator("#error").inner_text())
        # the event log reads around the hour too (it showed only the error): hour 12's
        # events, and the same words, so one line names both panels (in the order they loaded)
        expect(page.locator("#error")).to_contain_text(
            re.compile(f"(event log, timeline|timeline, event log): {re.escape(said)}"))
        assert _text(page, "#events tbody tr td:nth-child(2)") == [
            "transcription_completed", "artifact_received"]
        page.screenshot(path=str(tmp_path / "timeline-read-around.png"))
        page.goto("about:blank")  # (a new page: the old one keeps its red line)
        page.goto(f"{server.url}/?now={PINNED}#artifact=a9")
        page.wait_for_selector("#timeline-panel:not([hidden])")
        assert _text(page, "#timeline tbody tr") == [
            "No event of this artifact could be read: an hour of the lake is left out (see the "
            "red line)."]
        expect(page.locator("#error")).to_contain_text(by_timeline)
        page.click("#timeline-close")  # the timeline's warning goes with it, not the log's
        expect(page.locator("#error")).not_to_contain_text("timeline: ")
        expect(page.locator("#error")).to_contain_text(f"event log: {said}")
        assert errors == []
        context.close()


def test_a_timeline_link_pasted_into_an_open_page_opens_that_timeline(served, browser):
    """A link to another artifact (`#artifact=b3`) pasted into the address bar of the open page
    changes only its hash, so the page is not loaded again: the timeline it names was never
    opened, the panel kept showing the artifact of before."""
    context, page, errors = _signed_in(served, browser)
    page.uncheck("#auto-refresh")
    page.goto(f"{served.url}/?now={PINNED}#artifact=a1")
    page.wait_for_selector("#timeline-panel:not([hidden])")
    expect(page.locator("#timeline-artifact")).to_have_text("a1")
    page.evaluate("() => { window.sameDocument = true; }")
    page.goto(f"{served.url}/?now={PINNED}#artifact=b3")
    assert page.evaluate("() => window.sameDocument")  # the page was not loaded again
    expect(page.locator("#timeline-artifact")).to_have_text("b3")
    assert _text(page, "#timeline tbody tr td:nth-child(2)") == [
        "artifact_received", "transcription_failed", "artifact_failed"]
    assert errors == []
    context.close()


def test_an_acknowledgement_the_server_never_got_is_not_said_to_be_tried_again(served, browser):
    """The server out of reach (e342ac6's words for a panel, "the page tries again at each
    refresh") as Acknowledge is pressed: the red line said so of the acknowledgement too,
    which nothing sends again. It says the acknowledgement was not recorded; the button is
    back for another press."""
    context, page, errors = _signed_in(served, browser)
    page.uncheck("#auto-refresh")
    alert = {"alert_id": "al-2", "alert_type": "circuit_breaker_open", "organization_id": None,
             "severity": "critical", "status": "active", "message": "breaker open",
             "value": None, "threshold": None, "raised_at": "2026-02-16T14:30:00Z",
             "resolved_at": None, "acknowledged_at": None, "acknowledged_by": None,
             "acknowledged_note": None}
    page.route("**/api/v1/alerts", lambda route: route.fulfill(json={"alerts": [alert]}))
    page.evaluate("refresh()")
    page.route("**/api/v1/alerts/al-2/ack", lambda route: route.abort("connectionrefused"))
    page.click("#alerts button:text-is('Acknowledge')")
    expect(page.locator("#error")).to_have_text(
        "acknowledge: the server cannot be reached (stopped, restarting, or the network is "
        "down): the acknowledgement was not recorded; press Acknowledge again once the server "
        "is back")
    expect(page.locator("#alerts button:text-is('Acknowledge')")).to_be_enabled()
    page.unroute("**/api/v1/alerts/al-2/ack")
    page.unroute("**/api/v1/alerts")
    assert errors == []
    context.close()


def test_a_server_that_cannot_be_reached_is_said_in_plain_words(served, browser):
    """With the server stopped (a restart, a network fault) every panel's fetch fails without an
    answer, and the red line said the browser's own words, "Failed to fetch" (Firefox's:
    "NetworkError when attempting to fetch resource."), once for the nine panels."""
    context, page, errors = _signed_in(served, browser)
    page.uncheck("#auto-refresh")
    page.route("**/api/v1/**", lambda route: route.abort("connectionrefused"))
    page.evaluate("refresh({all: true})")
    panels, said = page.locator("#error").inner_text().split(": ", 1)
    assert said == ("the server cannot be reached (stopped, restarting, or the network is "
                    "down); the page tries again at each refresh")
    assert set(panels.split(", ")) == PANELS
    assert page.locator("#clock").inner_text().startswith("not all updated (see the red line) ")
    page.unroute("**/api/v1/**")
    page.evaluate("refresh({all: true})")
    assert page.locator("#error").is_hidden()
    assert errors == []
    context.close()


def test_on_a_phone_the_page_is_no_wider_than_the_screen_and_freshness_breaks_between_words(
        served, browser):
    """At 390 px (a phone, the page's viewport meta and its one-column layout below 900 px) the
    header's Sign out was cut off the screen, the organizations table widened the page to ~600
    px, and the freshness ages, squeezed to their padding, stood one letter a line."""
    context, page, errors = _signed_in(served, browser, viewport={"width": 390, "height": 844})
    page.goto(f"{served.url}/?now={PINNED}")
    page.wait_for_selector("body[data-loaded=true]")
    page.screenshot(path=served.shots / "phone.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") == 390
    sign_out = page.locator("header form button").bounding_box()
    assert sign_out["x"] >= 0 and sign_out["x"] + sign_out["width"] <= 390
    # each freshness cell is at least as wide as its widest word, measured on its own
    fits = page.evaluate("""() => [...document.querySelectorAll('#freshness th, #freshness td')]
      .filter(cell => cell.textContent.trim()).map(cell => {
        const probe = document.createElement('span');
        probe.style.whiteSpace = 'nowrap';
        cell.append(probe);
        let widest = 0;
        for (const word of cell.textContent.split(/\\s+/).filter(Boolean)) {
          probe.textContent = word;
          widest = Math.max(widest, probe.getBoundingClientRect().width);
        }
        probe.remove();
        const style = getComputedStyle(cell);
        const inner = cell.clientWidth - parseFloat(style.paddingLeft)
          - parseFloat(style.paddingRight);
        return [cell.textContent, inner + 0.5 >= widest];
      })""")
    assert [text for text, fit in fits if not fit] == []
    assert "10.0 min ago" in [text for text, _ in fits]  # the ages were measured too
    # the event log's times, types and stages are whole on one line ('artifa ct_re ceive d')
    broken = page.evaluate("""() => [...document.querySelectorAll('#events tbody tr')]
      .flatMap(row => [...row.cells].slice(0, 3)).filter(cell => cell.textContent)
      .filter(cell => cell.getClientRects().length && (() => {
        const range = document.createRange();
        range.selectNodeContents(cell);
        return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size > 1;
      })()).map(cell => cell.textContent)""")
    assert page.locator("#events tbody tr").count() == 25
    assert broken == []
    assert errors == []
    context.close()


def test_an_escalated_alert_says_when_it_escalated(served, browser):
    """The API sends an escalated alert's escalated_at, and the page showed only its new
    severity: a critical that was a high until 14:35 read as critical since its raise. Beside
    the severity it now says 'escalated 14:35' (the day too when not the raise's); an alert
    never escalated shows its severity alone."""
    context, page, errors = _signed_in(served, browser)
    page.uncheck("#auto-refresh")
    base = {"alert_type": "high_failure_rate", "organization_id": None, "status": "active",
            "message": "failure rate", "value": 0.3, "threshold": 0.25, "resolved_at": None,
            "acknowledged_at": None, "acknowledged_by": None, "acknowledged_note": None}
    rows = [
        {**base, "alert_id": "al-1", "severity": "critical", "raised_at": "2026-02-16T14:30:00Z",
         "escalated_at": "2026-02-16T14:35:00Z"},
        {**base, "alert_id": "al-2", "severity": "critical", "organization_id": "org-a",
         "raised_at": "2026-02-16T23:55:00Z", "escalated_at": "2026-02-17T00:05:00Z"},
        {**base, "alert_id": "al-3", "severity": "high", "organization_id": "org-b",
         "raised_at": "2026-02-16T14:30:00Z", "escalated_at": None}]
    page.route("**/api/v1/alerts", lambda route: route.fulfill(json={"alerts": rows}))
    page.evaluate("refresh()")
    expect(page.locator("#alert-count")).to_have_text("(3)")
    assert _text(page, "#alerts tbody tr td:first-child") == [
        "critical escalated 14:35", "critical escalated 2026-02-17 00:05", "high"]
    page.unroute("**/api/v1/alerts")
    assert errors == []
    context.close()


CHART_TEXTS = """() => [...document.querySelectorAll('.chart')].flatMap(chart => {
  const box = chart.getBoundingClientRect();
  return [...chart.querySelectorAll('.gtitle, .bartext, .legendtext, .xtick text, .ytick text, '
                                    + '.g-xtitle text, .g-ytitle text, .annotation-text')]
    .map(text => [chart.id, text.textContent, text.getBoundingClientRect()])
    .filter(([, , r]) => r.width)
    .map(([id, said, r]) => [id, said, r.left >= box.left && r.right <= box.right]);
})"""


def test_on_a_phone_chart_titles_and_cost_labels_are_not_cut_at_the_right_edge(served, browser):
    """At 390 px the failure-rate chart's title ('Failure rate per hour, failed / (completed +
    failed)', ~367 px in a 336 px chart) and the cost chart's largest label ('$2.50', outside
    its bar) ran past the chart's right edge and were cut. On a wide screen the charts are
    drawn as charts.py defines them (the notebooks draw the same definitions)."""
    def texts_of(page, selector):
        return page.evaluate(f"""() => [...document.querySelectorAll('{selector}')]
          .map(chart => [chart.id, [...chart.querySelectorAll('.gtitle, .bartext')]
            .map(text => {{ const r = text.getBoundingClientRect(),
                                 box = chart.getBoundingClientRect();
                           return [text.textContent, r.left >= box.left && r.right <= box.right];
                         }})])""")

    for width in (390, 1400):
        context = browser.new_context(viewport={"width": width, "height": 844})
        context.set_default_timeout(60_000)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda exc, seen=errors: seen.append(str(exc)))
        page.goto(f"{served.url}/login")
        page.fill("#token", STAFF)
        page.click("button[type=submit]")
        page.goto(f"{served.url}/?now={PINNED}")
        page.wait_for_selector("body[data-loaded=true]")
        for name in ("failure_rate", "cost_by_organization"):
            page.wait_for_selector(f"#chart-{name}[data-rendered=true]")
        shown = dict(texts_of(page, ".chart"))
        # org-a's 5 x $0.50 = $2.50, org-b's 2 x $0.25 = $0.50 (as in the organizations table)
        assert shown["chart-cost_by_organization"] == [
            ["$2.50", True], ["$0.50", True], ["AI cost per organization", True]], width
        assert shown["chart-failure_rate"] == [
            ["Failure rate per hour, failed / (completed + failed)", True]], width
        assert all(fit for texts in shown.values() for _, fit in texts), (width, shown)
        # every other text of every chart (ticks, axis titles, legends) inside it too
        every = page.evaluate(CHART_TEXTS)
        assert len({chart for chart, *_ in every}) == 4, every
        assert [text for text in every if not text[2]] == [], width
        if width == 1400:  # drawn as defined: no title shrunk, charts.py's right margin (20)
            assert page.evaluate("""() => [...document.querySelectorAll('.chart')]
              .map(chart => [chart.layout.title.font?.size, chart.layout.margin.r])""") == [
                [None, 20]] * 4
        assert errors == []
        context.close()
