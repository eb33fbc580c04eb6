"""Each health check at its boundaries, on hand-built lake states (real landing, real counters)."""

from __future__ import annotations

from datetime import timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import NOW, event

from voice_monitor.health.alerts import run_checks
from voice_monitor.health.checks import AlertConfig, evaluate
from voice_monitor.lake import floor_hour
from voice_monitor.landing import land_records

LAST_HOUR = floor_hour(NOW) - timedelta(hours=1)  # 13:00, the last complete hour at 14:30


def fired(lake, check: str, now=NOW, config=None) -> list:
    """(organization_id, severity) of each finding of one check; the check must not error."""
    result = evaluate(lake, now, config or AlertConfig(checks=(check,)))
    assert result.errors == {}
    return sorted(((f.organization_id, f.severity) for f in result.findings),
                  key=lambda x: (x[0] or "", x[1]))


def outcomes(completed: int, failed: int, minutes_ago: int = 5, **fields) -> list[dict]:
    at = NOW - timedelta(minutes=minutes_ago)
    return ([event("artifact_completed", at, **fields) for _ in range(completed)]
            + [event("artifact_failed", at, **fields) for _ in range(failed)])


# -- high_failure_rate -----------------------------------------------------------------------
@pytest.mark.parametrize(("completed", "failed", "expected"), [
    (18, 2, []),  # 2/20 = 10 % exactly: not above 10 %
    (17, 3, [(None, "high")]),  # 3/20 = 15 %
    (15, 5, [(None, "high")]),  # 5/20 = 25 % exactly: high, not yet critical
    (14, 6, [(None, "critical")]),  # 6/20 = 30 % > 25 %
    (16, 3, []),  # 3/19 = 15.8 % but only 19 outcomes: below the minimum sample
    (0, 19, []),  # 100 % of 19 outcomes: still below the minimum sample
])
def test_high_failure_rate_boundaries(lake, completed, failed, expected):
    land_records(lake, outcomes(completed, failed), now=NOW)
    assert fired(lake, "high_failure_rate") == expected


def test_high_failure_rate_ignores_outcomes_outside_the_hour(lake):
    # 10 failures 61 minutes ago are outside [14:30 floor − 59 min, 14:30] = [13:31, 14:30]
    land_records(lake, outcomes(0, 10, minutes_ago=61) + outcomes(20, 0), now=NOW)
    assert fired(lake, "high_failure_rate") == []


def test_high_failure_rate_per_organization(lake):
    # org-1: 3/20 = 15 % fires; org-2: 2/20 = 10 % does not; org-3: 5/5 has too few outcomes;
    # the platform: 10 failed of 45 + 60 unassigned completions = 10/105 = 9.5 % does not.
    land_records(lake, outcomes(17, 3, organization_id="org-1")
                 + outcomes(18, 2, organization_id="org-2")
                 + outcomes(0, 5, organization_id="org-3") + outcomes(60, 0), now=NOW)
    assert fired(lake, "high_failure_rate") == [("org-1", "high")]
    platform_only = AlertConfig(checks=("high_failure_rate",), failure_rate_per_organization=False)
    assert fired(lake, "high_failure_rate", config=platform_only) == []


def test_high_failure_rate_of_events_landed_long_after_their_time(lake):
    """Landed at the clock's now (an old file ingested without --now), February's events are in
    no counter: the check counts the window from the lake's files instead of seeing nothing.
    org-1: 6/20 = 30 % critical; org-2: 2/20 = 10 % does not fire; org-3: 5/5 too few; the
    platform: 13 failed of 45 + 15 unassigned completions = 13/60 = 21.7 % high."""
    land_records(lake, outcomes(14, 6, organization_id="org-1")
                 + outcomes(18, 2, organization_id="org-2")
                 + outcomes(0, 5, organization_id="org-3") + outcomes(15, 0))  # the clock's now
    assert fired(lake, "high_failure_rate") == [(None, "high"), ("org-1", "critical")]
    platform_only = AlertConfig(checks=("high_failure_rate",), failure_rate_per_organization=False)
    assert fired(lake, "high_failure_rate", config=platform_only) == [(None, "high")]


