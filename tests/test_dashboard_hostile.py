"""The dashboard against hostile event fields, in a real headless browser (Debian's chromium,
driven by Playwright) and a real `voice-monitor serve` process.

Anyone with an ingest token controls the text staff see: error messages, organization and
artifact ids, and (through `orgs load`) organization names; a staff member the name an alert is
acknowledged by. Every such field here carries markup or script (`<script>`, `<img onerror>`,
`<svg onload>`, `"`/`'` breaking out of attributes, `</script>`, `javascript:` links, plotly's
own `<b>`/`<br>`/`<a href>`, `&amp;`), or characters that are not what they look like (a
right-to-left override, a zero-width space, a no-break space, emoji), or is 256 characters long.
Every payload that runs sets `window.__pwned` or changes the page's title; each view is then
checked to have shown the text exactly as sent and to have run none of it.

The page is pinned to NOW with `?now=`, so the numbers hold whatever the clock says.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import pytest
from browsers import browser_fixture, needs_chromium  # noqa: F401 - the `browser` fixture
from conftest import event
from playwright.sync_api import expect
from server_process import INGEST, SCRIPT, STAFF, ServerProcess, bearer, client, free_port

from voice_monitor.health import alerts
from voice_monitor.lake import Lake
from voice_monitor.rollups import run_hourly

pytestmark = pytest.mark.slow

NOW = datetime(2026, 2, 16, 14, 30, tzinfo=UTC)
PINNED = "2026-02-16T14:30:00Z"

# organization ids (each a valid id: 1-256 characters, no control character)
ORG_SCRIPT = "<script>window.__pwned='org'</script>\"'><b>bold</b>"
ORG_LINK = "<a href=\"javascript:window.__pwned='link'\">click</a>&amp;"
ORG_BIDI = "rtl\u202eevil\u200bzw\u00a0nbsp \U0001f399\ufe0f\U0001f525"  # RLO, ZWSP, NBSP, emoji
ORG_LONG = "<br>" + "w" * 252  # 256 characters
# organization names, from `orgs load` (a CSV file)
NAME_LINK = "<i>italic</i> &amp; <br>name <a href=\"https://evil.example/\">sign in again</a>"
# artifact ids and error text
ART_ATTR = "\"><svg onload=window.__pwned='artifact'>'"
ART_BIDI = "art\u202etxt.exe\u200b"
ERROR_CODE = "</script><script>window.__pwned='code'</script>"
ERROR_MESSAGE = ("<img src=x onerror=\"window.__pwned='error';document.title='pwned'\"> "
                 "javascript:window.__pwned=1 \u202eeulav\u202c " + "e" * 300)
ACK_BY = "<img src=x onerror=window.__pwned='ack'>"
# how the page shows text with characters that draw nothing but reorder or hide the rest: each
# as a visible mark (a box reading U+202E); the charts as [U+202E]
ORG_BIDI_SHOWN = "rtlU+202EevilU+200Bzw\u00a0nbsp \U0001f399\ufe0f\U0001f525"
ORG_BIDI_CHART = "rtl[U+202E]evil[U+200B]zw\u00a0nbsp \U0001f399\ufe0f\U0001f525"
ART_BIDI_SHOWN = "artU+202Etxt.exeU+200B"
ERROR_SHOWN = ERROR_MESSAGE.replace("\u202eeulav\u202c", "U+202EeulavU+202C")


def at(hour: int, minute: int) -> datetime:
    return datetime(2026, 2, 16, hour, minute, tzinfo=UTC)


def ingested_events() -> list[dict]:
    """Landed with `voice-monitor ingest --now NOW` (the real-time counters count them at NOW):
    hour 12, three artifacts of each organization received, costing (by organization) $4, $3,
    $2 and $1 in all; hour 14, 25 artifacts of ORG_SCRIPT failed: a high_failure_rate alert for
    it (25 of 25 outcomes in the last hour) and for the platform, and no artifact received in
    the last hour (inactivity)."""
    evs = []
    for org, cost in ((ORG_SCRIPT, 4), (ORG_LINK, 3), (ORG_BIDI, 2), (ORG_LONG, 1)):
        for i in range(3):
            evs.append(event("artifact_received", at(12, i), artifact_id=f"{org[:200]}-{i}",
                             organization_id=org, metadata={"ai_cost_usd": cost / 3}))
    for i in range(25):
        evs.append(event("artifact_failed", at(14, 2), artifact_id=f"failed-{i}",
                         organization_id=ORG_SCRIPT, error_message=ERROR_MESSAGE))
    return evs


def collected_events() -> list[dict]:
    """Posted to the collector with the ingest token: two artifacts with hostile ids, their
    events the newest of the lake (14:10 and 14:11)."""
    return [
        event("transcription_failed", at(14, 10), artifact_id=ART_ATTR, organization_id=ORG_BIDI,
              error_code=ERROR_CODE, error_message=ERROR_MESSAGE),
        event("artifact_status_changed", at(14, 11), artifact_id=ART_BIDI,
              organization_id=ORG_BIDI, previous_status="<b>old</b>",
              new_status="new\u202e<script>"),
    ]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    needs_chromium()
    root = tmp_path_factory.mktemp("hostile")
    lake = Lake(root / "lake")
    with ServerProcess(lake, log=root / "server.log") as server, client() as http:
        sent = http.post(server.url + "/v1/events",
                         content="\n".join(json.dumps(e) for e in collected_events()),
                         headers={**bearer(INGEST), "Content-Type": "application/x-ndjson"})
        assert sent.json() == {"accepted": 2, "duplicates": 0, "quarantined": 0}, sent.text
        events_file = root / "events.jsonl"
        events_file.write_text("\n".join(json.dumps(e) for e in ingested_events()) + "\n")
        names_file = root / "organizations.csv"
        names_file.write_text("organization_id,name\n" + ",".join(
            '"' + v.replace('"', '""') + '"' for v in (ORG_LINK, NAME_LINK)) + "\n")
        for argv in (["ingest", str(events_file), "--now", PINNED],
                     ["orgs", "load", str(names_file)]):
            done = subprocess.run([str(SCRIPT), *argv, "--lake", str(lake.root)],
                                  capture_output=True, text=True)
            assert done.returncode == 0, done.stderr
        run_hourly(lake, now=NOW)  # hours 12 and 13
        report = alerts.run_checks(lake, NOW)
        assert sorted((a.alert_type, a.organization_id or "") for a in report.active) == [
            ("high_failure_rate", ""), ("high_failure_rate", ORG_SCRIPT), ("inactivity", "")]
        inactivity = next(a for a in report.active if a.alert_type == "inactivity")
        acked = http.post(f"{server.url}/api/v1/alerts/{inactivity.alert_id}/ack",
                          json={"by": ACK_BY}, headers=bearer(STAFF))
        assert acked.status_code == 200, acked.text
        server.http = http
        server.shots = root / "screenshots"
        server.shots.mkdir()
        yield server


class Watched:
    """A signed-in page whose console errors, uncaught exceptions and dialogs are recorded."""

    def __init__(self, browser, served):
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.context.set_default_timeout(60_000)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("dialog", lambda d: (self.errors.append(f"dialog: {d.message}"), d.dismiss()))
        self.page.goto(f"{served.url}/login")
        self.page.fill("#token", STAFF)
        self.page.click("button[type=submit]")
        self.page.wait_for_selector("body[data-loaded=true]")

    def assert_nothing_ran(self, title: str = "voice-monitor") -> None:
        page = self.page
        assert page.evaluate("() => typeof window.__pwned") == "undefined"
        assert page.title() == title
        # no element came from the data: the pages have no img, svg outside charts, iframe...
        assert page.evaluate("""() => document.querySelectorAll(
            'img, iframe, object, embed, main script, td svg, td b, td i, td a:not(.artifact)'
            ).length""") == 0
        assert self.errors == []


def _cells(page, selector: str) -> list[str]:
    return page.locator(selector).evaluate_all("cells => cells.map(c => c.textContent)")


def test_hostile_fields_are_shown_literally_and_never_run(served, browser):
    watched = Watched(browser, served)
    page = watched.page
    page.goto(f"{served.url}/?now={PINNED}")
    page.wait_for_selector("body[data-loaded=true]")
    page.wait_for_selector("#chart-cost_by_organization[data-rendered=true]")
    page.screenshot(path=served.shots / "hostile.png", full_page=True)

    # alerts: ORG_SCRIPT's own failure-rate alert names it as its scope, as sent; the
    # inactivity alert was acknowledged by ACK_BY
    rows = page.locator("#alerts tbody tr")
    assert rows.count() == 3
    scopes = sorted(_cells(page, "#alerts tbody td:nth-child(3)"))
    assert scopes == sorted([ORG_SCRIPT, "platform", "platform"])
    assert ACK_BY + " at 2026-" in "".join(_cells(page, "#alerts tbody td:nth-child(6)"))

    # the organization table: names joined as "name (id)", largest received first (3 each:
    # then as the query orders them), every one literal
    shown = sorted(_cells(page, "#orgs tbody td:first-child"))
    assert shown == sorted([ORG_SCRIPT, f"{NAME_LINK} ({ORG_LINK})", ORG_BIDI_SHOWN, ORG_LONG])

    # the cost chart: one bar per organization, most expensive first ($4, $3, $2, $1); the
    # axis labels and each bar's hover label show the text as sent (plotly reads <b>, <br>,
    # <a> and entities in labels as markup)
    ticks = page.evaluate("""() => [...document.querySelectorAll(
        '#chart-cost_by_organization .ytick text')]
        .sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top)
        .map(t => t.textContent)""")  # top to bottom
    assert ticks == [ORG_SCRIPT[:39] + "\u2026", NAME_LINK[:39] + "\u2026", ORG_BIDI_CHART,
                     ORG_LONG[:39] + "\u2026"]  # over 40 characters: cut on the axis
    chart = page.locator("#chart-cost_by_organization")
    assert chart.locator("a, tspan[style*=bold], tspan[style*=italic]").count() == 0
    whole = [ORG_SCRIPT, f"{NAME_LINK} ({ORG_LINK})", ORG_BIDI_CHART, ORG_LONG]
    for bar, label in enumerate(whole):  # hovered again at each poll: a refresh redraws it
        page.wait_for_function("""([bar, label]) => {
            Plotly.Fx.hover('chart-cost_by_organization', [{curveNumber: 0, pointNumber: bar}]);
            return document.querySelector('#chart-cost_by_organization .hoverlayer')
                .textContent.includes(label); }""", arg=[bar, label])
    # the other charts carry no data text: their labels are the page's own
    assert sorted(page.evaluate("""() => [...document.querySelectorAll('.chart .legendtext')]
        .map(t => t.textContent)""")) == sorted(["received", "completed", "failed", "transcription",
                                                 "claims_extraction", "entity_resolution",
                                                 "draft_generation"])
    watched.assert_nothing_ran()

    # the event log, newest first: the two collected events (14:11, 14:10), the 25 failures
    # (14:02), the 12 received (hour 12): 25 on page 1, 14 on page 2
    assert _cells(page, "#events tbody tr:nth-child(-n+2) td:nth-child(5)") == [ART_BIDI_SHOWN,
                                                                               ART_ATTR]
    assert _cells(page, "#events tbody tr:nth-child(2) td:nth-child(7)") == [
        f"{ERROR_CODE}: {ERROR_SHOWN}"]
    assert _cells(page, "#events tbody tr:nth-child(2) td:nth-child(4)") == [ORG_BIDI_SHOWN]
    page.click("#events-next")
    page.wait_for_selector("#events-page:has-text('page 2')")
    expect(page.locator("#events tbody tr")).to_have_count(14)
    assert set(_cells(page, "#events tbody td:nth-child(4)")) == {ORG_SCRIPT, ORG_LINK,
                                                                 ORG_BIDI_SHOWN,
                                                                 ORG_LONG}
    assert set(_cells(page, "#events tbody td:nth-child(7)")) == {ERROR_SHOWN, ""}

    # the filters: the organization typed as sent finds its 25 failures, errors only
    page.fill("#event-filters input[name=org]", ORG_SCRIPT)
    page.check("#event-filters input[name=errors_only]")
    page.click("#event-filters button[type=submit]")
    expect(page.locator("#events-page")).to_have_text("page 1")
    expect(page.locator("#events tbody tr")).to_have_count(25)
    assert set(_cells(page, "#events tbody td:nth-child(4)")) == {ORG_SCRIPT}
    watched.assert_nothing_ran()

    # the artifact timeline, opened from the event log, and from a link to it (#artifact=)
    page.fill("#event-filters input[name=org]", "")
    page.uncheck("#event-filters input[name=errors_only]")
    page.click("#event-filters button[type=submit]")
    # the unfiltered page is back once its newest row (ART_BIDI's, 14:11) is
    page.wait_for_function("""art => document.querySelector('#events tbody a.artifact')
        ?.textContent === art""", arg=ART_BIDI_SHOWN)
    page.locator("#events tbody a.artifact").nth(1).click()
    page.wait_for_selector("#timeline-panel:not([hidden])")
    assert page.locator("#timeline-artifact").text_content() == ART_ATTR
    assert _cells(page, "#timeline tbody td:nth-child(6)") == [f"{ERROR_CODE}: {ERROR_SHOWN}"]
    page.goto(f"{served.url}/?now={PINNED}#artifact={quote(ART_ATTR, safe='')}")
    page.wait_for_selector("#timeline-panel:not([hidden])")
    assert page.locator("#timeline-artifact").text_content() == ART_ATTR
    page.wait_for_selector("body[data-loaded=true]")
    watched.assert_nothing_ran()

    # the sign-in page shows its own words only, whatever its URL says
    page.goto(f"{served.url}/login?error=%3Cimg%20src%3Dx%20onerror%3Dwindow.__pwned%3D1%3E")
    assert page.locator("#login-error").text_content() == "That is not a staff token. Try again."
    watched.assert_nothing_ran(title="voice-monitor: sign in")
    watched.context.close()


def test_long_fields_wrap_inside_the_window(served, browser):
    """A 256-character id and a 300-character word in an error message wrap inside their cells:
    the page is never wider than the window (it was 3,439 px wide in a 1,400 px window), and the
    cost chart keeps most of its width for its bars, whatever the labels' length."""
    watched = Watched(browser, served)
    page = watched.page
    page.goto(f"{served.url}/?now={PINNED}#artifact={quote(ORG_LONG[:200] + '-0', safe='')}")
    page.wait_for_selector("body[data-loaded=true]")
    page.wait_for_selector("#chart-cost_by_organization[data-rendered=true]")
    page.wait_for_selector("#timeline-panel:not([hidden])")
    page.screenshot(path=served.shots / "long.png", full_page=True)
    page.locator("#chart-cost_by_organization").screenshot(path=served.shots / "long-cost.png")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 1400
    # the cost chart: labels of over 40 characters are cut to 39 and an ellipsis on the axis
    # (ORG_LONG and the named ORG_LINK; the hovers show them whole, see the test above), and
    # the bars keep over a third of the chart's width (they had a tenth: the labels took the rest)
    width, plot = page.evaluate("""() => { const layout = document.getElementById(
        'chart-cost_by_organization')._fullLayout; return [layout.width, layout._size.w]; }""")
    assert plot > width / 3, (plot, width)
    watched.assert_nothing_ran()
    watched.context.close()


