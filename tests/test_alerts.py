"""The alert lifecycle, the store, history pagination, acknowledgement, pruning and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta

import duckdb
import pytest
from conftest import NOW, assert_one_line_error, event, run_main

from voice_monitor.cli import main
from voice_monitor.health.alerts import (
    AlreadyAcknowledgedError,
    UnknownAlertError,
    acknowledge_alert,
    active_alerts,
    alert_history,
    prune_alerts,
    run_checks,
)
from voice_monitor.health.checks import AlertConfig
from voice_monitor.landing import land_records

BREAKER_ONLY = AlertConfig(checks=("circuit_breaker_open",))
M = timedelta(minutes=1)


def breaker(lake, kind: str, at) -> None:
    land_records(lake, [event(f"circuit_breaker_{kind}", at)], now=at)


def records(lake) -> list[tuple]:
    """Every lifecycle record in the store, read with plain DuckDB (as the SQL view would)."""
    glob = str(lake.alerts_dir / "date=*" / "*.parquet")
    return duckdb.sql(f"select alert_id, record_type, recorded_at, acknowledged_by "
                      f"from read_parquet('{glob}') order by record_id").fetchall()


def test_lifecycle_raise_keep_resolve_raise_again(lake):
    breaker(lake, "opened", NOW - 10 * M)
    first = run_checks(lake, NOW, BREAKER_ONLY)
    assert [(a.alert_type, a.organization_id, a.severity) for a in first.raised] == [
        ("circuit_breaker_open", None, "critical")]
    alert_id = first.raised[0].alert_id

    again = run_checks(lake, NOW + 5 * M, BREAKER_ONLY)  # still open: no duplicate
    assert again.raised == [] and again.resolved == []
    assert [a.alert_id for a in again.active] == [alert_id]

    acknowledge_alert(lake, alert_id, "alice", note="vendor outage", now=NOW + 6 * M)
    breaker(lake, "closed", NOW + 7 * M)
    cleared = run_checks(lake, NOW + 10 * M, BREAKER_ONLY)
    assert [(a.alert_id, a.resolved_at) for a in cleared.resolved] == [(alert_id, NOW + 10 * M)]
    assert active_alerts(lake) == []

    # the old alert was acknowledged; that does not suppress a new one after it resolved
    breaker(lake, "opened", NOW + 12 * M)
    later = run_checks(lake, NOW + 15 * M, BREAKER_ONLY)
    assert len(later.raised) == 1 and later.raised[0].alert_id != alert_id
    assert [a.alert_id for a in active_alerts(lake)] == [later.raised[0].alert_id]

    assert [(r[0], r[1], r[2]) for r in records(lake)] == [
        (alert_id, "raised", NOW),
        (alert_id, "acknowledged", NOW + 6 * M),
        (alert_id, "resolved", NOW + 10 * M),
        (later.raised[0].alert_id, "raised", NOW + 15 * M),
    ]
    old = alert_history(lake, status="resolved").alerts
    assert [(a.alert_id, a.acknowledged_by, a.acknowledged_at, a.acknowledged_note, a.resolved_at)
            for a in old] == [(alert_id, "alice", NOW + 6 * M, "vendor outage", NOW + 10 * M)]


def test_state_survives_a_restart(lake):
    breaker(lake, "opened", NOW - M)
    run_checks(lake, NOW, BREAKER_ONLY)
    code = textwrap.dedent(f"""
        from voice_monitor.health.alerts import active_alerts
        from voice_monitor.lake import Lake
        print([a.alert_type for a in active_alerts(Lake({str(lake.root)!r}))])
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['circuit_breaker_open']"


def test_a_failed_check_does_not_resolve_its_alert(lake):
    breaker(lake, "opened", NOW - M)
    raised = run_checks(lake, NOW, BREAKER_ONLY).raised
    breaker(lake, "closed", NOW + M)
    # a corrupt event file: the check cannot tell whether the breaker closed, so nothing resolves
    (lake.event_partition(NOW) / "zz-garbage.parquet").write_bytes(b"not parquet")
    report = run_checks(lake, NOW + 5 * M, BREAKER_ONLY)
    assert list(report.errors) == ["circuit_breaker_open"] and report.resolved == []
    assert [a.alert_id for a in active_alerts(lake)] == [raised[0].alert_id]