def test_high_failure_rate_of_a_run_that_started_late(lake):
    """A run scheduled at 14:30 that starts after a landing at 16:00 (its `now` is the scheduled
    time): the counters keep only what is stamped from 14:00 on, so the 13:40 failures were
    gone from them and the check saw 0 of 20. The window [13:31, 14:30] holds 10 failed and 20
    completed: 10/30 = 33 % critical."""
    land_records(lake, outcomes(0, 10, minutes_ago=50) + outcomes(20, 0), now=NOW)
    late = NOW + timedelta(minutes=90)
    land_records(lake, [event("artifact_received", late)], now=late)
    assert fired(lake, "high_failure_rate") == [(None, "critical")]


def test_high_failure_rate_thresholds_are_configurable(lake):
    land_records(lake, outcomes(9, 1), now=NOW)  # 1/10 = 10 %
    config = AlertConfig(checks=("high_failure_rate",), failure_rate_high=0.05,
                         failure_rate_min_outcomes=10)
    assert fired(lake, "high_failure_rate", config=config) == [(None, "high")]


# -- high_latency ----------------------------------------------------------------------------
def hourly_rows(lake, rows: dict, org_rows: dict | None = None) -> None:
    """Write pipeline_hourly partitions: {hour_start: (p95_ms, latency_count)} for the platform."""
    for hour, (p95, count) in rows.items():
        orgs = [(None, p95, count)] + [("org-x", *v) for h, v in (org_rows or {}).items() if h == hour]
        table = pa.table({
            "period_type": ["hour"] * len(orgs),
            "period_start": pa.array([hour] * len(orgs), pa.timestamp("us", tz="UTC")),
            "period_end": pa.array([hour + timedelta(hours=1)] * len(orgs), pa.timestamp("us", tz="UTC")),
            "organization_id": pa.array([o for o, _, _ in orgs], pa.string()),
            # (the columns every pipeline snapshot has: a file without them is another table's)
            "event_count": pa.array([2 * c for _, _, c in orgs], pa.int64()),
            "artifacts_received": pa.array([c for _, _, c in orgs], pa.int64()),
            "artifacts_completed": pa.array([c for _, _, c in orgs], pa.int64()),
            "e2e_latency_count": pa.array([c for _, _, c in orgs], pa.int64()),
            "e2e_latency_p95_ms": pa.array([p for _, p, _ in orgs], pa.float64()),
            "computed_at": pa.array([NOW] * len(orgs), pa.timestamp("us", tz="UTC")),
        })
        lake.replace_partition(table, lake.snapshot_partition("pipeline_hourly", hour))


def baseline_hours(n: int, p95: float = 100.0, first_back: int = 1) -> dict:
    return {LAST_HOUR - timedelta(hours=first_back + i): (p95, 10) for i in range(n)}


@pytest.mark.parametrize(("latest_p95", "expected"), [
    (199.0, []),  # below 2 × 100
    (200.0, []),  # exactly 2 × the baseline: not above
    (201.0, [(None, "medium")]),
])
def test_high_latency_boundaries(lake, latest_p95, expected):
    hourly_rows(lake, {**baseline_hours(6), LAST_HOUR: (latest_p95, 10)})
    assert fired(lake, "high_latency") == expected


def test_high_latency_reads_around_an_unreadable_baseline_hour(lake):
    """A garbage snapshot file 8 hours back failed high_latency whole, every run, until moved
    aside. Now the other 6 hours make the baseline (100 ms), 201 > 2 × 100 fires, and the check
    still fails naming the file."""
    hourly_rows(lake, {**baseline_hours(6), LAST_HOUR: (201.0, 10)})
    folder = lake.snapshot_partition("pipeline_hourly", LAST_HOUR - timedelta(hours=8))
    folder.mkdir(parents=True)
    (folder / "part-0.parquet").write_bytes(b"this is not parquet")
    result = evaluate(lake, NOW, AlertConfig(checks=("high_latency", "lake_file_unreadable")))
    assert [(f.alert_type, f.value, f.threshold) for f in result.findings] == [
        ("high_latency", 201.0, 200.0), ("lake_file_unreadable", 1.0, 0.0)]
    assert result.errors["high_latency"].startswith(
        "UnreadableFileError: unreadable lake file "
        "snapshots/pipeline_hourly/date=2026-02-16/hour=05/part-0.parquet (")
    assert result.checked == ["lake_file_unreadable"]