def test_ids_with_invisible_characters_are_found(served, browser):
    """Ids landing takes with a right-to-left override, a zero-width space, a no-break space or
    emoji in them (any characters but control ones) can be asked for: the reading API refused
    every character Python does not call printable, so the dashboard could neither open such an
    artifact's timeline nor filter the event log by such an organization ("is not a valid id")."""
    watched = Watched(browser, served)
    page = watched.page
    page.goto(f"{served.url}/?now={PINNED}")
    page.wait_for_selector("body[data-loaded=true]")
    page.locator("#events tbody a.artifact").first.click()  # ART_BIDI's status change, 14:11
    page.wait_for_selector("#timeline-panel:not([hidden])")
    assert page.locator("#timeline-artifact").text_content() == ART_BIDI_SHOWN
    assert _cells(page, "#timeline tbody td:nth-child(5)") == ["<b>old</b> → newU+202E<script>"]
    # ORG_BIDI: its three artifacts received at 12:00-12:02 and the two collected events
    page.fill("#event-filters input[name=org]", ORG_BIDI)
    page.click("#event-filters button[type=submit]")
    expect(page.locator("#events tbody tr")).to_have_count(5)
    assert _cells(page, "#events tbody td:nth-child(5)") == [
        ART_BIDI_SHOWN, ART_ATTR, f"{ORG_BIDI_SHOWN}-2", f"{ORG_BIDI_SHOWN}-1",
        f"{ORG_BIDI_SHOWN}-0"]
    assert page.locator("#error").is_hidden()
    watched.assert_nothing_ran()
    watched.context.close()


