"""The demo: build a lake from synthetic events and run every flow on it as the schedules would.

Simulated time moves in steps. At each step the deliveries since the previous step land with
`now` = the step's time (a late event lands when it arrives, not when it happened), then every
flow due at that moment runs the same steps as its deployment (`voice_monitor.jobs`): the hourly
rollup at :30 (compaction, then the rollup; the data-quality rules run once at the end rather
than after each hour), the daily rollup at 01:30 (with the rules), snapshot retention on Sundays
at 04:30, event retention on Sundays at 05:00, and the health checks. Checks fire every 5
minutes over the final `DENSE_HOURS` hours and once an hour (at :30, after the rollup) before
that: every 5 minutes over three days would be 864 runs, too many for a demo that finishes in
about a minute.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from voice_monitor import jobs, organizations, queries, rollups, storage
from voice_monitor.arguments import FIRST_EVENT, utc_text
from voice_monitor.counters import open_counters, realtime_metrics
from voice_monitor.demo.data import DemoData, generate
from voice_monitor.health import alerts
from voice_monitor.lake import NOT_LAKE_CONTENT, Lake, connect, contents, dropped_periods
from voice_monitor.landing import land_lines
from voice_monitor.rollup_plan import day_changed

MARKER = ".voice-monitor-demo.json"  # says "this lake was made by the demo; safe to rebuild"
DENSE_HOURS = 2
MAX_DAYS = 31
STEP = timedelta(minutes=5)
FLOWS = ("hourly_rollup", "daily_rollup", "snapshot_retention", "event_retention", "health_check")


class DemoLakeError(ValueError):
    """The demo refuses to touch a lake it did not make."""




def prepare_lake(lake: Lake) -> None:
    """Empty a previous demo lake, or refuse a non-empty lake that the demo did not make."""
    root = lake.root
    if not lake.remote and root.exists() and not root.is_dir():
        raise DemoLakeError(f"--lake {str(root)!r} is a file; pass a directory")
    # (a lake as `init` leaves it holds nothing: its marker and reserve are no content)
    content = contents(root, keep=NOT_LAKE_CONTENT) if root.is_dir() else []
    if content:
        if not (root / MARKER).is_file():
            raise DemoLakeError(
                f"lake {str(root)!r} is not empty and was not made by the demo; "
                "pass a new or empty directory, e.g. --lake ./demo-data")
        for entry in content:
            if lake.remote:
                storage.remove_tree(entry)
            elif entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    Lake.create(lake)


def schedule(start: datetime, end: datetime, dense_hours: int = DENSE_HOURS
             ) -> list[tuple[datetime, tuple[str, ...]]]:
    """The simulated moments in (start, end] and the flows due at each, in firing order."""
    dense_from = end - timedelta(hours=dense_hours)
    moments = {end}
    m = start.replace(minute=0, second=0, microsecond=0)
    while m <= end:
        on_grid = m.minute % 5 == 0
        sunday_five = m.weekday() == 6 and (m.hour, m.minute) == (5, 0)
        if m > start and (m.minute == 30 or sunday_five or (on_grid and m >= dense_from)):
            moments.add(m)
        m += STEP
    plan = []
    for m in sorted(moments):
        due = []
        if m.minute == 30 and m.second == 0:
            due.append("hourly_rollup")
            if m.hour == 1:
                due.append("daily_rollup")
            if m.weekday() == 6 and m.hour == 4:
                due.append("snapshot_retention")
        if m.weekday() == 6 and (m.hour, m.minute, m.second) == (5, 0, 0):
            due.append("event_retention")
        if (m.minute == 30 or m >= dense_from) and m.minute % 5 == 0 and m.second == 0:
            due.append("health_check")
        plan.append((m, tuple(due)))
    return plan


@dataclass
class FlowStats:
    """What one flow did over the whole demo."""

    runs: int = 0
    periods: int = 0
    rows: int = 0
    deleted: int = 0
    refused: list[str] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    caught_up: list[str] = field(default_factory=list)  # daily: days rebuilt at the end


@dataclass
class DemoRun:
    """Everything the demo did, for the summary."""

    lake: Lake
    data: DemoData
    steps: int = 0
    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    flows: dict[str, FlowStats] = field(default_factory=lambda: {f: FlowStats() for f in FLOWS})
    raised: list[alerts.Alert] = field(default_factory=list)
    resolved: list[alerts.Alert] = field(default_factory=list)
    dropped_event_rows: int = 0
    dropped_quarantine_rows: int = 0
    landing_seconds: float = 0.0
    generate_seconds: float = 0.0


Progress = Callable[[int, int, datetime, str], None]


def check_start(end: datetime, days: int) -> None:
    """Refuse a demo that would start before 2000-01-01: validation rejects every event stamped
    before it, so the lake would hold nothing but quarantine."""
    start = end - timedelta(days=days)
    if start < FIRST_EVENT:
        first = FIRST_EVENT + timedelta(days=days)
        raise ValueError(f"--end {end:%Y-%m-%dT%H:%MZ} with --days {days} starts the demo at "
                         f"{start:%Y-%m-%dT%H:%MZ}, before 2000-01-01, where every event is "
                         f"rejected; use an --end from {first:%Y-%m-%dT%H:%MZ} on")


def run_demo(lake: Lake, end: datetime, days: int = 3, seed: int = 7,
             artifacts_per_day: int = 1000, progress: Progress | None = None) -> DemoRun:
    """Build a demo lake of `days` UTC days ending at `end` and replay every flow's schedule."""
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"--days {days} is out of range; use 1 to {MAX_DAYS}")
    end = end.astimezone(UTC).replace(microsecond=0)
    check_start(end, days)
    prepare_lake(lake)
    (lake.root / MARKER).write_text(json.dumps(
        {"made_by": "voice-monitor demo", "end": utc_text(end), "days": days, "seed": seed}))
    clock = time.perf_counter()
    data = generate(end, days=days, seed=seed, artifacts_per_day=artifacts_per_day)
    run = DemoRun(lake, data, generate_seconds=time.perf_counter() - clock)
    _write_organizations(lake, data)
    plan = schedule(data.start, data.end)
    counters = open_counters(lake)
    con = connect()  # kept between landings, as the collector keeps its own (a new one: ~20 ms)
    previous = data.start
    try:
        for i, (moment, due) in enumerate(plan):
            batch = data.batch(previous, moment)
            if progress:
                progress(i, len(plan), moment, f"landing {len(batch)} records")
            clock = time.perf_counter()
            if batch:
                result = land_lines(lake, batch, "demo", now=moment, counters=counters, con=con)
                run.accepted += result.accepted
                run.duplicates += result.duplicates
                run.quarantined += result.quarantined
                for reason, n in result.reasons.items():
                    rule = reason_rule(reason)
                    run.reasons[rule] = run.reasons.get(rule, 0) + n
            run.landing_seconds += time.perf_counter() - clock
            for flow in due:
                if progress:
                    progress(i, len(plan), moment, flow.replace("_", " "))
                clock = time.perf_counter()
                _FIRE[flow](run, moment, run.flows[flow])
                run.flows[flow].runs += 1
                run.flows[flow].seconds += time.perf_counter() - clock
            previous = moment
            run.steps += 1
        if progress:
            progress(len(plan), len(plan), data.end, "daily catch-up")
        _catch_up_daily(run, data.end)
        if progress:
            progress(len(plan), len(plan), data.end, "data-quality rules")
        # every rule over the final lake, once, rather than after each of 72 runs
        _count_quality(jobs.data_quality(lake), run.flows["hourly_rollup"])
    finally:
        con.close()
        counters.close()
    if progress:
        progress(len(plan), len(plan), data.end, "done")
    return run