def test_high_latency_excludes_the_hour_itself_from_its_baseline(lake):
    # excluded: baseline 100, 210 > 200 fires; included it would be (600 + 210) / 7 = 115.7
    # and 210 < 231.4 would not.
    hourly_rows(lake, {**baseline_hours(6), LAST_HOUR: (210.0, 10)})
    assert fired(lake, "high_latency") == [(None, "medium")]


def test_high_latency_needs_six_hours_with_completions(lake):
    # five real hours plus three hours without completions (p95 0) are not a baseline
    empty = {LAST_HOUR - timedelta(hours=10 + i): (0.0, 0) for i in range(3)}
    hourly_rows(lake, {**baseline_hours(5), **empty, LAST_HOUR: (10_000.0, 10)})
    assert fired(lake, "high_latency") == []


def test_high_latency_baseline_is_the_previous_seven_days(lake):
    # 13:00 seven days earlier is the first baseline hour; 12:00 seven days earlier is outside
    week = timedelta(days=7)
    rows = {**baseline_hours(5), LAST_HOUR: (10_000.0, 10)}
    hourly_rows(lake, {**rows, LAST_HOUR - week - timedelta(hours=1): (100.0, 10)})
    assert fired(lake, "high_latency") == []  # only 5 hours inside the window
    hourly_rows(lake, {LAST_HOUR - week: (100.0, 10)})
    assert fired(lake, "high_latency") == [(None, "medium")]


def test_high_latency_reads_platform_rows_only(lake):
    # an organization's slow hour does not make the platform slow
    hourly_rows(lake, {**baseline_hours(6), LAST_HOUR: (150.0, 10)},
                org_rows={LAST_HOUR: (9_999.0, 3)})
    assert fired(lake, "high_latency") == []


def test_high_latency_silent_without_completions_or_snapshots(lake):
    assert fired(lake, "high_latency") == []  # no snapshots at all
    hourly_rows(lake, {**baseline_hours(6), LAST_HOUR: (0.0, 0)})  # an hour with no completions
    assert fired(lake, "high_latency") == []


def test_a_high_latency_alert_stays_one_alert_while_the_next_hour_is_not_built_yet(lake):
    """The hourly rollup builds the last complete hour at :30; from :00 to :30 its snapshot is
    not there. The check read that as "no p95, clear" and resolved the alert at every :00, and
    the run after the rollup raised a new one: a sustained slowdown paged a new alert every
    hour (its acknowledgement lost). Not built yet is not clear: the alert is kept, the same
    alert, until the built hour says. Baseline 100 ms (6 hours), 2 × 100 = 200."""
    config = AlertConfig(checks=("high_latency",))
    hourly_rows(lake, {**baseline_hours(6), LAST_HOUR: (500.0, 10)})  # 13:00, p95 500 > 200
    first, = run_checks(lake, NOW, config).raised  # at 14:30
    next_hour = NOW + timedelta(minutes=35)  # 15:05: the last complete hour, 14:00, not built
    report = run_checks(lake, next_hour, config)
    assert (report.raised, report.resolved) == ([], [])
    assert [a.alert_id for a in report.active] == [first.alert_id]
    assert "high_latency" in report.undecided and "14:00" in report.undecided["high_latency"]
    hourly_rows(lake, {LAST_HOUR + timedelta(hours=1): (100.0, 10)})  # 14:00 built, back to 100
    report = run_checks(lake, next_hour + timedelta(minutes=30), config)  # 15:35
    assert report.raised == [] and [a.alert_id for a in report.resolved] == [first.alert_id]
    assert report.undecided == {}