class Attacker:
    """Another site's pages, on another port of 127.0.0.1 (the same *site* as the dashboard to
    a browser, which ignores ports for SameSite: the session cookie goes with its requests)."""

    def __init__(self, pages: dict[str, str]):
        class Pages(BaseHTTPRequestHandler):
            def do_GET(self):
                body = pages[self.path].encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Pages)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def _alert_of(served, org: str) -> dict:
    listed = served.http.get(served.url + "/api/v1/alerts", headers=bearer(STAFF)).json()
    return next(a for a in listed["alerts"] if a["organization_id"] == org)


def test_another_site_cannot_acknowledge_or_read_with_the_session(served, browser):
    """A signed-in browser visiting another site (here another port of the same host, so the
    SameSite cookie is sent along): the site's form post and its fetch to the acknowledge
    endpoint are refused (403, cross-site: the session was sent, the Origin was foreign), its
    fetch cannot read the API's answers (no CORS header), and the alert stays unacknowledged."""
    alert = _alert_of(served, ORG_SCRIPT)
    assert alert["acknowledged_at"] is None
    ack = f"{served.url}/api/v1/alerts/{alert['alert_id']}/ack"
    form = (f'<form method="post" action="{ack}"><input name="by" value="mallory"></form>'
            "<script>document.forms[0].submit()</script>")  # a form the endpoint takes
    script = ("<script>fetch(" + json.dumps(ack) + ", {method: 'POST', mode: 'no-cors', "
              "credentials: 'include', body: new URLSearchParams({by: 'mallory'})})"
              ".then(() => fetch("
              + json.dumps(served.url + "/api/v1/alerts") + ", {credentials: 'include'}))"
              ".then(r => r.text()).then(t => { document.title = 'read ' + t.length; },"
              " e => { document.title = 'not read'; });</script>")
    watched = Watched(browser, served)
    page = watched.page
    cookie = next(c for c in watched.context.cookies() if c["name"] == "voice_monitor_session")
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["secure"], cookie["path"]) == (
        True, "Strict", False, "/")  # Secure is set when the request came over https
    assert "voice_monitor_session" not in page.evaluate("() => document.cookie")
    answers = []
    page.on("response", lambda r: answers.append((r.request.method, r.url, r.status))
            if r.url.startswith(served.url + "/api/") else None)
    with Attacker({"/form": form, "/fetch": script}) as site:
        page.goto(site.url + "/form")
        page.wait_for_url(ack)
        assert "cross-site request refused" in page.locator("body").inner_text()
        page.goto(site.url + "/fetch")
        expect(page).to_have_title(re.compile("read"))
        assert page.title() == "not read"
    # (the dashboard's own refresh may have asked for a panel meanwhile: its GETs aside)
    assert [a for a in answers if a[0] == "POST"] == [("POST", ack, 403), ("POST", ack, 403)]
    assert _alert_of(served, ORG_SCRIPT)["acknowledged_at"] is None
    watched.context.close()


