"""One settings surface: defaults < voice-monitor.toml < VOICE_MONITOR_* < --set, each value
reported with its source, secrets masked, bad values refused in one line naming the fix."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from conftest import NOW, assert_one_line_error, event, run_main

from voice_monitor.landing import land_records
from voice_monitor.settings import SettingsError, load_settings, mask

H = timedelta(hours=1)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No setting from the machine running the tests; cwd without a voice-monitor.toml."""
    import os

    for name in list(os.environ):
        if name.startswith("VOICE_MONITOR_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_each_source_overrides_the_one_before(tmp_path, monkeypatch):
    (tmp_path / "voice-monitor.toml").write_text(
        'lake = "/srv/lake"\n[retention]\nevents = "72h"\nquarantine = "10d"\n'
        "[alerts]\nqueue_depth_max = 70\n")
    monkeypatch.setenv("VOICE_MONITOR_RETENTION_QUARANTINE", "14d")
    monkeypatch.setenv("VOICE_MONITOR_ALERTS_QUEUE_DEPTH_MAX", "75")
    got = load_settings({"alerts.queue_depth_max": "80"}, source="flag --set")
    s = got.settings
    assert (s.lake, s.retention.events, s.retention.quarantine, s.alerts.queue_depth_max) == (
        "/srv/lake", timedelta(hours=72), timedelta(days=14), 80)
    assert s.retention.daily_snapshots == timedelta(days=90)  # untouched: the default
    assert got.sources["lake"] == "file voice-monitor.toml"
    assert got.sources["retention.events"] == "file voice-monitor.toml"
    assert got.sources["retention.quarantine"] == "env VOICE_MONITOR_RETENTION_QUARANTINE"
    assert got.sources["alerts.queue_depth_max"] == "flag --set"
    assert got.sources["retention.daily_snapshots"] == "default"
    # the library objects carry the values; event-window checks follow event retention
    assert s.retention_config().events == timedelta(hours=72)
    config = s.alert_config()
    assert (config.queue_depth_max, config.event_window) == (80, timedelta(hours=72))


def test_a_config_file_with_a_byte_order_mark_is_read(tmp_path):
    # Notepad and other Windows editors save UTF-8 with a BOM; TOML allows it
    (tmp_path / "voice-monitor.toml").write_bytes(
        b"\xef\xbb\xbflake = '/srv/lake'\r\n[alerts]\r\nqueue_depth_max = 70\r\n")
    got = load_settings()
    assert (got.settings.lake, got.settings.alerts.queue_depth_max) == ("/srv/lake", 70)
    assert got.sources["lake"] == "file voice-monitor.toml"


def test_config_file_named_by_the_environment(tmp_path, monkeypatch):
    other = tmp_path / "elsewhere.toml"
    other.write_text("[alerts]\nfailure_rate_high = 0.2\n")
    monkeypatch.setenv("VOICE_MONITOR_CONFIG", str(other))
    assert load_settings().settings.alerts.failure_rate_high == 0.2
    monkeypatch.setenv("VOICE_MONITOR_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(SettingsError, match="VOICE_MONITOR_CONFIG=.*missing.toml.* is not a file"):
        load_settings()


@pytest.mark.parametrize(("where", "value", "match"), [
    ("env", "1h", r"retention.events='1h' \(from env VOICE_MONITOR_RETENTION_EVENTS\).*at least 25 h"),
    ("env", "forever", r"retention.events='forever'.*use a number and a unit, e.g. 48h"),
    ("flag", "0.5x", r"retention.events='0.5x' \(from flag --set\)"),
])
def test_a_bad_value_names_itself_its_source_and_the_fix(where, value, match, monkeypatch):
    if where == "env":
        monkeypatch.setenv("VOICE_MONITOR_RETENTION_EVENTS", value)
        overrides = {}
    else:
        overrides = {"retention.events": value}
    with pytest.raises(SettingsError, match=match):
        load_settings(overrides, source="flag --set")


def test_unknown_keys_and_secrets_in_files_are_refused(tmp_path):
    path = tmp_path / "voice-monitor.toml"
    path.write_text("[retention]\nevent = '72h'\n")
    with pytest.raises(SettingsError, match="unknown setting 'retention.event' in voice-monitor.toml"):
        load_settings()
    path.write_text("staff_tokens = 'abcdefghijklmnopqrstu'\n")
    with pytest.raises(SettingsError, match="set VOICE_MONITOR_STAFF_TOKENS instead"):
        load_settings()


def test_secrets_are_masked():
    assert mask("staff_tokens", "aaaaaaaaaaaaaaaaaa, bbbbbbbbbbbbbbbbbbbbb") == "**** (2 tokens)"
    assert mask("webhook_url", "https://hooks.slack.com/services/T0/B0/xyz") == \
        "https://hooks.slack.com/****"
    assert mask("counters", "redis://:hunter2@cache:6379/0") == "redis://****@cache:6379/0"
    assert mask("counters", "redis://cache:6379/0") == "redis://cache:6379/0"


def test_config_show_prints_values_sources_and_masks(capsys, monkeypatch, lake):
    monkeypatch.setenv("VOICE_MONITOR_LAKE", str(lake.root))
    monkeypatch.setenv("VOICE_MONITOR_WEBHOOK_URL", "https://hooks.example.com/T0/secret-part")
    monkeypatch.setenv("VOICE_MONITOR_RETENTION_EVENTS", "72h")
    code, out, err = run_main(capsys, "config", "show", "--set", "alerts.queue_depth_max=80",
                              "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["retention.events"]["value"] == "72h"
    assert shown["retention.events"]["source"] == "env VOICE_MONITOR_RETENTION_EVENTS"
    assert shown["alerts.queue_depth_max"] == {**shown["alerts.queue_depth_max"],
                                               "value": 80, "source": "flag --set"}
    assert shown["retention.hourly_snapshots"]["value"] == "7d"
    assert shown["webhook_url"]["value"] == "https://hooks.example.com/****"
    assert "secret-part" not in out
    code, out, _ = run_main(capsys, "config", "show")
    assert code == 0 and "secret-part" not in out
    line = next(x for x in out.splitlines() if x.startswith("retention.events"))
    assert line.split() == ["retention.events", "72h", "env", "VOICE_MONITOR_RETENTION_EVENTS"]


def test_config_show_prints_the_values_then_refuses_a_path_with_no_lake(capsys, tmp_path):
    missing = tmp_path / "typo"
    code, out, err = run_main(capsys, "config", "show", "--lake", str(missing))
    assert_one_line_error(code, err, 1)
    assert f"no lake at {missing}; create it with voice-monitor init {missing}" in err
    assert out.splitlines()[0].split()[:2] == ["lake", str(missing)]  # the values came first
    assert not missing.exists()


def test_a_bad_setting_at_the_cli_is_one_line(capsys, lake):
    code, _, err = run_main(capsys, "retention", "--lake", str(lake.root), "--set",
                            "retention.events=12h")
    assert_one_line_error(code, err, 1)
    assert "retention.events='12h' (from flag --set)" in err
    code, _, err = run_main(capsys, "alerts", "check", "--lake", str(lake.root), "--set", "nope=1")
    assert_one_line_error(code, err, 1)
    assert "unknown setting 'nope'" in err


def test_ingest_with_a_bad_setting_says_one_line_in_its_own_process(lake, tmp_path):
    """A real process: `ingest` meets the settings when it opens the counter store, after its
    DuckDB connections; the error kept them alive to exit, where nanobind listed ~40 lines of
    'leaked instance' on stderr after the error's one line."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    batch = tmp_path / "batch.jsonl"
    batch.write_text(json.dumps(event("artifact_received", NOW)) + "\n")
    (tmp_path / "bad.toml").write_text("counters = 5\n")  # the one setting a landing reads
    env = {**os.environ, "VOICE_MONITOR_CONFIG": str(tmp_path / "bad.toml")}
    done = subprocess.run([str(Path(sys.executable).with_name("voice-monitor")), "ingest",
                           str(batch), "--lake", str(lake.root), "--now", "2026-02-16T14:30:00Z"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"voice-monitor: error: bad setting counters=5 (from file "
                           f"{tmp_path / 'bad.toml'}): ")


def test_landing_is_not_stopped_by_a_bad_setting_it_does_not_read(lake, tmp_path, capsys,
                                                                 monkeypatch):
    # a bad VOICE_MONITOR_DASK (or retention value) failed every landing of a Producer inside
    # someone's service ("1 landing(s) ... failed after 3 retries": its events not landed) and
    # every `ingest`: the counter store's lookup validated all settings. A landing reads only
    # `counters`; the commands that use the others still refuse them
    from voice_monitor import Producer
    from voice_monitor.counters import realtime_metrics

    monkeypatch.setenv("VOICE_MONITOR_DASK", "foo")
    monkeypatch.setenv("VOICE_MONITOR_RETENTION_EVENTS", "garbage")
    (tmp_path / "voice-monitor.toml").write_text(f"lake = {str(lake.root)!r}\n"
                                                 "[alerts]\nno_such_key = 1\n")
    with Producer(lake, now=NOW) as producer:
        producer.emit(event("artifact_received", NOW, event_id="from-the-producer"))
    assert producer.stats.accepted == 1 and producer.errors == []
    batch = tmp_path / "batch.jsonl"
    batch.write_text(json.dumps(event("artifact_received", NOW, event_id="from-a-file")) + "\n")
    code, out, err = run_main(capsys, "ingest", str(batch), "--now", "2026-02-16T14:30:00Z")
    assert (code, err) == (0, "") and "accepted 1" in out  # the lake from the config file
    assert realtime_metrics(lake, now=NOW)["artifacts_received"] == 2
    code, _, err = run_main(capsys, "rollup", "hourly", "--lake", str(lake.root))
    assert_one_line_error(code, err, status=1)  # a command that reads every setting says so
    # ... while a bad value of the one setting a landing reads stops it, naming it
    monkeypatch.setenv("VOICE_MONITOR_COUNTERS", "memcached://cache:11211")
    code, _, err = run_main(capsys, "ingest", str(batch), "--lake", str(lake.root), "--now",
                            "2026-02-16T14:30:00Z")
    assert_one_line_error(code, err, status=1)
    assert "unknown counter store 'memcached://cache:11211' in VOICE_MONITOR_COUNTERS" in err


def test_retention_periods_reach_the_retention_command(capsys, lake, monkeypatch):
    # event hours ending 50 h and 30 h before NOW: 48 h retention drops the first only,
    # 72 h (from the environment) drops neither, and --set 26h drops both
    land_records(lake, [event("artifact_received", NOW - 51 * H),
                        event("artifact_received", NOW - 31 * H)], now=NOW)
    args = ("retention", "--dry-run", "--only", "events", "--lake", str(lake.root), "--now",
            "2026-02-16T14:30:00Z", "--json")
    assert json.loads(run_main(capsys, *args)[1])["counts"] == {"events": 1}
    monkeypatch.setenv("VOICE_MONITOR_RETENTION_EVENTS", "72h")
    assert json.loads(run_main(capsys, *args)[1])["counts"] == {}
    assert json.loads(run_main(capsys, *args, "--set", "retention.events=26h")[1])["counts"] == \
        {"events": 2}


def test_alert_thresholds_reach_the_check_command(capsys, lake, monkeypatch):
    # 3 artifacts received, none finished: 3 active; queue_depth fires only above the threshold
    land_records(lake, [event("artifact_received", NOW - 10 * timedelta(minutes=1),
                              artifact_id=f"a{i}") for i in range(3)], now=NOW)
    args = ("alerts", "check", "--lake", str(lake.root), "--now", "2026-02-16T14:30:00Z", "--json")
    monkeypatch.setenv("VOICE_MONITOR_ALERTS_QUEUE_DEPTH_MAX", "3")
    raised = json.loads(run_main(capsys, *args)[1])["raised"]
    assert "queue_depth" not in {a["alert_type"] for a in raised}
    raised = json.loads(run_main(capsys, *args, "--set", "alerts.queue_depth_max=2")[1])["raised"]
    assert "queue_depth" in {a["alert_type"] for a in raised}


def test_failure_rate_high_above_critical_is_refused_naming_both(capsys, lake, monkeypatch):
    """`--set alerts.failure_rate_high=0.3` (critical 0.25) was accepted: rates between 25 % and
    30 % then raised nothing and every alert was critical. Refused at load, naming both
    settings, both values and the fix, before any check runs."""
    code, _, err = run_main(capsys, "alerts", "check", "--lake", str(lake.root), "--now",
                            "2026-02-16T14:30:00Z", "--set", "alerts.failure_rate_high=0.3")
    assert_one_line_error(code, err, 1)
    assert ("bad alerts settings [alerts.failure_rate_high='0.3' (from flag --set)]: "
            "failure_rate_high=0.3 is above failure_rate_critical=0.25") in err
    assert "lower failure_rate_high to at most 0.25 or raise failure_rate_critical to at least 0.3" in err
    monkeypatch.setenv("VOICE_MONITOR_ALERTS_FAILURE_RATE_CRITICAL", "0.05")  # below high 0.1
    with pytest.raises(SettingsError, match=r"failure_rate_critical='0.05' \(from env VOICE_MONITOR_"
                                            r"ALERTS_FAILURE_RATE_CRITICAL\)\]: failure_rate_high=0.1 "
                                            r"is above failure_rate_critical=0.05"):
        load_settings()


def test_failure_rate_thresholds_are_checked_as_they_end_up(monkeypatch):
    """Equal thresholds are allowed (every failure-rate alert critical); a flow's `alerts`
    parameter that sets only failure_rate_high is judged with the critical the environment
    sets, not the default."""
    from voice_monitor.health.checks import AlertConfig
    from voice_monitor.settings import AlertSettings

    both = {"alerts.failure_rate_high": "0.25", "alerts.failure_rate_critical": "0.25"}
    assert load_settings(both).settings.alerts.failure_rate_high == 0.25
    monkeypatch.setenv("VOICE_MONITOR_ALERTS_FAILURE_RATE_CRITICAL", "0.5")
    parameter = AlertSettings(failure_rate_high=0.3)  # as Prefect validates the parameter
    alerts = load_settings({"alerts.failure_rate_high": parameter.failure_rate_high}).settings.alerts
    assert (alerts.failure_rate_high, alerts.failure_rate_critical) == (0.3, 0.5)
    with pytest.raises(ValueError, match="^failure_rate_high=0.4 is above failure_rate_critical=0.3"):
        AlertConfig(failure_rate_high=0.4, failure_rate_critical=0.3)


@pytest.mark.parametrize("value", ["1000000d", "99999999999999d", "36501d"])
def test_a_duration_longer_than_100_years_is_one_line_naming_it(capsys, lake, value):
    # "OverflowError: date value out of range" (the cut-off before year 1), or for
    # 99999999999999d "OverflowError: Python int too large to convert to C int"
    code, _, err = run_main(capsys, "retention", "--dry-run", "--lake", str(lake.root),
                            "--now", "2026-02-16T14:30:00Z", "--set", f"retention.events={value}")
    assert_one_line_error(code, err, 1)
    assert (f"retention.events='{value}' (from flag --set): '{value}' is longer than 36500d "
            "(100 years), the most a duration takes; use 36500d or less") in err
    code, _, err = run_main(capsys, "retention", "--dry-run", "--lake", str(lake.root),
                            "--now", "2026-02-16T14:30:00Z", "--set", "retention.events=36500d")
    assert code == 0, err


def test_a_latency_baseline_shorter_than_the_hours_it_must_hold_is_refused(capsys, lake):
    """alerts.latency_baseline=3h with latency_min_baseline_hours=6 (the default) was accepted:
    the baseline holds the hourly rows starting in the 3 h before the hour (3 of them), never
    6, so high_latency could never fire."""
    code, _, err = run_main(capsys, "alerts", "check", "--lake", str(lake.root), "--now",
                            "2026-02-16T14:30:00Z", "--set", "alerts.latency_baseline=3h")
    assert_one_line_error(code, err, 1)
    assert ("bad alerts settings [alerts.latency_baseline='3h' (from flag --set)]: "
            "latency_min_baseline_hours=6 is more than the 3 hour(s) latency_baseline=3h holds"
            ) in err
    assert "lower latency_min_baseline_hours to at most 3 or lengthen latency_baseline to at least 6h" in err
    # 90 min holds one hourly row (the hour before), 6 h holds six: both are enough
    assert load_settings({"alerts.latency_baseline": "90m",
                          "alerts.latency_min_baseline_hours": "1"}).settings.alerts
    assert load_settings({"alerts.latency_baseline": "6h"}).settings.alerts.latency_baseline == 6 * H
    with pytest.raises(SettingsError, match="latency_min_baseline_hours=2 is more than the 1 hour"):
        load_settings({"alerts.latency_baseline": "90m", "alerts.latency_min_baseline_hours": "2"})


def test_an_inactivity_window_longer_than_event_retention_is_refused(capsys, lake):
    """`--set alerts.inactivity_window=72h` with events kept 48h was accepted: the check could
    never see 72 hours back. Refused at load, naming both settings and the fix; equal is fine,
    and so is 72h once events are kept 72h."""
    code, _, err = run_main(capsys, "alerts", "check", "--lake", str(lake.root), "--now",
                            "2026-02-16T14:30:00Z", "--set", "alerts.inactivity_window=72h")
    assert_one_line_error(code, err, 1)
    assert ("bad settings [alerts.inactivity_window='72h' (from flag --set)]: "
            "alerts.inactivity_window=72h is longer than retention.events=48h") in err
    assert ("shorten alerts.inactivity_window to at most 48h or keep events at least 72h "
            "(retention.events)") in err
    assert load_settings({"alerts.inactivity_window": "48h"}).settings.alerts.inactivity_window \
        == timedelta(hours=48)
    both = load_settings({"alerts.inactivity_window": "72h", "retention.events": "72h"})
    assert both.settings.alert_config().inactivity_window == timedelta(hours=72)


def test_the_library_refuses_an_inactivity_window_longer_than_its_event_window(lake):
    """AlertConfig(inactivity_window=72h) with the default 48 h event window (event retention)
    was accepted, and the check looks in the event window's hours only: an artifact received
    60 h before now was "none in the retained window", and inactivity fired. Refused, naming
    both; with the event window the retention keeps (72 h) it is taken and does not fire."""
    from voice_monitor.health.alerts import run_checks
    from voice_monitor.health.checks import AlertConfig

    with pytest.raises(ValueError) as refused:
        AlertConfig(inactivity_window=timedelta(hours=72))
    assert str(refused.value) == (
        "inactivity_window=72h is longer than event_window=48h (the event retention the event "
        "checks look in): the inactivity check could not see an artifact_received that far "
        "back; shorten inactivity_window to at most 48h, or keep events at least 72h and pass "
        "that retention as event_window (RetentionConfig.events)")
    now = datetime(2026, 2, 16, 14, 30, tzinfo=UTC)
    land_records(lake, [{"event_id": "r-60h", "event_type": "artifact_received",
                         "artifact_id": "a-1", "timestamp": now - timedelta(hours=60)}], now=now)
    config = AlertConfig(inactivity_window=timedelta(hours=72), event_window=timedelta(hours=72),
                         checks=("inactivity",))
    assert run_checks(lake, now, config).raised == []  # 60 h ago is within 72 h
    shorter = AlertConfig(inactivity_window=timedelta(hours=48), checks=("inactivity",))
    assert [a.alert_type for a in run_checks(lake, now, shorter).raised] == ["inactivity"]


@pytest.mark.parametrize("value", ["inf", "nan", "1e10", "3601"])
def test_a_webhook_timeout_that_is_no_number_of_seconds_is_refused(capsys, lake, value):
    """`--set alerts.webhook_timeout_s=inf` (or 1e10) was accepted; with a webhook_url the
    check run then failed in httpx: "OverflowError: timestamp out of range for platform
    time_t". Refused at load, naming the value; 3600 s (an hour per attempt) is the most."""
    from voice_monitor.health.checks import AlertConfig

    code, _, err = run_main(capsys, "alerts", "check", "--lake", str(lake.root), "--now",
                            "2026-02-16T14:30:00Z", "--set", f"alerts.webhook_timeout_s={value}")
    assert_one_line_error(code, err, 1)
    assert (f"bad setting alerts.webhook_timeout_s='{value}' (from flag --set): Input should be "
            "less than or equal to 3600") in err
    assert load_settings({"alerts.webhook_timeout_s": "3600"}).settings.alerts.webhook_timeout_s \
        == 3600
    with pytest.raises(ValueError, match=r"^webhook_timeout_s=inf is not a number of seconds "
                                         r"above 0 and at most 3600; use e.g. 5$"):
        AlertConfig(webhook_timeout_s=float("inf"))


# value as a setting, as the library takes it, and the bound refused (pydantic's words): worked
# out from contract §9 (a rate is a share in (0, 1], a count at least 0, a window above 0)
OUT_OF_BOUNDS = [
    ("failure_rate_high", "nan", float("nan"), "Input should be less than or equal to 1"),
    ("failure_rate_high", "0", 0.0, "Input should be greater than 0"),
    ("queue_depth_max", "-5", -5, "Input should be greater than or equal to 0"),
    ("disambiguation_backlog_max", "-1", -1, "Input should be greater than or equal to 0"),
    ("latency_factor", "1", 1.0, "Input should be greater than 1"),
    ("inactivity_window", "0s", timedelta(0), "Input should be greater than 0 seconds"),
    ("inactivity_window", "0m", timedelta(0), "Input should be greater than 0 seconds"),
    # no p95 is above inf times the baseline: high_latency was silently off
    ("latency_factor", "inf", float("inf"), "Input should be a finite number"),
    ("latency_factor", "nan", float("nan"), "Input should be a finite number"),
    ("latency_baseline", "30m", timedelta(minutes=30),
     "Input should be greater than or equal to 1 hour"),
]


@pytest.mark.parametrize(("name", "text", "value", "refusal"), OUT_OF_BOUNDS,
                         ids=[f"{o[0]}={o[1]}" for o in OUT_OF_BOUNDS])
def test_the_library_refuses_what_the_settings_refuse_in_the_same_words(capsys, lake, name, text,
                                                                         value, refusal):
    """`AlertConfig(failure_rate_high=nan)` (or queue_depth_max=-5, inactivity_window=0) was
    accepted by the library while `--set alerts.<name>=...` was refused; and
    `--set alerts.inactivity_window=0s` was accepted, an inactivity alert that holds at every
    instant (no artifact_received in the last 0 minutes) and never resolves;
    `--set alerts.latency_factor=inf` was accepted and high_latency could never fire."""
    from voice_monitor.health.checks import AlertConfig

    code, _, err = run_main(capsys, "alerts", "check", "--lake", str(lake.root), "--now",
                            "2026-02-16T14:30:00Z", "--set", f"alerts.{name}={text}")
    assert_one_line_error(code, err, 1)
    assert f"bad setting alerts.{name}='{text}' (from flag --set): {refusal} (alerts.{name}: " in err
    shown = ({timedelta(0): "0s", timedelta(minutes=30): "1800s"}[value]
             if isinstance(value, timedelta) else repr(value))
    with pytest.raises(ValueError) as refused:
        AlertConfig(**{name: value})
    assert str(refused.value) == f"{name}={shown}: {refusal}"


@pytest.mark.parametrize(("value", "refusal"), [
    (float("nan"), "Input should be less than or equal to 3600"),
    (float("inf"), "Input should be less than or equal to 3600"),
    (-0.5, "Input should be greater than or equal to 0")])
def test_a_webhook_backoff_that_is_no_number_of_seconds_is_refused(value, refusal):
    """The library's webhook_backoff_s (no setting) took nan, inf or a negative: the retry's
    sleep then failed or never ended. Bounded as webhook_timeout_s is: 0 to 3600 seconds."""
    from voice_monitor.health.checks import AlertConfig

    with pytest.raises(ValueError) as refused:
        AlertConfig(webhook_backoff_s=value)
    assert str(refused.value) == f"webhook_backoff_s={value!r}: {refusal}"
    assert AlertConfig(webhook_backoff_s=0).webhook_backoff_s == 0  # no wait: allowed


@pytest.mark.parametrize(("name", "value", "shown", "refusal"), [
    ("event_window", timedelta(0), "0s", "Input should be greater than 0 seconds"),
    ("event_window", -H, "-3600s", "Input should be greater than 0 seconds"),
    ("webhook_retry_for", -H, "-3600s", "Input should be greater than or equal to 0 seconds"),
    ("latency_baseline", -H, "-3600s", "Input should be greater than or equal to 1 hour"),
    ("latency_baseline", timedelta(minutes=30), "1800s",
     "Input should be greater than or equal to 1 hour"),
])
def test_a_window_of_no_time_is_refused_by_the_library(name, value, shown, refusal):
    """AlertConfig(event_window=0 or -1h) and (webhook_retry_for=-1h) were accepted: the event
    checks then read no hour, a retry window ended before it began. A negative latency_baseline
    was refused as holding "-1 hour(s)", with the fix "lower latency_min_baseline_hours to at
    most -1". A baseline is a mean of hourly p95s: it must span at least an hour."""
    from voice_monitor.health.checks import AlertConfig

    with pytest.raises(ValueError) as refused:
        AlertConfig(**{name: value})
    assert str(refused.value) == f"{name}={shown}: {refusal}"
    assert AlertConfig(webhook_retry_for=timedelta(0)).webhook_retry_for == timedelta(0)  # no retry
    assert AlertConfig(latency_baseline=H, latency_min_baseline_hours=1).latency_baseline == H


@pytest.mark.parametrize("name", ["event_window", "latency_baseline", "inactivity_window",
                                  "webhook_retry_for"])
def test_a_window_off_the_calendar_is_refused_by_the_library(name):
    """AlertConfig(event_window=timedelta(days=10**6)) (or latency_baseline, inactivity_window,
    webhook_retry_for) was accepted, and the checks then failed on now - window: "OverflowError:
    date value out of range". Refused at once, over 36,500 days as every duration setting is;
    36,500 days is taken."""
    from voice_monitor.health.checks import AlertConfig

    with pytest.raises(ValueError) as refused:
        AlertConfig(**{name: timedelta(days=10**6)})
    # 10**6 days = 86,400,000,000 s
    assert str(refused.value) == (f"{name}=86400000000s (1,000,000 days): Input should be less "
                                  "than or equal to 36500 days")
    with pytest.raises(ValueError, match=r"=3153686400s \(36,501 days\): Input should be less"):
        AlertConfig(**{name: timedelta(days=36_501)})
    # (an inactivity window within the event window: events kept as long)
    kept = {"event_window": timedelta(days=36_500)} if name == "inactivity_window" else {}
    assert getattr(AlertConfig(**{name: timedelta(days=36_500)}, **kept), name) == \
        timedelta(days=36_500)


@pytest.mark.parametrize(("name", "toml", "refusal"), [
    ("failure_rate_min_outcomes", "true", "Input should be a whole number, not true or false"),
    ("queue_depth_max", "false", "Input should be a whole number, not true or false"),
    ("webhook_timeout_s", "true", "Input should be a number, not true or false"),
])
def test_true_or_false_is_no_threshold(capsys, lake, tmp_path, name, toml, refusal):
    """`AlertConfig(failure_rate_min_outcomes=True)` and `failure_rate_min_outcomes = true` in
    voice-monitor.toml were taken as 1 (a bool is an int to Python and to pydantic)."""
    from voice_monitor.health.checks import AlertConfig

    (tmp_path / "voice-monitor.toml").write_text(f"[alerts]\n{name} = {toml}\n")
    code, _, err = run_main(capsys, "alerts", "check", "--lake", str(lake.root), "--now",
                            "2026-02-16T14:30:00Z")
    assert_one_line_error(code, err, 1)
    given = toml.capitalize()  # TOML's true is Python's True, shown as read
    assert (f"bad setting alerts.{name}={given} (from file voice-monitor.toml): {refusal} "
            f"(alerts.{name}: ") in err
    with pytest.raises(ValueError) as refused:
        AlertConfig(**{name: toml == "true"})
    assert str(refused.value) == f"{name}={given}: {refusal}"


@pytest.mark.parametrize(("text", "value"), [("30m", timedelta(minutes=30)),
                                           ("1s", timedelta(seconds=1))])
def test_a_tmp_files_retention_under_an_hour_is_refused(capsys, lake, text, value):
    """RetentionConfig(tmp_files=timedelta(seconds=1)) (and --set retention.tmp_files=1s) was
    accepted: retention then deleted the temporary files of live writers older than a second,
    a file still being written. Lake.clean_tmp relies on no writer taking an hour over one
    file (temp_files): an hour is the least."""
    from voice_monitor.retention import RetentionConfig

    seconds = value.total_seconds()  # 1800 and 1
    refusal = (f"retention tmp_files {seconds:g} s is shorter than a live writer may take over "
               "one file, and its temporary files would be deleted as it writes them; keep it at "
               "least 1 h (the default)")
    with pytest.raises(ValueError) as refused:
        RetentionConfig(tmp_files=value)
    assert str(refused.value) == refusal
    code, _, err = run_main(capsys, "retention", "--dry-run", "--lake", str(lake.root), "--now",
                            "2026-02-16T14:30:00Z", "--set", f"retention.tmp_files={text}")
    assert_one_line_error(code, err, 1)
    assert f"[retention.tmp_files='{text}' (from flag --set)]: {refusal}" in err
    assert RetentionConfig(tmp_files=H).tmp_files == H


@pytest.mark.parametrize(("name", "text", "refusal"), [
    ("counter_state", "0h", "counter state retention 0 h is shorter than the real-time window; "
                            "keep it at least 1 h"),
    ("events", "0s", "event retention 0 h is shorter than the rollups need"),
    ("tmp_files", "0m", "retention tmp_files 0 h keeps nothing; keep it longer than 0 h (the "
                        "default is 1 h)"),
    ("alerts", "0d", "retention alerts 0 h keeps nothing; keep it longer than 0 h (the default "
                     "is 90 d)"),
])
def test_a_retention_of_no_time_names_the_setting_and_the_fix(capsys, lake, name, text, refusal):
    """`--set retention.counter_state=0h` said "retention counter_state=datetime.timedelta(0)
    must be a positive timedelta": Python's repr and no fix. A period with a minimum (counter
    state: the real-time hour) now says that minimum; the others say above 0. The library says
    the same (RetentionConfig is the rule)."""
    from voice_monitor.retention import RetentionConfig

    code, _, err = run_main(capsys, "retention", "--dry-run", "--lake", str(lake.root), "--now",
                            "2026-02-16T14:30:00Z", "--set", f"retention.{name}={text}")
    assert_one_line_error(code, err, 1)
    assert f"bad retention settings [retention.{name}='{text}' (from flag --set)]: {refusal}" in err
    assert "datetime.timedelta" not in err
    with pytest.raises(ValueError) as refused:
        RetentionConfig(**{name: timedelta(0)})
    assert str(refused.value).startswith(refusal)