def test_acknowledge_unknown_id_and_missing_name(lake):
    with pytest.raises(UnknownAlertError, match="no alert with id 'al-nope'"):
        acknowledge_alert(lake, "al-nope", "alice")
    breaker(lake, "opened", NOW - M)
    alert_id = run_checks(lake, NOW, BREAKER_ONLY).raised[0].alert_id
    with pytest.raises(ValueError, match="give the name of who acknowledges"):
        acknowledge_alert(lake, alert_id, "  ")


def org_failures(lake, n_orgs: int, at=NOW - 5 * M) -> None:
    """n_orgs organizations at 3/20 = 15 % failures each: one alert per org and the platform."""
    recs = []
    for k in range(n_orgs):
        recs += [event("artifact_completed", at, organization_id=f"org-{k}") for _ in range(17)]
        recs += [event("artifact_failed", at, organization_id=f"org-{k}") for _ in range(3)]
    land_records(lake, recs, now=NOW)


def test_history_pages_walk_everything_exactly_once(lake):
    org_failures(lake, 7)
    config = AlertConfig(checks=("high_failure_rate",))
    raised = run_checks(lake, NOW, config).raised
    assert len(raised) == 8  # 7 organizations + the platform (21/140 = 15 %), all at the same time
    seen, cursor, pages = [], None, 0
    while True:
        page = alert_history(lake, limit=3, cursor=cursor)
        seen += [a.alert_id for a in page.alerts]
        pages += 1
        if pages == 1:
            # a new alert raised between pages is newer than the cursor: it does not shift pages
            breaker(lake, "opened", NOW + M)
            run_checks(lake, NOW + 2 * M, BREAKER_ONLY)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert pages == 3  # 3 + 3 + 2
    assert sorted(seen) == sorted(a.alert_id for a in raised) and len(set(seen)) == 8


def test_history_filters(lake):
    org_failures(lake, 2)
    run_checks(lake, NOW, AlertConfig(checks=("high_failure_rate",)))
    breaker(lake, "opened", NOW + M)
    run_checks(lake, NOW + 2 * M, BREAKER_ONLY)
    assert [a.organization_id for a in alert_history(lake, organization_id="org-1").alerts] == ["org-1"]
    assert [a.alert_type for a in alert_history(lake, type="circuit_breaker_open").alerts] == [
        "circuit_breaker_open"]
    assert len(alert_history(lake, start=NOW + M).alerts) == 1  # raised at NOW + 2 min
    assert len(alert_history(lake, end=NOW + M).alerts) == 3  # the three raised at NOW
    assert alert_history(lake, status="resolved").alerts == []


def test_history_rejects_bad_input(lake):
    org_failures(lake, 3)
    run_checks(lake, NOW, AlertConfig(checks=("high_failure_rate",)))
    cursor = alert_history(lake, limit=1).next_cursor
    tampered = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]
    with pytest.raises(ValueError, match="bad cursor .*modified"):
        alert_history(lake, limit=1, cursor=tampered)
    with pytest.raises(ValueError, match="bad cursor 'garbage'"):
        alert_history(lake, limit=1, cursor="garbage")
    with pytest.raises(ValueError, match="bad cursor .*other filters"):  # same cursor, other filters
        alert_history(lake, limit=1, cursor=cursor, type="high_latency")
    with pytest.raises(ValueError, match="unknown alert type 'nope'"):
        alert_history(lake, type="nope")
    with pytest.raises(ValueError, match="unknown alert status 'open'"):
        alert_history(lake, status="open")
    with pytest.raises(ValueError, match="limit 0"):
        alert_history(lake, limit=0)
    with pytest.raises(ValueError, match="is not before end"):
        alert_history(lake, start=NOW, end=NOW)
    assert len(alert_history(lake, limit=10_000).alerts) == 4  # capped at 500, not an error