def test_security_headers_and_content_types(served, browser):
    """The pages forbid inline script (CSP script-src 'self', no 'unsafe-inline'): even markup
    slipped into the page runs nothing. Every answer says nosniff; the API's are JSON, so a
    browser sent straight to an API URL (or a 404 naming a path of markup) shows text."""
    watched = Watched(browser, served)
    page = watched.page
    for path in ("/", "/login"):
        headers = page.request.get(served.url + path).headers
        policy = dict(part.strip().split(" ", 1)
                      for part in headers["content-security-policy"].split(";"))
        assert policy["script-src"] == "'self'" and policy["default-src"] == "'self'", path
        assert policy["frame-ancestors"] == "'none'" and policy["base-uri"] == "'none'", path
        assert headers["x-content-type-options"] == "nosniff", path
    page.goto(f"{served.url}/?now={PINNED}")
    page.wait_for_selector("body[data-loaded=true]")
    page.evaluate("""() => {
        window.refused = [];
        document.addEventListener('securitypolicyviolation',
                                  (e) => window.refused.push(e.violatedDirective));
        document.body.insertAdjacentHTML('beforeend', '<p id=slipped><img src=x '
            + 'onerror="window.__pwned=1"><a href="javascript:window.__pwned=2">x</a></p>');
    }""")
    page.click("#slipped a")
    page.wait_for_function("() => window.refused.length >= 2")  # the handler and the link
    assert page.evaluate("() => typeof window.__pwned") == "undefined"
    assert any("Content Security Policy" in e for e in watched.errors)
    watched.errors.clear()
    page.evaluate("() => document.getElementById('slipped').remove()")
    for path in (f"/api/v1/events?org={quote(ORG_SCRIPT)}",
                 f"/api/v1/artifacts/{quote(ART_ATTR, safe='')}/timeline",
                 "/%3Cscript%3Ewindow.__pwned=1%3C%2Fscript%3E"):
        answer = page.goto(served.url + path)
        assert answer.headers["content-type"] == "application/json", path
        assert answer.headers["x-content-type-options"] == "nosniff", path
        assert page.evaluate("() => document.contentType") == "application/json", path
        assert page.evaluate("() => typeof window.__pwned") == "undefined", path
    watched.context.close()