def _hourly(run: DemoRun, now: datetime, stats: FlowStats) -> None:
    _count_rollup(jobs.hourly_run(run.lake, now, quality=False), stats)


def _daily(run: DemoRun, now: datetime, stats: FlowStats) -> None:
    _count_rollup(jobs.daily_run(run.lake, now), stats)


def _catch_up_daily(run: DemoRun, end: datetime) -> None:
    """Late events that landed after the last daily run changed hours of days it had built:
    rebuild those days' daily rows, as the next daily run would (only days a daily run had
    built; none the schedule has not reached), so the lake the demo leaves has every daily row
    equal to its hours (contract §6)."""
    lake, stats = run.lake, run.flows["daily_rollup"]
    clock = time.perf_counter()
    gone = dropped_periods(lake, "snapshot_hours")
    for day in sorted(lake.snapshot_periods("pipeline_daily")):
        if day_changed(lake, day, gone):
            report = rollups.run_daily(lake, end, day=day)
            stats.caught_up.append(f"{day:%Y-%m-%d}")
            stats.rows += sum(report.rows.values())
    stats.seconds += time.perf_counter() - clock


def _count_rollup(facts: dict, stats: FlowStats) -> None:
    stats.periods += len(facts["periods"])
    stats.rows += sum(facts["rows"].values())
    stats.refused += facts["refused"]
    _count_quality(facts["quality"], stats)


def _count_quality(found: dict, stats: FlowStats) -> None:
    for rule, rows in found.items():  # a deployed run would fail on these
        if rows:
            stats.errors[rule] = stats.errors.get(rule, 0) + 1


def _retention(only: str) -> Callable[[DemoRun, datetime, FlowStats], None]:
    def fire(run: DemoRun, now: datetime, stats: FlowStats) -> None:
        # count the rows that go, so the summary still adds up after partitions are dropped
        events, quarantine = _rows(run.lake.events_dir), _rows(run.lake.quarantine_dir)
        stats.deleted += jobs.retention(run.lake, now, None, only)["deleted"]
        run.dropped_event_rows += _gone(events, run.lake.events_dir)
        run.dropped_quarantine_rows += _gone(quarantine, run.lake.quarantine_dir)

    return fire