def test_a_century_window_looks_only_in_the_days_the_lake_holds(lake, monkeypatch):
    """event_window and latency_baseline of 36,500 days (the most; retention.events takes it)
    listed every hour of the window: 876,001 folders each, ~20 CPU s a check run on a lake of
    one event. The checks now look in the hours of the days the lake has a folder for, with the
    same findings."""
    import voice_monitor.health.checks as checks
    import voice_monitor.lake as lake_module

    listed = []

    def counting(listing):
        def parquet_files(folder):
            listed.append(folder)
            return listing(folder)
        return parquet_files

    monkeypatch.setattr(lake_module, "parquet_files", counting(lake_module.parquet_files))
    monkeypatch.setattr(checks, "parquet_files", counting(checks.parquet_files))
    land_records(lake, received(51, "a"), now=NOW)  # 12:30, a day's folder of events
    hourly_rows(lake, {**baseline_hours(6), LAST_HOUR: (201.0, 10)})  # 06:00 to 13:00
    century = timedelta(days=36_500)
    config = AlertConfig(checks=("queue_depth", "high_latency"), event_window=century,
                         latency_baseline=century)
    assert fired(lake, "", config=config) == [(None, "medium"), (None, "medium")]
    # one day of each: events 00:00..14:00 (15 hours), snapshots 00:00..13:00 (14), some
    # listed more than once (the digests, then the unreadable-file guard), never 876,001
    assert 15 + 14 <= len(listed) <= 3 * 24


# -- queue_depth -----------------------------------------------------------------------------
def received(n: int, prefix: str, at=NOW - timedelta(hours=2)) -> list[dict]:
    return [event("artifact_received", at, artifact_id=f"{prefix}{i}") for i in range(n)]


@pytest.mark.parametrize(("active", "expected"), [(49, []), (50, []), (51, [(None, "medium")])])
def test_queue_depth_boundaries(lake, active, expected):
    done = received(5, "done-")
    finished = [event("artifact_completed", NOW - timedelta(hours=1), artifact_id=f"done-{i}")
                for i in range(3)]
    finished += [event("artifact_failed", NOW - timedelta(hours=1), artifact_id=f"done-{i}")
                 for i in range(3, 5)]
    # received 49 h ago: its partition (12:00–13:00 two days back) is outside the 48 h window
    stale = received(10, "stale-", at=NOW - timedelta(hours=49))
    land_records(lake, received(active, "open-") + done + finished + stale, now=NOW)
    assert fired(lake, "queue_depth") == expected


def test_queue_depth_counts_a_duplicate_artifact_event_once(lake):
    twice = received(51, "open-")
    land_records(lake, twice, now=NOW)
    land_records(lake, twice, now=NOW)  # the same events landed again: still 51 artifacts
    assert fired(lake, "queue_depth") == [(None, "medium")]
    land_records(lake, [event("artifact_completed", NOW, artifact_id="open-0")], now=NOW)
    assert fired(lake, "queue_depth") == []  # 50 left


# -- disambiguation_backlog ------------------------------------------------------------------
def needs(n: int, prefix: str, at=NOW - timedelta(hours=3)) -> list[dict]:
    return [event("entity_needs_disambiguation", at, artifact_id=f"{prefix}{i}") for i in range(n)]


@pytest.mark.parametrize(("waiting", "expected"), [(100, []), (101, [(None, "low")])])
def test_disambiguation_backlog_boundaries(lake, waiting, expected):
    later = [event("entity_resolution_completed", NOW - timedelta(hours=1), artifact_id=f"ok-{i}")
             for i in range(20)]
    land_records(lake, needs(waiting, "wait-") + needs(20, "ok-") + later, now=NOW)
    assert fired(lake, "disambiguation_backlog") == expected


def test_disambiguation_resolved_only_by_a_later_resolution(lake):
    # 101 waiting; a resolution *before* the request does not clear it, a later one does
    earlier = [event("entity_resolution_completed", NOW - timedelta(hours=4), artifact_id="wait-0")]
    land_records(lake, needs(101, "wait-") + earlier, now=NOW)
    assert fired(lake, "disambiguation_backlog") == [(None, "low")]
    later = [event("entity_resolution_completed", NOW - timedelta(hours=2), artifact_id="wait-0")]
    land_records(lake, later, now=NOW)
    assert fired(lake, "disambiguation_backlog") == []


# -- circuit_breaker_open --------------------------------------------------------------------
@pytest.mark.parametrize(("events", "expected"), [
    ([], []),
    ([("circuit_breaker_opened", 30)], [(None, "critical")]),
    ([("circuit_breaker_opened", 30), ("circuit_breaker_closed", 20)], []),
    ([("circuit_breaker_closed", 30), ("circuit_breaker_opened", 20)], [(None, "critical")]),
    ([("circuit_breaker_opened", 47 * 60)], [(None, "critical")]),  # still in the 48 h window
    ([("circuit_breaker_opened", 50 * 60)], []),  # partition outside the retained window
    ([("circuit_breaker_opened", -3)], []),  # stamped after now: not yet
])
def test_circuit_breaker_open(lake, events, expected):
    land_records(lake, [event(t, NOW - timedelta(minutes=m)) for t, m in events], now=NOW)
    assert fired(lake, "circuit_breaker_open") == expected