def test_a_link_to_an_artifact_that_is_not_percent_encoded_still_shows_the_dashboard(served,
                                                                                    browser):
    """`#artifact=100%` (a hand-written link to an id holding %): decoding it threw in the
    page's start-up, before its first refresh, so every panel stayed empty until the 15-second
    timer (for good with auto-refresh off), and nothing said why. Now the panels load at once
    and the error line names the link's id and how to write it."""
    watched = Watched(browser, served)
    page = watched.page
    page.goto(f"{served.url}/?now={PINNED}#artifact=100%")
    page.wait_for_selector("body[data-loaded=true]")
    assert page.locator(".card[data-metric=artifacts_failed] .value").inner_text() == "25"
    expect(page.locator("#error")).to_have_text(
        "timeline: the link's artifact id '100%' is not percent-encoded; link to "
        "#artifact= and the id as encodeURIComponent writes it (100%25)")
    assert page.locator("#timeline-panel").is_hidden()
    watched.assert_nothing_ran()
    watched.context.close()


def test_characters_that_reorder_or_hide_text_are_shown_as_marks(served, browser):
    """A right-to-left override drew 'art<RLO>txt.exe' as 'artexe.txt' (and reversed the rest
    of the cell), a zero-width space made two ids look alike: such characters are shown as a
    visible mark naming them, so what is drawn reads in the order it was sent."""
    watched = Watched(browser, served)
    page = watched.page
    page.goto(f"{served.url}/?now={PINNED}")
    page.wait_for_selector("body[data-loaded=true]")
    cell = page.locator("#events tbody tr").first.locator("td").nth(4)
    assert cell.locator(".invisible").all_text_contents() == ["U+202E", "U+200B"]
    assert cell.locator(".invisible").first.get_attribute("title") == (
        "an invisible character, U+202E, is here in the data")
    # drawn in the order sent: 'txt' left of 'exe' (the override drew 'exe' first)
    left = page.evaluate("""cell => {
        const text = [...cell.querySelectorAll('a')[0].childNodes]
            .find(n => n.nodeType === 3 && n.textContent.includes('txt.exe'));
        const at = (word) => { const range = document.createRange();
            const i = text.textContent.indexOf(word);
            range.setStart(text, i); range.setEnd(text, i + 3);
            return range.getBoundingClientRect().left; };
        return at('txt') < at('exe'); }""", cell.element_handle())
    assert left
    watched.assert_nothing_ran()
    watched.context.close()


