"""The health-check flow's wiring under a Prefect test harness (library logic: test_alerts*)."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import NOW, event

from voice_monitor.health.alerts import active_alerts
from voice_monitor.landing import land_records

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "flows"))

import health_check  # noqa: E402
from prefect.client.orchestration import get_client  # noqa: E402
from prefect.flow_engine import run_flow  # noqa: E402
from prefect.states import Scheduled  # noqa: E402

pytestmark = pytest.mark.slow  # starts a temporary Prefect server (~20 s)
M = timedelta(minutes=1)


@pytest.fixture
def flow_lake(lake, monkeypatch, prefect_harness):
    monkeypatch.setenv("VOICE_MONITOR_LAKE", str(lake.root))
    monkeypatch.delenv("VOICE_MONITOR_WEBHOOK_URL", raising=False)
    return lake


def test_flow_raises_then_resolves(flow_lake):
    land_records(flow_lake, [event("circuit_breaker_opened", NOW - M),
                             event("artifact_received", NOW - M)], now=NOW)
    facts = health_check.health_check(now="2026-02-16T14:30:00Z")
    (alert,) = active_alerts(flow_lake)
    assert (facts["raised"], facts["resolved"], facts["errors"]) == ([alert.alert_id], [], {})
    assert facts["now"] == "2026-02-16T14:30:00Z"  # as given, not '+00:00'
    assert alert.alert_type == "circuit_breaker_open" and alert.raised_at == NOW
    land_records(flow_lake, [event("circuit_breaker_closed", NOW + M),
                             event("artifact_received", NOW + M)], now=NOW + 5 * M)
    later = health_check.health_check(now=NOW + 5 * M)
    assert (later["raised"], later["resolved"], later["active"]) == ([], [alert.alert_id], 0)
    # a run scheduled before that one, run late (a worker back from a stop): the breaker was
    # open at its now, but a later run found it closed: nothing reopened, and the run says so
    late = health_check.health_check(now=NOW + M / 2)  # before the close at NOW + M
    assert (late["raised"], late["active"]) == ([], 0)
    assert late["not_raised"] == ["circuit_breaker_open platform"]


def test_default_now_is_the_scheduled_start_time(flow_lake):
    land_records(flow_lake, [event("circuit_breaker_opened", NOW - M),
                             event("artifact_received", NOW - M)], now=NOW)
    flow = health_check.health_check
    with get_client(sync_client=True) as client:
        flow_run = client.create_flow_run(flow, parameters={}, state=Scheduled(scheduled_time=NOW))
    state = run_flow(flow, flow_run=flow_run, return_type="state")
    assert state.is_completed()
    # with the real clock the breaker event would be outside the 48 h window: nothing raised
    assert [(a.alert_type, a.raised_at) for a in active_alerts(flow_lake)] == [
        ("circuit_breaker_open", NOW)]


def test_a_failed_check_fails_the_run_after_the_others_ran(flow_lake):
    land_records(flow_lake, [event("artifact_received", NOW - 2 * 60 * M)], now=NOW)
    folder = flow_lake.snapshot_partition("pipeline_hourly", NOW - 60 * M)
    folder.mkdir(parents=True)
    (folder / "part-0.parquet").write_bytes(b"not parquet")
    state = health_check.health_check(now=NOW, return_state=True)
    assert state.is_failed()
    with pytest.raises(health_check.ChecksFailedError, match="1 check\\(s\\) failed: high_latency"):
        state.result()
    # inactivity (nothing received for two hours) was still raised and stored, and the
    # unreadable snapshot file has its own alert (contract §4)
    assert sorted(a.alert_type for a in active_alerts(flow_lake)) == [
        "inactivity", "lake_file_unreadable"]


def test_a_malformed_webhook_url_fails_the_run_after_every_check_ran(flow_lake, monkeypatch):
    """A webhook_url nothing can be posted to stopped the run before any check, so no alert was
    stored while it was wrong; now the alerts are stored and the run fails at the end."""
    monkeypatch.setenv("VOICE_MONITOR_WEBHOOK_URL", "ftp://hooks.example.com/T0/secret-path")
    land_records(flow_lake, [event("circuit_breaker_opened", NOW - M),
                             event("artifact_received", NOW - M)], now=NOW)
    state = health_check.health_check(now=NOW, return_state=True)
    assert state.is_failed()
    with pytest.raises(health_check.WebhookUrlError,
                       match=r"^webhook_url 'ftp://hooks.example.com/\*\*\*\*' is not an http\(s\) "
                             r"URL .*raised 1 and resolved 0 .* e\.g\. https://hooks\.slack") as e:
        state.result()
    assert "secret-path" not in str(e.value)
    assert [(a.alert_type, a.raised_at) for a in active_alerts(flow_lake)] == [
        ("circuit_breaker_open", NOW)]


def test_alerts_stored_under_a_malformed_url_are_posted_by_the_next_run(flow_lake, monkeypatch):
    """The run at 14:30 under an ftp:// webhook_url stores the breaker alert and fails; with
    the URL fixed, the 14:35 run (the breaker still open: no new transition) posts that raise."""
    from test_notify import Webhook

    land_records(flow_lake, [event("circuit_breaker_opened", NOW - M),
                             event("artifact_received", NOW - M)], now=NOW)
    monkeypatch.setenv("VOICE_MONITOR_WEBHOOK_URL", "ftp://hooks.example.com/T0/secret-path")
    assert health_check.health_check(now=NOW, return_state=True).is_failed()
    (alert,) = active_alerts(flow_lake)
    hook = Webhook()
    try:
        monkeypatch.setenv("VOICE_MONITOR_WEBHOOK_URL", hook.url)
        facts = health_check.health_check(now=NOW + 5 * M)
    finally:
        hook.close()
    assert (facts["raised"], facts["resent"], facts["undelivered"]) == ([], 1, 0)
    assert [(b["event"], b["alert"]["alert_id"], b["alert"]["raised_at"]) for b in hook.bodies] == [
        ("raised", alert.alert_id, "2026-02-16T14:30:00Z")]


def test_a_run_whose_only_change_is_an_escalation_logs_and_fails_counting_it(
        flow_lake, monkeypatch, caplog):
    """The 14:35 run, whose only change was the 14:30 failure-rate alert escalating (3/20 =
    15 % high, then 9/30 = 30 % critical), logged 'raised 0, resolved 0' and, its webhook_url
    ftp://, failed with 'this run raised 0 and resolved 0 alert(s)' though an escalation was
    kept to post. Now both say 'escalated 1'; the 14:30 run reads as before."""
    monkeypatch.setenv("VOICE_MONITOR_WEBHOOK_URL", "ftp://hooks.example.com/T0/secret-path")

    def outcomes(at, completed: int, failed: int) -> None:
        land_records(flow_lake, [event("artifact_completed", at) for _ in range(completed)]
                     + [event("artifact_failed", at) for _ in range(failed)]
                     + [event("artifact_received", at)], now=at)  # no inactivity alert

    outcomes(NOW - 5 * M, 17, 3)
    state = health_check.health_check(now=NOW, return_state=True)
    with pytest.raises(health_check.WebhookUrlError, match=r"this run raised 1 and resolved 0 "):
        state.result()
    assert "checked 7, raised 1, resolved 0, active 1" in caplog.text
    outcomes(NOW + 2 * M, 4, 6)
    caplog.clear()
    state = health_check.health_check(now=NOW + 5 * M, return_state=True)
    with pytest.raises(health_check.WebhookUrlError,
                       match=r"this run raised 0, escalated 1 and resolved 0 alert\(s\)"):
        state.result()
    assert "checked 7, raised 0, escalated 1, resolved 0, active 1" in caplog.text
    assert [(a.alert_type, a.severity) for a in active_alerts(flow_lake)] == [
        ("high_failure_rate", "critical")]