# -- inactivity ------------------------------------------------------------------------------
def test_inactivity_silent_on_an_empty_lake(lake):
    assert fired(lake, "inactivity") == []


@pytest.mark.parametrize(("minutes_ago", "expected"), [
    (59, []),
    (60, []),  # exactly 60 minutes ago is still inside the last 60 minutes
    (61, [(None, "low")]),
])
def test_inactivity_boundaries(lake, minutes_ago, expected):
    land_records(lake, [event("artifact_received", NOW - timedelta(minutes=minutes_ago))], now=NOW)
    assert fired(lake, "inactivity") == expected


def test_inactivity_fires_when_other_events_flow_but_nothing_is_received(lake):
    land_records(lake, [event("transcription_started", NOW - timedelta(minutes=1))], now=NOW)
    assert fired(lake, "inactivity") == [(None, "low")]


# -- isolation -------------------------------------------------------------------------------
def test_a_failing_check_does_not_stop_the_others(lake):
    land_records(lake, [event("circuit_breaker_opened", NOW - timedelta(minutes=5))]
                 + outcomes(14, 6), now=NOW)
    # a garbage file in the last hour's snapshot partition breaks high_latency, and only it
    folder = lake.snapshot_partition("pipeline_hourly", LAST_HOUR)
    folder.mkdir(parents=True)
    (folder / "part-0.parquet").write_bytes(b"this is not parquet")
    report = run_checks(lake, NOW)
    assert list(report.errors) == ["high_latency"]
    assert "part-0.parquet" in report.errors["high_latency"]
    assert sorted(report.checked) == sorted(
        ["high_failure_rate", "queue_depth", "disambiguation_backlog", "circuit_breaker_open",
         "inactivity", "lake_file_unreadable"])
    # the breaker, the 30 % failure rate and the missing receipts still raise; the garbage
    # file, recorded by high_latency's failed read, raises lake_file_unreadable naming it
    assert sorted(a.alert_type for a in report.raised) == [
        "circuit_breaker_open", "high_failure_rate", "inactivity", "lake_file_unreadable"]
    (unreadable,) = [a for a in report.raised if a.alert_type == "lake_file_unreadable"]
    assert "snapshots/pipeline_hourly/date=2026-02-16/hour=13/part-0.parquet" in unreadable.message


def test_a_corrupt_event_file_fails_the_event_checks_but_not_the_counters(lake):
    land_records(lake, outcomes(14, 6), now=NOW)
    (lake.event_partition(NOW) / "zz-garbage.parquet").write_bytes(b"PAR1 garbage")
    result = evaluate(lake, NOW, AlertConfig())
    assert sorted(result.errors) == ["circuit_breaker_open", "disambiguation_backlog",
                                     "inactivity", "queue_depth"]
    # read around the garbage, the window holds outcomes and no artifact_received: inactive
    assert [(f.alert_type, f.severity) for f in result.findings] == [
        ("high_failure_rate", "critical"), ("inactivity", "low"), ("lake_file_unreadable", "high")]