def test_prune_keeps_partitions_of_active_alerts(lake):
    old = NOW - timedelta(days=100)
    breaker(lake, "opened", old)
    run_checks(lake, old + M, BREAKER_ONLY)  # raised, in the 100-days-ago partition
    breaker(lake, "closed", old + 2 * M)
    run_checks(lake, old + 3 * M, BREAKER_ONLY)  # resolved, same partition
    mid = NOW - timedelta(days=95)
    breaker(lake, "opened", mid)
    still = run_checks(lake, mid + M, BREAKER_ONLY).raised[0]  # never resolved
    cutoff = NOW - timedelta(days=90)
    expected = [f"alerts/date={old:%Y-%m-%d}"]  # the 95-days-ago day holds an active alert
    assert prune_alerts(lake, cutoff, dry_run=True) == expected
    assert (lake.root / expected[0]).is_dir()
    assert prune_alerts(lake, cutoff) == expected
    assert not (lake.root / expected[0]).exists()
    assert [a.alert_id for a in active_alerts(lake)] == [still.alert_id]
    assert prune_alerts(lake, cutoff) == []


_RACER = textwrap.dedent("""
    import sys, time
    from datetime import datetime
    from pathlib import Path
    from voice_monitor.health.alerts import run_checks
    from voice_monitor.health.checks import AlertConfig
    from voice_monitor.lake import Lake
    lake, now, go = Lake(sys.argv[1]), datetime.fromisoformat(sys.argv[2]), Path(sys.argv[3])
    while not go.exists():
        time.sleep(0.005)
    report = run_checks(lake, now, AlertConfig(checks=("circuit_breaker_open",)))
    print(len(report.raised))
""")