def _checks(run: DemoRun, now: datetime, stats: FlowStats) -> None:
    report = alerts.run_checks(run.lake, now)
    run.raised += report.raised
    run.resolved += report.resolved
    for check in report.errors:
        stats.errors[check] = stats.errors.get(check, 0) + 1


_FIRE = {
    "hourly_rollup": _hourly,
    "daily_rollup": _daily,
    "snapshot_retention": _retention("snapshots"),
    "event_retention": _retention("events"),
    "health_check": _checks,
}


def _rows(folder: Path) -> dict[Path, int]:
    return {p: storage.parquet_file(p).metadata.num_rows for p in folder.rglob("*.parquet")}


def _gone(before: dict[Path, int], folder: Path) -> int:
    left = set(folder.rglob("*.parquet"))
    return sum(n for p, n in before.items() if p not in left)


def _write_organizations(lake: Lake, data: DemoData) -> None:
    named = [(org, name) for org, name in data.organizations if name]
    table = pa.Table.from_pylist([{"organization_id": o, "name": n} for o, n in named],
                                 schema=organizations.SCHEMA)
    lake.publish(table, lake.organizations_file)


_VALUE = re.compile(r'^(\S+) ("(?:[^"\\]|\\.)*"|\S+)( .*)$')


def reason_rule(reason: str) -> str:
    """A quarantine reason with the offending value left out, so that reasons group by rule."""
    first = reason.split("; ")[0]
    first = re.sub(r"\s*\([^)]*\)", "", first)
    match = _VALUE.match(first)
    if match and match.group(2) not in ("is", "must", "has"):
        return f"{match.group(1)} …{match.group(3)}"
    return first


def quiet_logs() -> Callable[[], None]:
    """Keep the flows' log lines off the terminal during the demo; returns the undo."""
    logger = logging.getLogger("voice_monitor")
    handler, level = logging.NullHandler(), logger.level
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.CRITICAL)

    def undo() -> None:
        logger.removeHandler(handler)
        logger.propagate = True
        logger.setLevel(level)

    return undo


def summary(run: DemoRun, top: int = 5, hours: int = 12) -> dict:
    """A JSON-ready summary: landing counts, flows, real-time metrics, snapshots and alerts."""
    data, lake = run.data, run.lake
    daily = queries.historical_metrics(lake, data.start, data.end, period="day")
    hourly = queries.historical_metrics(lake, data.end - timedelta(hours=hours), data.end,
                                        period="hour")
    orgs = queries.org_breakdown(lake, data.start, data.end, period="hour").head(top)
    columns = ["period_start", "event_count", "artifacts_received", "artifacts_completed",
               "artifacts_failed", "overall_failure_rate", "e2e_latency_p95_ms",
               "total_ai_cost_usd", "computed_at"]
    return {
        "lake": str(lake.root),
        "start": data.start, "end": data.end, "days": (data.end - data.start).days,
        "generated": {"artifacts": data.artifacts, "organizations": len(data.organizations),
                      "records_delivered": len(data.lines), **data.counts,
                      "incidents": {k: {"start": a, "end": b} for k, (a, b) in data.incidents.items()}},
        "landing": {"batches": run.steps, "accepted": run.accepted, "duplicates": run.duplicates,
                    "quarantined": run.quarantined,
                    "quarantine_reasons": dict(sorted(run.reasons.items(), key=lambda kv: -kv[1]))},
        "retention_dropped": {"event_rows": run.dropped_event_rows,
                              "quarantine_rows": run.dropped_quarantine_rows},
        "flows": {name: {"runs": s.runs, "periods_built": s.periods, "rows_written": s.rows,
                         "partitions_deleted": s.deleted, "refused": s.refused,
                         "check_errors": s.errors, "seconds": round(s.seconds, 2),
                         **({"caught_up": s.caught_up} if name == "daily_rollup" else {})}
                  for name, s in run.flows.items()},
        "realtime": realtime_metrics(lake, now=data.end),
        "snapshots": {
            "daily": daily.select(columns).to_dicts(),
            "hourly": hourly.select(columns).to_dicts(),
            "organizations": orgs.select(["organization_id", "name", "artifacts_received",
                                          "artifacts_failed", "overall_failure_rate",
                                          "total_ai_cost_usd"]).to_dicts(),
        },
        "alerts": {
            "raised": [_alert(a) for a in run.raised],
            "resolved": [_alert(a) for a in run.resolved],
            "active_at_end": [_alert(a) for a in alerts.active_alerts(lake)],
        },
        "seconds": {"generate": round(run.generate_seconds, 2),
                    "landing": round(run.landing_seconds, 2)},
    }


def _alert(alert: alerts.Alert) -> dict:
    return {"alert_id": alert.alert_id, "type": alert.alert_type,
            "organization_id": alert.organization_id, "severity": alert.severity,
            "raised_at": alert.raised_at, "resolved_at": alert.resolved_at,
            "message": alert.message}