def test_checks_read_around_an_unreadable_event_file_and_still_fail(lake):
    """A garbage file in the 13:00 hour failed the four event checks whole: the breaker opened
    at 12:10 went unalerted for as long as the file stayed. They now raise what the rest of the
    window shows, still fail naming the file, and resolve none of their alerts meanwhile."""
    land_records(lake, [event("circuit_breaker_opened", NOW - timedelta(minutes=140)),
                        event("artifact_received", NOW - timedelta(minutes=80))], now=NOW)
    garbage = lake.event_partition(LAST_HOUR) / "zz-garbage.parquet"
    garbage.write_bytes(b"PAR1 garbage")
    report = run_checks(lake, NOW)
    # 12:10 opened, nothing closed it in a readable file; 13:50 received, none since: inactive
    assert sorted(a.alert_type for a in report.raised) == [
        "circuit_breaker_open", "inactivity", "lake_file_unreadable"]
    assert sorted(report.errors) == ["circuit_breaker_open", "disambiguation_backlog",
                                     "inactivity", "queue_depth"]
    for message in report.errors.values():
        assert message.startswith("UnreadableFileError: unreadable lake file "
                                  "events/date=2026-02-16/hour=13/zz-garbage.parquet (")
        assert "read around it" in message
    # a "closed" lands at 13:20, beside the garbage: the breaker is clear in what reads, but the
    # check that read around a file does not resolve its alert
    land_records(lake, [event("circuit_breaker_closed", NOW - timedelta(minutes=70))], now=NOW)
    again = run_checks(lake, NOW + timedelta(minutes=5))
    assert again.resolved == []
    assert "circuit_breaker_open" in {a.alert_type for a in again.active}
    # moved aside: the checks run whole, and the breaker alert resolves
    garbage.rename(lake.root / "garbage-aside.parquet")
    third = run_checks(lake, NOW + timedelta(minutes=10))
    assert "circuit_breaker_open" not in third.errors
    assert "circuit_breaker_open" in {a.alert_type for a in third.resolved}


def test_unknown_check_in_config_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown check 'latency'"):
        AlertConfig(checks=("latency",))


def test_late_event_in_a_closed_hour_is_seen_by_the_next_run(lake):
    # the 12:00 hour is closed at 14:30: its digest is cached by the first run
    land_records(lake, [event("circuit_breaker_opened", NOW - timedelta(minutes=140))], now=NOW)
    assert fired(lake, "circuit_breaker_open") == [(None, "critical")]
    assert len(list((lake.state_dir / "check_digests").glob("*.parquet"))) == 1
    # a late "closed" lands in that same closed hour: the partition changed, so it is re-read
    land_records(lake, [event("circuit_breaker_closed", NOW - timedelta(minutes=130))], now=NOW)
    assert fired(lake, "circuit_breaker_open") == []


# -- a past `now` sees only events stamped at or before it (contract §10) ---------------------
def test_event_checks_ignore_events_stamped_after_now(lake):
    past = NOW - timedelta(hours=2)  # 12:30; the lake also holds events up to 14:30
    # 51 artifacts received at 11:00 and completed at 13:00: in flight at 12:30, done at 14:30
    land_records(lake, received(51, "q-", at=NOW - timedelta(hours=3, minutes=30))
                 + [event("artifact_completed", NOW - timedelta(minutes=90), artifact_id=f"q-{i}")
                    for i in range(51)], now=NOW)
    assert fired(lake, "queue_depth", now=past) == [(None, "medium")]
    assert fired(lake, "queue_depth") == []
    # 101 requests at 11:30, resolved at 13:30: waiting at 12:30, not at 14:30
    land_records(lake, needs(101, "d-", at=NOW - timedelta(hours=3))
                 + [event("entity_resolution_completed", NOW - timedelta(hours=1),
                          artifact_id=f"d-{i}") for i in range(101)], now=NOW)
    assert fired(lake, "disambiguation_backlog", now=past) == [(None, "low")]
    assert fired(lake, "disambiguation_backlog") == []
    # opened at 12:00, closed at 12:45: open at 12:30 (in the same, unclosed hour)
    land_records(lake, [event("circuit_breaker_opened", NOW - timedelta(minutes=150)),
                        event("circuit_breaker_closed", NOW - timedelta(minutes=105))], now=NOW)
    assert fired(lake, "circuit_breaker_open", now=past) == [(None, "critical")]
    assert fired(lake, "circuit_breaker_open") == []


def test_inactivity_at_a_past_now_ignores_later_receipts(lake):
    # received at 12:20 and 14:20: at 13:25 the last receipt was 65 minutes ago
    land_records(lake, [event("artifact_received", NOW - timedelta(minutes=130)),
                        event("artifact_received", NOW - timedelta(minutes=10))], now=NOW)
    assert fired(lake, "inactivity", now=NOW - timedelta(minutes=65)) == [(None, "low")]
    assert fired(lake, "inactivity", now=NOW - timedelta(minutes=71)) == []  # 59 min at 13:19


def test_inactivity_silent_when_every_event_is_after_now(lake):
    # the lake's only events are stamped 14:20, after a now of 14:10 in the same hour: as of
    # 14:10 the lake is empty, and an empty lake is not an inactive pipeline
    land_records(lake, [event("transcription_started", NOW - timedelta(minutes=10))], now=NOW)
    assert fired(lake, "inactivity", now=NOW - timedelta(minutes=20)) == []
    assert fired(lake, "inactivity") == [(None, "low")]