def test_concurrent_check_runs_raise_one_alert(lake, tmp_path):
    breaker(lake, "opened", NOW - M)
    go = tmp_path / "go"
    racers = [subprocess.Popen([sys.executable, "-c", _RACER, str(lake.root), NOW.isoformat(),
                                str(go)], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    go.touch()  # both processes start their run at the same moment
    raised = sorted(int(p.communicate(timeout=120)[0]) for p in racers)
    assert raised == [0, 1]
    assert [r[1] for r in records(lake)] == ["raised"]


def run_cli(capsys, *args) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_check_list_history_ack(lake, capsys, monkeypatch):
    monkeypatch.delenv("VOICE_MONITOR_WEBHOOK_URL", raising=False)
    breaker(lake, "opened", NOW - M)
    root = str(lake.root)
    code, out, _ = run_cli(capsys, "alerts", "check", "--lake", root, "--now", "2026-02-16T14:30:00Z",
                           "--json")
    assert code == 0
    report = json.loads(out)
    assert [a["alert_type"] for a in report["raised"]] == ["circuit_breaker_open", "inactivity"]
    breaker_id = report["raised"][0]["alert_id"]

    code, out, _ = run_cli(capsys, "alerts", "list", "--lake", root, "--json")
    assert code == 0 and {a["alert_id"] for a in json.loads(out)} == {
        a["alert_id"] for a in report["raised"]}
    # --now: the alerts active at that moment; raised at 14:30, none was a second before
    code, out, _ = run_cli(capsys, "alerts", "list", "--lake", root, "--now", "2026-02-16T14:29:59Z")
    assert (code, out) == (0, "no alert was active at 2026-02-16T14:29:59Z\n")
    code, out, _ = run_cli(capsys, "alerts", "list", "--lake", root, "--now", "2026-02-16T14:30:00Z",
                           "--json")
    assert code == 0 and len(json.loads(out)) == 2

    code, out, _ = run_cli(capsys, "alerts", "ack", breaker_id, "--by", "bob", "--lake", root,
                           "--now", "2026-02-16T14:40:00Z", "--json")
    assert code == 0
    assert (json.loads(out)["acknowledged_by"], json.loads(out)["acknowledged_at"]) == (
        "bob", "2026-02-16T14:40:00Z")

    code, out, _ = run_cli(capsys, "alerts", "history", "--lake", root, "--type",
                           "circuit_breaker_open")
    assert code == 0 and breaker_id in out and "ack bob" in out

    code, _, err = run_cli(capsys, "alerts", "ack", "al-missing", "--by", "bob", "--lake", root)
    assert code == 1 and err.strip().startswith("voice-monitor: error: no alert with id 'al-missing'")
    # a second acknowledgement keeps the first (who, when) and says so, in one line
    code, out, err = run_cli(capsys, "alerts", "ack", breaker_id, "--by", "carol", "--lake", root,
                             "--now", "2026-02-16T14:45:00Z")
    assert code == 1 and out == ""
    assert err.strip() == (f"voice-monitor: error: alert {breaker_id} is already acknowledged by "
                           "bob at 2026-02-16T14:40:00Z; nothing changed (the first "
                           "acknowledgement is kept)")
    code, _, err = run_cli(capsys, "alerts", "history", "--lake", root, "--cursor", "x.y")
    assert code == 1 and "bad cursor" in err and len(err.strip().splitlines()) == 1


def test_a_second_acknowledgement_keeps_the_first(lake):
    breaker(lake, "opened", NOW - 10 * M)
    (alert,) = run_checks(lake, NOW, BREAKER_ONLY).raised
    acknowledge_alert(lake, alert.alert_id, "alice", note="on it", now=NOW + M)
    with pytest.raises(AlreadyAcknowledgedError, match=(
            f"alert {alert.alert_id} is already acknowledged by alice at "
            "2026-02-16T14:31:00Z; nothing changed")) as raised:
        acknowledge_alert(lake, alert.alert_id, "mallory", note="mine now", now=NOW + 2 * M)
    assert raised.value.alert.acknowledged_by == "alice"
    (kept,) = active_alerts(lake)
    assert (kept.acknowledged_by, kept.acknowledged_at, kept.acknowledged_note) == (
        "alice", NOW + M, "on it")
    assert [r[1:] for r in records(lake)] == [("raised", NOW, None),
                                              ("acknowledged", NOW + M, "alice")]


def test_active_alerts_and_acknowledge_take_now_as_iso_text_as_the_other_reads_do(lake):
    """The query API takes a time as a datetime or ISO-8601 text (realtime_metrics,
    alert_history, failed_artifacts ...); active_alerts(lake, now="2026-02-16T14:00Z") was
    ValueError 'must be a time zone-aware datetime' (acknowledge_alert's now too)."""
    breaker(lake, "opened", NOW - 10 * M)
    (alert,) = run_checks(lake, NOW, BREAKER_ONLY).raised
    assert [a.alert_id for a in active_alerts(lake, now="2026-02-16T14:30Z")] == [alert.alert_id]
    assert active_alerts(lake, now="2026-02-16T14:29Z") == []  # raised at 14:30
    acknowledge_alert(lake, alert.alert_id, "alice", now="2026-02-16T14:31:00Z")
    (kept,) = active_alerts(lake)
    assert kept.acknowledged_at == NOW + M
    with pytest.raises(ValueError, match="is not an ISO-8601 time"):
        active_alerts(lake, now="yesterday")


def test_cli_check_exits_non_zero_when_a_check_fails(lake, capsys, monkeypatch):
    monkeypatch.delenv("VOICE_MONITOR_WEBHOOK_URL", raising=False)
    breaker(lake, "opened", NOW - M)
    (lake.event_partition(NOW) / "zz-garbage.parquet").write_bytes(b"not parquet")
    code, out, err = run_cli(capsys, "alerts", "check", "--lake", str(lake.root), "--now",
                             "2026-02-16T14:30:00Z")
    assert code == 1
    assert "4 check(s) failed" in err and len(err.strip().splitlines()) == 1
    # high_failure_rate, high_latency and lake_file_unreadable (which names the file) still ran
    assert "checked 3 of 7" in out and "lake_file_unreadable" in out and "zz-garbage" in out


def test_a_check_before_a_future_alert_resolves_it_at_its_raise_never_earlier(lake, capsys):
    """`alerts check --now 9998-01-01T00:00:00Z` raised an inactivity alert; the next check at
    the real time found the condition clear and resolved it at 14:30 on 2026-02-16, 7972 years
    before its raise. Now it resolves at its raise: resolved_at = raised_at = 9998-01-01."""
    far = datetime(9998, 1, 1, tzinfo=UTC)
    inactivity = AlertConfig(checks=("inactivity",))
    # an artifact received at 14:25: inactive at 9998 (none in the last 60 minutes), not at 14:30
    land_records(lake, [event("artifact_received", NOW - 5 * M, artifact_id="a1")], now=NOW)
    (raised,) = run_checks(lake, far, inactivity).raised
    assert raised.raised_at == far

    report = run_checks(lake, NOW, inactivity)
    assert [(a.alert_id, a.raised_at, a.resolved_at) for a in report.resolved] == [
        (raised.alert_id, far, far)]
    assert active_alerts(lake) == []
    assert [(a.status, a.raised_at, a.resolved_at) for a in alert_history(lake).alerts] == [
        ("resolved", far, far)]
    # the SQL view says the same; the record itself keeps the run's own time
    code, out, _ = run_main(capsys, "sql", "--lake", str(lake.root), "--json",
                            "select status, raised_at, resolved_at from alerts")
    assert code == 0
    assert json.loads(out)[0]["resolved_at"].startswith("9998-01-01")
    assert [(r[1], r[2]) for r in records(lake)] == [("raised", far), ("resolved", NOW)]


def test_a_check_in_the_past_does_not_reopen_what_a_later_check_resolved(lake, capsys):
    """Breaker opened at 14:20 and closed at 14:40; checks at 14:30 (raised) and 14:45
    (resolved). A replay at 14:35 found it open and raised a new critical alert, active (and
    posted to the webhook) until the next check, for a breaker closed since: the history
    shows it resolved at 14:45. Now it is not raised, and the run says why."""
    breaker(lake, "opened", NOW - 10 * M)
    breaker(lake, "closed", NOW + 10 * M)
    (raised,) = run_checks(lake, NOW, BREAKER_ONLY).raised
    assert [a.alert_id for a in run_checks(lake, NOW + 15 * M, BREAKER_ONLY).resolved] == [
        raised.alert_id]
    before = records(lake)

    replay = run_checks(lake, NOW + 5 * M, BREAKER_ONLY)
    assert (replay.raised, replay.resolved, replay.active) == ([], [], [])
    assert [(f["alert_type"], f["organization_id"], f["cleared_at"])
            for f in replay.not_raised] == [("circuit_breaker_open", None, NOW + 15 * M)]
    assert records(lake) == before and active_alerts(lake) == []
    code, out, _ = run_main(capsys, "alerts", "check", "--lake", str(lake.root), "--now",
                            "2026-02-16T14:35:00Z")  # every check (inactivity fires: no receipt)
    assert code == 0
    assert ("not raised circuit_breaker_open platform: a check at 2026-02-16T14:45:00Z found it "
            "clear, after this --now (circuit breaker opened at") in out
    assert [a.alert_type for a in active_alerts(lake)] == ["inactivity"]
    # the real time again, the breaker opened anew: raised as ever
    breaker(lake, "opened", NOW + 50 * M)
    assert [a.alert_type for a in run_checks(lake, NOW + 55 * M, BREAKER_ONLY).raised] == [
        "circuit_breaker_open"]


def test_a_check_at_a_now_after_the_clock_never_keeps_a_real_check_from_raising(lake):
    """7fc0332 kept a run from raising a key a check at a later `now` found clear. A check at a
    `now` the clock has not reached (a mistyped year, a host whose clock runs ahead) resolved
    the breaker's alert at 2999-01-01, and from then on no check before that date raised it
    again: the breaker opened anew at 15:20, and the 15:25 check raised nothing, an open
    breaker with no alert. A resolution recorded after the clock is a check of a time still
    to come: it keeps no check from raising."""
    far = datetime(2999, 1, 1, tzinfo=UTC)  # after any real clock
    breaker(lake, "opened", NOW - 10 * M)
    (raised,) = run_checks(lake, NOW, BREAKER_ONLY).raised
    breaker(lake, "closed", NOW + 10 * M)
    assert [a.alert_id for a in run_checks(lake, far, BREAKER_ONLY).resolved] == [
        raised.alert_id]
    breaker(lake, "opened", NOW + 50 * M)
    again = run_checks(lake, NOW + 55 * M, BREAKER_ONLY)
    assert [a.alert_type for a in again.raised] == ["circuit_breaker_open"]
    assert again.not_raised == []
    assert [a.alert_type for a in active_alerts(lake)] == ["circuit_breaker_open"]


def test_a_future_alert_whose_condition_holds_earlier_stays_active(lake):
    """The same replayed alert, checked at 14:30 while the condition holds then too (nothing
    received since 13:00): it stays active, nothing new is raised or resolved."""
    far = datetime(9998, 1, 1, tzinfo=UTC)
    inactivity = AlertConfig(checks=("inactivity",))
    land_records(lake, [event("artifact_received", NOW - 90 * M, artifact_id="a1")], now=NOW)
    (raised,) = run_checks(lake, far, inactivity).raised
    report = run_checks(lake, NOW, inactivity)
    assert (report.raised, report.resolved) == ([], [])
    assert [(a.alert_id, a.status, a.resolved_at) for a in active_alerts(lake)] == [
        (raised.alert_id, "active", None)]


def test_a_check_before_2000_is_refused_and_leaves_every_alert_as_it_was(lake, capsys):
    """`alerts check --now 1970-01-01T00:00:00Z` (epoch 0: an unset variable in a script) saw
    a lake with no event yet, found every condition clear and resolved the active alerts: one
    raised at 14:30 on 2026-02-16 and one a replay raised in 9998, each at its raise. No event
    can be before 2000-01-01: such a now is refused, nothing recorded."""
    far = datetime(9998, 1, 1, tzinfo=UTC)
    breaker(lake, "opened", NOW - 10 * M)  # active from 14:30
    run_checks(lake, NOW, BREAKER_ONLY)
    inactivity = AlertConfig(checks=("inactivity",))
    run_checks(lake, far, inactivity)  # no artifact_received in the hour before 9998-01-01
    before = records(lake)
    assert sorted(a.raised_at for a in active_alerts(lake)) == [NOW, far]
    with pytest.raises(ValueError, match=r"^now '1999-12-31T23:59:59Z' is before 2000-01-01, "
                                         r"where a lake holds no event"):
        run_checks(lake, datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC), AlertConfig())
    code, _, err = run_main(capsys, "alerts", "check", "--lake", str(lake.root),
                            "--now", "1970-01-01T00:00:00Z")
    assert_one_line_error(code, err, 1)
    assert err.strip() == (
        "voice-monitor: error: now '1970-01-01T00:00:00Z' is before 2000-01-01, where a lake "
        "holds no event (earlier timestamps are refused): every check would find its condition "
        "clear and resolve the active alerts; check at a time from 2000-01-01 on, e.g. "
        "2026-02-16T14:30:00Z, or leave now out for the clock")
    assert records(lake) == before
    assert sorted(a.raised_at for a in active_alerts(lake)) == [NOW, far]


def test_a_failure_rate_alert_escalates_to_critical_as_the_same_alert_and_never_back(
        lake, capsys, monkeypatch):
    """A high_failure_rate alert raised at 15 % stayed 'high' at 30 %, though the contract says
    critical above 25 %: on-call saw a high page for a critical condition. Now the active
    alert escalates (same id, one alert of its key), everywhere it is read, and stays critical
    while active; it resolves as before. Rates worked by hand over the hour's window."""
    from fastapi.testclient import TestClient
    from prometheus_client.parser import text_string_to_metric_families

    from voice_monitor.server import create_app
    from voice_monitor.views import lake_connection

    monkeypatch.delenv("VOICE_MONITOR_WEBHOOK_URL", raising=False)
    platform = AlertConfig(checks=("high_failure_rate",), failure_rate_per_organization=False)

    def outcomes(at, completed: int, failed: int) -> None:
        land_records(lake, [event("artifact_completed", at) for _ in range(completed)]
                     + [event("artifact_failed", at) for _ in range(failed)], now=at)

    def active_gauges() -> dict:
        text = http.get("/metrics", headers={"Authorization": "Bearer staff-0123456789abcdef"}).text
        return {s.labels["severity"]: s.value for family in text_string_to_metric_families(text)
                for s in family.samples if s.name == "voice_monitor_alerts_active"
                and s.labels["alert_type"] == "high_failure_rate"}

    http = TestClient(create_app(lake, staff_tokens=["staff-0123456789abcdef"]))
    outcomes(NOW - 5 * M, 17, 3)  # 3 / 20 = 15.0 %: high (above 10 %, not above 25 %)
    (raised,) = run_checks(lake, NOW, platform).raised
    assert (raised.severity, raised.value, raised.threshold) == ("high", 0.15, 0.10)
    assert active_gauges() == {"low": 0, "medium": 0, "high": 1, "critical": 0}
    acknowledge_alert(lake, raised.alert_id, "alice", now=NOW + M)

    outcomes(NOW + 2 * M, 4, 6)  # at 14:35 the hour holds 21 completed, 9 failed: 9 / 30 = 30.0 %
    # every check, as on-call runs it (inactivity is raised too: no artifact_received)
    code, out, _ = run_cli(capsys, "alerts", "check", "--lake", str(lake.root), "--now",
                           "2026-02-16T14:35:00Z", "--json")
    assert code == 0
    report = json.loads(out)
    assert [a["alert_type"] for a in report["raised"]] == ["inactivity"]
    assert report["resolved"] == []
    [escalated] = report["escalated"]
    assert {k: escalated[k] for k in ("alert_id", "severity", "status", "value", "threshold",
                                      "raised_at", "escalated_at", "acknowledged_by")} == {
        "alert_id": raised.alert_id, "severity": "critical", "status": "active", "value": 0.3,
        "threshold": 0.25, "raised_at": "2026-02-16T14:30:00Z",
        "escalated_at": "2026-02-16T14:35:00Z", "acknowledged_by": "alice"}
    assert escalated["message"] == ("failure rate 30.0% (9 failed of 30 outcomes in the last "
                                    "hour) is above 25.0%")
    assert [(a["alert_id"], a["severity"]) for a in report["active"]
            if a["alert_type"] == "high_failure_rate"] == [(raised.alert_id, "critical")]
    # one active alert of the key, critical, wherever it is read
    assert [(a.alert_id, a.severity, a.acknowledged_by) for a in active_alerts(lake)
            if a.alert_type == "high_failure_rate"] == [(raised.alert_id, "critical", "alice")]
    con = lake_connection(lake)
    assert con.sql("select alert_id, severity, status, value, escalated_at from alerts "
                   "where alert_type = 'high_failure_rate'").fetchall(
        ) == [(raised.alert_id, "critical", "active", 0.3, NOW + 5 * M)]
    con.close()
    assert active_gauges() == {"low": 0, "medium": 0, "high": 0, "critical": 1}
    answer = http.get("/api/v1/alerts", headers={"Authorization": "Bearer staff-0123456789abcdef"})
    assert [(a["alert_id"], a["severity"], a["escalated_at"]) for a in answer.json()["alerts"]
            if a["alert_type"] == "high_failure_rate"] == [
        (raised.alert_id, "critical", "2026-02-16T14:35:00Z")]
    code, out, _ = run_cli(capsys, "alerts", "list", "--lake", str(lake.root))
    assert (f"{raised.alert_id}  active   critical high_failure_rate      platform     raised "
            "2026-02-16 14:30Z  escalated 2026-02-16 14:35Z  ack alice 2026-02-16 14:31Z") in out

    again = run_checks(lake, NOW + 10 * M, platform)  # still 30 %: nothing new
    assert (again.raised, again.escalated, again.resolved) == ([], [], [])
    # at 15:28 the hour from 14:28 holds 14:32's 4 + 6 and 14:50's 30 completed (not 14:25's):
    # 6 / 40 = 15.0 %, high again; a page's severity does not fall back while it is active
    outcomes(NOW + 20 * M, 30, 0)
    lower = run_checks(lake, NOW + 58 * M, platform)
    assert (lower.raised, lower.escalated, lower.resolved) == ([], [], [])
    assert [(a.alert_id, a.severity, a.value) for a in lower.active
            if a.alert_type == "high_failure_rate"] == [(raised.alert_id, "critical", 0.3)]

    outcomes(NOW + 80 * M, 19, 1)  # 15:50: the hour to 16:00 holds only these, 1 / 20 = 5 %
    cleared = run_checks(lake, NOW + 90 * M, platform)
    assert [(a.alert_id, a.severity, a.resolved_at) for a in cleared.resolved] == [
        (raised.alert_id, "critical", NOW + 90 * M)]
    assert [a.alert_type for a in active_alerts(lake)] == ["inactivity"]
    assert active_gauges() == {"low": 0, "medium": 0, "high": 0, "critical": 0}
    (old,) = alert_history(lake, type="high_failure_rate").alerts
    assert (old.alert_id, old.severity, old.status, old.raised_at, old.escalated_at,
            old.resolved_at, old.acknowledged_by) == (
        raised.alert_id, "critical", "resolved", NOW, NOW + 5 * M, NOW + 90 * M, "alice")
    glob = str(lake.alerts_dir / "date=*" / "*.parquet")
    assert duckdb.sql(f"select record_type, recorded_at, severity from read_parquet('{glob}') "
                      "where alert_type = 'high_failure_rate' order by record_id").fetchall() == [
        ("raised", NOW, "high"), ("acknowledged", NOW + M, "high"),
        ("escalated", NOW + 5 * M, "critical"), ("resolved", NOW + 90 * M, "critical")]
    http.close()


def test_a_run_whose_only_change_is_an_escalation_counts_it(lake, capsys, monkeypatch):
    """`alerts check` at 14:35, whose only change was the 14:30 failure-rate alert escalating
    (3/20 = 15 % high, then 9/30 = 30 % critical), printed 'raised 0, resolved 0' and, its
    webhook_url ftp://, 'this run raised 0 and resolved 0 alert(s) ... kept to post' while it
    kept the escalation to post. Now both count it ('escalated 1'); a run with no escalation
    reads as before."""
    monkeypatch.setenv("VOICE_MONITOR_WEBHOOK_URL", "ftp://hooks.example.com/T0/secret-path")
    lake_arg = ("--lake", str(lake.root))

    def outcomes(at, completed: int, failed: int) -> None:
        land_records(lake, [event("artifact_completed", at) for _ in range(completed)]
                     + [event("artifact_failed", at) for _ in range(failed)]
                     + [event("artifact_received", at)], now=at)  # no inactivity alert

    outcomes(NOW - 5 * M, 17, 3)
    code, out, err = run_cli(capsys, "alerts", "check", *lake_arg, "--now", "2026-02-16T14:30:00Z")
    assert_one_line_error(code, err, 1)
    assert out.splitlines()[0] == "checked 7 of 7: raised 1, resolved 0, active 1"
    assert "nothing was posted (this run raised 1 and resolved 0 alert(s), all stored" in err
    (alert,) = active_alerts(lake)
    assert (alert.alert_type, alert.severity) == ("high_failure_rate", "high")

    outcomes(NOW + 2 * M, 4, 6)
    code, out, err = run_cli(capsys, "alerts", "check", *lake_arg, "--now", "2026-02-16T14:35:00Z")
    assert_one_line_error(code, err, 1)
    assert out.splitlines()[0] == "checked 7 of 7: raised 0, escalated 1, resolved 0, active 1"
    assert out.splitlines()[1].startswith(f"escalated {alert.alert_id}")
    assert ("nothing was posted (this run raised 0, escalated 1 and resolved 0 alert(s), all "
            "stored in the alert history and kept to post once it is fixed, for 24 h)") in err
    # and it is kept to post: the escalation's undelivered record
    glob = str(lake.alerts_dir / "date=*" / "*.parquet")
    assert duckdb.sql(f"select alert_id, note from read_parquet('{glob}') where record_type = "
                      "'undelivered' order by record_id").fetchall() == [
        (alert.alert_id, "raised"), (alert.alert_id, "escalated")]