def test_an_organization_id_with_outer_spaces_is_found_from_the_filter(served, browser):
    """Landing stores an id as sent, spaces around it too, and the API finds it by that id; the
    event log's organization filter trimmed what was typed, so it asked for another id and
    showed nothing. (Last in this module: its event is the lake's newest.)"""
    padded = "  padded org "
    sent = served.http.post(served.url + "/v1/events", content=json.dumps(event(
        "artifact_received", at(14, 12), artifact_id="padded-1", organization_id=padded)),
        headers={**bearer(INGEST), "Content-Type": "application/x-ndjson"})
    assert sent.json() == {"accepted": 1, "duplicates": 0, "quarantined": 0}, sent.text
    api = served.http.get(served.url + "/api/v1/events", params={"org": padded},
                          headers=bearer(STAFF))
    assert [r["artifact_id"] for r in api.json()["rows"]] == ["padded-1"]
    watched = Watched(browser, served)
    page = watched.page
    page.goto(f"{served.url}/?now={PINNED}")
    page.wait_for_selector("body[data-loaded=true]")
    page.fill("#event-filters input[name=org]", padded)
    page.click("#event-filters button[type=submit]")
    expect(page.locator("#events tbody td:nth-child(5)")).to_have_text(["padded-1"])
    assert _cells(page, "#events tbody td:nth-child(4)") == [padded]
    assert page.locator("#error").is_hidden()
    watched.assert_nothing_ran()
    watched.context.close()