def test_a_corrupt_event_file_of_the_current_hour_is_named_by_inactivity(lake):
    # inactivity alone first asks whether the current hour holds events at all: that read met
    # the garbage file with DuckDB's raw error, and nothing recorded it for lake_file_unreadable
    land_records(lake, [event("artifact_received", NOW - timedelta(minutes=5))], now=NOW)
    (lake.event_partition(NOW) / "zz-garbage.parquet").write_bytes(b"PAR1 garbage")
    result = evaluate(lake, NOW, AlertConfig(checks=("inactivity", "lake_file_unreadable")))
    assert list(result.errors) == ["inactivity"]
    assert result.errors["inactivity"].startswith(
        "UnreadableFileError: unreadable lake file "
        "events/date=2026-02-16/hour=14/zz-garbage.parquet (")
    assert "move it aside with: voice-monitor lake check --move-aside" in result.errors["inactivity"]
    assert [(f.alert_type, f.severity) for f in result.findings] == [
        ("lake_file_unreadable", "high")]
    assert "zz-garbage.parquet" in result.findings[0].message


def test_high_latency_says_its_latencies_in_units_people_read(lake):
    """The message went to the alert list and the webhook as 'end-to-end p95 2086583 ms ...
    baseline of 589647 ms': minutes, with the exact milliseconds kept after them."""
    hourly_rows(lake, {**baseline_hours(6, p95=589_647.0), LAST_HOUR: (2_086_583.0, 10)})
    result = evaluate(lake, NOW, AlertConfig(checks=("high_latency",)))
    finding, = result.findings
    # 2,086,583 / 60,000 = 34.776 min; 589,647 / 60,000 = 9.827 min
    assert finding.message == (
        "end-to-end p95 34.8 min (2,086,583 ms) in the hour from 2026-02-16 13:00 UTC is above "
        "2 × the 6-hour baseline of 9.8 min (589,647 ms)")
    assert finding.value == 2_086_583.0  # the numbers stay in milliseconds
    hourly_rows(lake, {**baseline_hours(6, p95=900.0), LAST_HOUR: (7_300_000.0, 10)})
    finding, = evaluate(lake, NOW, AlertConfig(checks=("high_latency",))).findings
    # 7,300,000 ms = 2.03 h; 900 ms stays in ms (under 2 s)
    assert finding.message == (
        "end-to-end p95 2.0 h (7,300,000 ms) in the hour from 2026-02-16 13:00 UTC is above "
        "2 × the 6-hour baseline of 900 ms")


def test_read_around_names_a_file_found_unreadable_in_its_last_round(lake):
    """Each read meets one file newly damaged (as by a concurrent truncation): after the third
    round the last read ran outside `guard`, so the fourth file failed the check as a bare
    DuckDB error, not named nor recorded for lake_file_unreadable."""
    from voice_monitor.health.checks import READ_AROUND_ROUNDS, CheckRun
    from voice_monitor.integrity import UnreadableFileError

    folder = lake.root / "other"  # not events/: a file of events must hold events
    folder.mkdir()
    files = [folder / f"f{i}.parquet" for i in range(READ_AROUND_ROUNDS + 2)]
    for path in files:
        pq.write_table(pa.table({"x": [1]}), path)
    damaged = []

    def read(skip):
        damaged.append(files[len(damaged)])
        damaged[-1].write_bytes(b"PAR1 garbage")
        readable = [str(f) for f in files if str(f) not in skip]
        return run.con.execute("select count(*) from read_parquet($f)", {"f": readable}).fetchall()

    run = CheckRun(lake, NOW, AlertConfig())
    try:
        with pytest.raises(UnreadableFileError) as caught:
            run._read_around(read, lambda: files)
    finally:
        run.close()
    # the four damaged files (three rounds read around, the fourth failed the last read)
    assert [f.name for f, _ in caught.value.files] == ["f0.parquet", "f1.parquet",
                                                        "f2.parquet", "f3.parquet"]
    assert str(caught.value).startswith("unreadable lake file other/f0.parquet, other/f1.parquet")
