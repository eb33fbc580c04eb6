"""Webhook delivery against a real HTTP server on 127.0.0.1, started by the test."""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import NOW, event

from voice_monitor.health import notify
from voice_monitor.health.alerts import active_alerts, alert_history, run_checks
from voice_monitor.health.checks import AlertConfig
from voice_monitor.landing import land_records


class _QuietServer(ThreadingHTTPServer):
    """Prints no traceback when a client gave up before its answer (the hanging webhook): the
    print came seconds later, into the stderr another test was capturing, and failed it."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        pass


class Webhook:
    """A tiny webhook receiver: answers each POST with `status`, after `delay` seconds."""

    def __init__(self, status: int = 200, delay: float = 0.0):
        self.status, self.delay, self.bodies = status, delay, []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                owner.bodies.append(json.loads(self.rfile.read(length)))
                time.sleep(owner.delay)
                self.send_response(owner.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook_factory():
    made = []

    def make(**kwargs) -> Webhook:
        made.append(Webhook(**kwargs))
        return made[-1]

    yield make
    for hook in made:
        hook.close()


def config(url: str, **kwargs) -> AlertConfig:
    return AlertConfig(checks=("circuit_breaker_open",), webhook_url=url, **kwargs)


def test_raised_and_resolved_alerts_are_posted(lake, webhook_factory):
    hook = webhook_factory()
    land_records(lake, [event("circuit_breaker_opened", NOW - timedelta(minutes=1))], now=NOW)
    report = run_checks(lake, NOW, config(hook.url))
    alert_id = report.raised[0].alert_id
    assert [(d.event, d.delivered, d.attempts) for d in report.deliveries] == [("raised", True, 1)]
    (body,) = hook.bodies
    assert body["event"] == "raised"
    assert body["text"].startswith(":rotating_light: [CRITICAL] circuit_breaker_open raised for platform: ")
    assert "circuit breaker opened at 2026-02-16 14:29:00 UTC" in body["text"]
    assert {k: body["alert"][k] for k in ("alert_id", "alert_type", "organization_id", "severity",
                                         "status", "raised_at", "resolved_at")} == {
        "alert_id": alert_id, "alert_type": "circuit_breaker_open", "organization_id": None,
        "severity": "critical", "status": "active", "raised_at": "2026-02-16T14:30:00Z",
        "resolved_at": None}

    later = NOW + timedelta(minutes=5)
    land_records(lake, [event("circuit_breaker_closed", later - timedelta(minutes=1))], now=later)
    run_checks(lake, later, config(hook.url))
    assert [(b["event"], b["alert"]["alert_id"], b["alert"]["status"], b["alert"]["resolved_at"])
            for b in hook.bodies[1:]] == [("resolved", alert_id, "resolved", "2026-02-16T14:35:00Z")]


def test_an_organization_id_cannot_mention_or_link_in_slack(lake, webhook_factory):
    """Slack reads <!channel> and <https://...|label> in `text` as a mention of everyone and a
    link, and asks for &, < and > to be escaped: an organization id (a producer's input) in an
    alert's scope no longer pages a channel or shows a link; the `alert` fields keep the id."""
    org = "<!channel> <https://evil.example/|sign in again> & co"
    hook = webhook_factory()
    land_records(lake, [event("artifact_failed", NOW - timedelta(minutes=1), organization_id=org)
                        for _ in range(20)], now=NOW)
    run_checks(lake, NOW, AlertConfig(checks=("high_failure_rate",), webhook_url=hook.url))
    (body,) = [b for b in hook.bodies if b["alert"]["organization_id"] is not None]
    assert body["alert"]["organization_id"] == org
    assert body["text"].startswith(
        ":rotating_light: [CRITICAL] high_failure_rate raised for &lt;!channel&gt; "
        "&lt;https://evil.example/|sign in again&gt; &amp; co: failure rate 100.0%")
    assert "<" not in body["text"] and ">" not in body["text"]


@pytest.mark.parametrize(("status", "delay"), [(500, 0.0), (200, 3.0)])
def test_failing_or_hanging_webhook_is_retried_then_given_up(lake, webhook_factory, status, delay):
    hook = webhook_factory(status=status, delay=delay)
    land_records(lake, [event("circuit_breaker_opened", NOW - timedelta(minutes=1))], now=NOW)
    report = run_checks(lake, NOW, config(hook.url, webhook_timeout_s=0.3, webhook_attempts=3,
                                          webhook_backoff_s=0.01))
    (delivery,) = report.deliveries
    assert (delivery.delivered, delivery.attempts) == (False, 3)
    assert ("HTTP 500" if status == 500 else "Timeout") in delivery.error
    assert len(hook.bodies) == 3  # the server saw every attempt
    # the run still succeeded and the alert is stored
    assert report.errors == {} and [a.alert_id for a in active_alerts(lake)] == [
        report.raised[0].alert_id]


def test_client_error_is_not_retried(lake, webhook_factory):
    hook = webhook_factory(status=404)
    land_records(lake, [event("circuit_breaker_opened", NOW - timedelta(minutes=1))], now=NOW)
    (delivery,) = run_checks(lake, NOW, config(hook.url, webhook_backoff_s=0.01)).deliveries
    assert (delivery.delivered, delivery.attempts, len(hook.bodies)) == (False, 1, 1)


def test_unreachable_webhook_does_not_fail_the_run(lake):
    land_records(lake, [event("circuit_breaker_opened", NOW - timedelta(minutes=1))], now=NOW)
    # port 9 on 127.0.0.1: nothing listens there, the connection is refused at once
    report = run_checks(lake, NOW, config("http://127.0.0.1:9/hook", webhook_attempts=2,
                                          webhook_backoff_s=0.01))
    (delivery,) = report.deliveries
    assert (delivery.delivered, delivery.attempts) == (False, 2)
    assert len(report.raised) == 1 and len(active_alerts(lake)) == 1


def test_no_webhook_no_delivery(lake):
    land_records(lake, [event("circuit_breaker_opened", NOW - timedelta(minutes=1))], now=NOW)
    assert run_checks(lake, NOW, AlertConfig(checks=("circuit_breaker_open",))).deliveries == []


@pytest.mark.parametrize("url", ["hooks.example.com/T0/B0/secret-path", "ftp://hooks.example.com/secret-path",
                                 "http://[::1/secret-path", "https:///secret-path",
                                 "http://hooks.example.com:99999/secret-path",
                                 # a query or fragment right after the host is not shown either
                                 "ftp://hooks.example.com?token=secret-path",
                                 "http://hooks.example.com:99999#secret-path",
                                 "http://[::1?sig=secret-path"])
def test_a_webhook_url_that_cannot_be_posted_to_is_named_without_showing_its_path(url):
    """`--set webhook_url='http://[::1'` stored the alert, then failed `alerts check` with
    'InvalidURL: Invalid port' (exit 1): a bad URL is named, and its path (a webhook's
    credential) is not shown. The config is still made: the checks must run anyway."""
    problem = AlertConfig(webhook_url=url).webhook_problem
    assert re.match(r"^webhook_url .* is not an http\(s\) URL", problem), problem
    assert "secret-path" not in problem


def test_a_webhook_url_that_cannot_be_posted_to_skips_only_the_notification(lake):
    """A malformed webhook_url stopped every check run before it started, so no alert was
    recorded while it was wrong. Now the checks run and their alerts (raised, then resolved)
    are stored; nothing is sent and the report names the setting, its problem and the fix."""
    bad = config("ftp://hooks.example.com/T0/B0/secret-path")
    land_records(lake, [event("circuit_breaker_opened", NOW - timedelta(minutes=1))], now=NOW)
    report = run_checks(lake, NOW, bad)
    # the breaker opened at 14:29 and has not closed: one platform alert, raised at 14:30
    assert [(a.alert_type, a.raised_at) for a in active_alerts(lake)] == [
        ("circuit_breaker_open", NOW)]
    assert (len(report.raised), report.deliveries) == (1, [])
    assert report.webhook_error.startswith("webhook_url 'ftp://hooks.example.com/****' is not an "
                                           "http(s) URL the alerts can be posted to (its scheme "
                                           "is 'ftp'): nothing was posted (this run raised 1 and "
                                           "resolved 0 alert(s)")
    assert "e.g. https://hooks.slack.com/services/" in report.webhook_error
    assert "secret-path" not in report.webhook_error
    # closed at 14:34: the 14:35 run resolves it, and that is stored too
    later = NOW + timedelta(minutes=5)
    land_records(lake, [event("circuit_breaker_closed", later - timedelta(minutes=1))], now=later)
    report = run_checks(lake, later, bad)
    assert [(a.alert_type, a.status, a.resolved_at) for a in alert_history(lake).alerts] == [
        ("circuit_breaker_open", "resolved", later)]
    assert "this run raised 0 and resolved 1 alert(s)" in report.webhook_error


def test_sending_to_a_malformed_url_is_a_failed_delivery_not_an_exception():
    alert = {"alert_id": "al-1", "severity": "low", "alert_type": "inactivity", "message": "m"}
    delivery = notify.send("http://[::1/hook", "raised", alert, timeout_s=0.5, attempts=2,
                           backoff_s=0.01)
    assert (delivery.delivered, delivery.attempts) == (False, 1)
    assert "InvalidURL" in delivery.error


def test_a_failed_delivery_is_sent_again_by_the_next_run_once(lake, webhook_factory):
    """A raise the webhook answered 500 to was never sent again: on-call never heard of it.
    Now it is kept in the alert log and the next run (the webhook back) sends it, once."""
    hook = webhook_factory(status=500)
    fast = config(hook.url, webhook_attempts=2, webhook_backoff_s=0.01)
    land_records(lake, [event("circuit_breaker_opened", NOW - timedelta(minutes=1))], now=NOW)
    (raised,) = run_checks(lake, NOW, fast).raised
    assert len(hook.bodies) == 2  # both attempts refused

    hook.status = 200  # back up; 14:35, the breaker still open: no new transition
    report = run_checks(lake, NOW + timedelta(minutes=5), fast)
    assert (report.raised, report.resolved) == ([], [])
    assert [(d.event, d.alert_id, d.delivered, d.retried) for d in report.deliveries] == [
        ("raised", raised.alert_id, True, True)]
    assert [(b["event"], b["alert"]["alert_id"], b["alert"]["raised_at"])
            for b in hook.bodies[2:]] == [("raised", raised.alert_id, "2026-02-16T14:30:00Z")]
    # delivered now: 14:40 sends nothing more
    assert run_checks(lake, NOW + timedelta(minutes=10), fast).deliveries == []
    assert len(hook.bodies) == 3


def test_alerts_stored_while_the_url_was_malformed_are_posted_once_it_is_fixed(
        lake, webhook_factory):
    """Raised (14:30) and resolved (14:35) while webhook_url was ftp://: the fixed URL at 14:40
    gets one message, the resolution (it carries both times; the stale raise is not sent).
    The breaker alert raised at 14:45, with the URL still bad, reaches it at 14:50 as a raise."""
    bad = config("ftp://hooks.example.com/T0/B0/secret-path")
    breaker = [("opened", NOW - timedelta(minutes=1)), ("closed", NOW + timedelta(minutes=4)),
               ("opened", NOW + timedelta(minutes=14))]
    for kind, at in breaker:
        land_records(lake, [event(f"circuit_breaker_{kind}", at)], now=at)
    (first,) = run_checks(lake, NOW, bad).raised
    assert [a.alert_id for a in run_checks(lake, NOW + timedelta(minutes=5), bad).resolved] == [
        first.alert_id]

    hook = webhook_factory()
    report = run_checks(lake, NOW + timedelta(minutes=10), config(hook.url))
    assert report.webhook_error is None
    assert [(d.event, d.alert_id, d.delivered, d.retried) for d in report.deliveries] == [
        ("resolved", first.alert_id, True, True)]
    assert [(b["event"], b["alert"]["raised_at"], b["alert"]["resolved_at"]) for b in hook.bodies
            ] == [("resolved", "2026-02-16T14:30:00Z", "2026-02-16T14:35:00Z")]

    (second,) = run_checks(lake, NOW + timedelta(minutes=15), bad).raised
    run_checks(lake, NOW + timedelta(minutes=20), config(hook.url))
    assert [(b["event"], b["alert"]["alert_id"], b["alert"]["status"]) for b in hook.bodies[1:]
            ] == [("raised", second.alert_id, "active")]


def test_an_undelivered_notification_is_given_up_after_webhook_retry_for(lake, webhook_factory):
    """Raised at 14:30, refused; the webhook is back only at 14:35 the next day, 24 h 5 min
    later: past the 24 h of webhook_retry_for, so nothing is sent (at 14:30 it still was)."""
    hook = webhook_factory(status=500)
    fast = config(hook.url, webhook_attempts=1)
    land_records(lake, [event("circuit_breaker_opened", NOW - timedelta(minutes=1))], now=NOW)
    run_checks(lake, NOW, fast)
    hook.status = 200
    assert run_checks(lake, NOW + timedelta(hours=24, minutes=5), fast).deliveries == []
    assert len(hook.bodies) == 1
    assert [d.delivered for d in run_checks(lake, NOW + timedelta(hours=24), fast).deliveries
            ] == [True]


def test_a_notification_a_run_was_killed_while_sending_is_sent_by_the_next_run(
        lake, webhook_factory, tmp_path):
    """`alerts check` killed (a flow's timeout, a crash) while the webhook kept it waiting: the
    raise was stored, and its notification, recorded only after the sending, was never sent.
    Now it is owed from the moment it is stored: the next run sends it."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    hanging = webhook_factory(delay=120.0)
    land_records(lake, [event("circuit_breaker_opened", NOW - timedelta(minutes=1))], now=NOW)
    env = {**os.environ, "VOICE_MONITOR_WEBHOOK_URL": hanging.url}
    check = subprocess.Popen([str(Path(sys.executable).parent / "voice-monitor"), "alerts",
                              "check", "--lake", str(lake.root), "--now", "2026-02-16T14:30Z"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(1200):  # the raise is being posted (the hook holds it 120 s)
            if hanging.bodies or check.poll() is not None:
                break
            time.sleep(0.1)
        assert [b["event"] for b in hanging.bodies] == ["raised"]
    finally:
        check.send_signal(signal.SIGKILL)
        check.wait()
    # every check ran: the open breaker, and no artifact_received in the last hour
    raised = sorted(active_alerts(lake), key=lambda a: a.alert_id)
    assert sorted(a.alert_type for a in raised) == ["circuit_breaker_open", "inactivity"]

    hook = webhook_factory()  # (this run checks the breaker only: both alerts stay active)
    report = run_checks(lake, NOW + timedelta(minutes=5), config(hook.url))
    assert [(d.event, d.alert_id, d.delivered, d.retried) for d in report.deliveries] == [
        ("raised", a.alert_id, True, True) for a in raised]  # all raised at 14:30: by id
    assert [(b["event"], b["alert"]["alert_id"]) for b in hook.bodies] == [
        ("raised", a.alert_id) for a in raised]
    # once delivered, owed no more
    assert run_checks(lake, NOW + timedelta(minutes=10), config(hook.url)).deliveries == []


def test_an_escalation_is_posted_and_sent_again_if_the_webhook_was_down(lake, webhook_factory):
    """A failure-rate alert raised at 15 % (high) that reaches 30 % is posted as 'escalated',
    critical, same alert; an escalation the webhook did not take is sent by the next run (with
    its escalation time), and the resolution follows. Rates worked by hand: 3/20, 9/30, 1/20."""
    hook = webhook_factory()
    platform = AlertConfig(checks=("high_failure_rate",), failure_rate_per_organization=False,
                           webhook_url=hook.url, webhook_attempts=1)

    def outcomes(at, completed: int, failed: int) -> None:
        land_records(lake, [event("artifact_completed", at) for _ in range(completed)]
                     + [event("artifact_failed", at) for _ in range(failed)], now=at)

    minute = timedelta(minutes=1)
    outcomes(NOW - 5 * minute, 17, 3)
    (raised,) = run_checks(lake, NOW, platform).raised
    outcomes(NOW + 2 * minute, 4, 6)
    hook.status = 503  # down at 14:35: the escalation is owed
    report = run_checks(lake, NOW + 5 * minute, platform)
    assert [(d.event, d.alert_id, d.delivered) for d in report.deliveries] == [
        ("escalated", raised.alert_id, False)]
    hook.status = 200
    report = run_checks(lake, NOW + 10 * minute, platform)  # still 30 %: sent again, once
    assert [(d.event, d.alert_id, d.delivered, d.retried) for d in report.deliveries] == [
        ("escalated", raised.alert_id, True, True)]
    outcomes(NOW + 80 * minute, 19, 1)
    run_checks(lake, NOW + 90 * minute, platform)
    sent = hook.bodies
    assert [(b["event"], b["alert"]["alert_id"], b["alert"]["severity"], b["alert"]["status"])
            for b in sent] == [
        ("raised", raised.alert_id, "high", "active"),
        ("escalated", raised.alert_id, "critical", "active"),  # the 503
        ("escalated", raised.alert_id, "critical", "active"),
        ("resolved", raised.alert_id, "critical", "resolved")]
    assert sent[2]["text"] == (":rotating_light: [CRITICAL] high_failure_rate escalated for "
                               "platform: failure rate 30.0% (9 failed of 30 outcomes in the "
                               "last hour) is above 25.0%")
    assert {k: sent[2]["alert"][k] for k in ("raised_at", "escalated_at", "value", "threshold")
            } == {"raised_at": "2026-02-16T14:30:00Z", "escalated_at": "2026-02-16T14:35:00Z",
                  "value": 0.3, "threshold": 0.25}
    assert run_checks(lake, NOW + 95 * minute, platform).deliveries == []  # nothing owed
