"""The six health checks of contract §9 and lake_file_unreadable (§4), each isolated, each reading only what it needs.

A check returns the alert conditions that hold now (`Finding`s). It reads the real-time counters
(high_failure_rate), a bounded set of platform snapshot rows (high_latency: the last complete
hour and the 7 days before it) or the event partitions of the retained window (the other four,
through small per-hour digests: a closed hour is digested once and cached, so a run re-reads
only the current hour's events; see `health.digest`). An exception in one check is
recorded as that check's error; the others still run.
"""

from __future__ import annotations

import itertools
import re
import shlex
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta

from voice_monitor import counter_repair, lake_window, uncounted
from voice_monitor.counters import (
    METRICS,
    CounterStoreError,
    open_counters,
    realtime_metrics,
    vouches_for,
    window_start,
)
from voice_monitor.health.digest import digests
from voice_monitor.integrity import (
    UNLISTABLE,
    UnreadableFileError,
    guard,
    known_unreadable,
    move_aside_command,
    record,
    retrying,
)
from voice_monitor.lake import (
    Lake,
    connect,
    date_dirs,
    duckdb_path,
    floor_day,
    floor_hour,
    parquet_files,
)
from voice_monitor.sql import run_sql

CHECK_TYPES = (
    "high_failure_rate",
    "high_latency",
    "queue_depth",
    "disambiguation_backlog",
    "circuit_breaker_open",
    "inactivity",
    "lake_file_unreadable",  # last: it reports what the checks before it could not read
)
SEVERITIES = ("low", "medium", "high", "critical")
READ_AROUND_ROUNDS = 3  # reads that each meet new unreadable files before the next one fails,
# naming them all
MAX_WEBHOOK_TIMEOUT_S = 3600  # seconds per attempt; a check runs every 5 minutes
# the longest window, as every duration setting (settings.MAX_DURATION, retention.MAX_RETENTION):
# a million days took now - window off the calendar (OverflowError in the checks)
MAX_WINDOW = timedelta(days=36_500)
DEFAULT_SEVERITIES = {
    "high_failure_rate": "high",  # "critical" above failure_rate_critical
    "high_latency": "medium",
    "queue_depth": "medium",
    "disambiguation_backlog": "low",
    "circuit_breaker_open": "critical",
    "inactivity": "low",
    "lake_file_unreadable": "high",
}

# The bounds of AlertConfig's thresholds and windows: one rule, checked here (`__post_init__`)
# and stated as the settings' field constraints (settings.AlertSettings), so the library refuses
# what `--set alerts.<name>=...` refuses, in the same words (pydantic's). NaN passes no bound.
BOUNDS: dict[str, tuple[type, dict[str, object]]] = {
    "failure_rate_high": (float, {"gt": 0, "le": 1}),
    "failure_rate_critical": (float, {"gt": 0, "le": 1}),
    "failure_rate_min_outcomes": (int, {"ge": 1}),
    # inf: no p95 is ever above inf × baseline, high_latency silently off
    "latency_factor": (float, {"gt": 1, "allow_inf_nan": False}),
    # a mean of hourly p95s: under an hour holds no hour (a negative one read as "-1 hour(s)")
    "latency_baseline": (timedelta, {"ge": timedelta(hours=1), "le": MAX_WINDOW}),
    "latency_min_baseline_hours": (int, {"ge": 1}),
    "queue_depth_max": (int, {"ge": 0}),
    "disambiguation_backlog_max": (int, {"ge": 0}),
    # "no artifact_received in the last 0 minutes" holds at every instant: it would never resolve
    "inactivity_window": (timedelta, {"gt": timedelta(0), "le": MAX_WINDOW}),
    # a window of no hours has no events to check (no setting: it follows retention.events)
    "event_window": (timedelta, {"gt": timedelta(0), "le": MAX_WINDOW}),
    "webhook_attempts": (int, {"ge": 1}),
    "webhook_backoff_s": (float, {"ge": 0, "le": MAX_WEBHOOK_TIMEOUT_S}),  # no setting: library only
    "webhook_retry_for": (timedelta, {"ge": timedelta(0), "le": MAX_WINDOW}),  # 0: no retry on later runs
}
# True and False are ints to Python (and pydantic takes them as 1 and 0): never a threshold
NOT_A_BOOL = {"int": "Input should be a whole number, not true or false",
              "float": "Input should be a number, not true or false"}
_ADAPTERS: dict[str, object] = {}


def bound_problem(name: str, value: object) -> str | None:
    """Why `value` is out of the bounds of AlertConfig's `name` (pydantic's words), or None."""
    from typing import Annotated

    from pydantic import Field, TypeAdapter, ValidationError

    if name not in _ADAPTERS:
        kind, bounds = BOUNDS[name]
        _ADAPTERS[name] = TypeAdapter(Annotated[kind, Field(**bounds)])
    try:
        _ADAPTERS[name].validate_python(value)
    except ValidationError as exc:
        return str(exc.errors()[0]["msg"])
    return None


def _window_text(value: timedelta) -> str:
    """A window as its seconds, and its days when it spans one (10**6 days: not 8.64e+10s)."""
    seconds = value.total_seconds()
    text = f"{int(seconds)}s" if seconds.is_integer() else f"{seconds:g}s"
    return f"{text} ({value.days:,} days)" if value >= timedelta(days=1) else text


def _window_setting(value: timedelta) -> str:
    """A window as the settings write it (72h, 7d): settings.format_duration, which imports us."""
    from voice_monitor.settings import format_duration

    return format_duration(value)


@dataclass(frozen=True)
class AlertConfig:
    """Every threshold, window and severity of the health checks, plus optional delivery."""

    # high_failure_rate: real-time failed / (completed + failed)
    failure_rate_high: float = 0.10  # fires strictly above
    failure_rate_critical: float = 0.25  # severity critical strictly above
    failure_rate_min_outcomes: int = 20  # fewer outcomes never fire
    failure_rate_per_organization: bool = True  # also one alert per organization
    # high_latency: last complete hour's platform e2e p95 vs the mean of earlier hourly p95s
    latency_factor: float = 2.0  # fires strictly above factor × baseline
    latency_baseline: timedelta = timedelta(days=7)
    latency_min_baseline_hours: int = 6  # hours with completions needed for a baseline
    # event-window checks
    event_window: timedelta = timedelta(hours=48)  # = event retention
    queue_depth_max: int = 50  # fires strictly above
    disambiguation_backlog_max: int = 100  # fires strictly above
    inactivity_window: timedelta = timedelta(minutes=60)
    severities: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SEVERITIES))
    checks: tuple[str, ...] = CHECK_TYPES  # which checks run
    # notifications (the CLI and the flow fill this from VOICE_MONITOR_WEBHOOK_URL)
    webhook_url: str | None = None
    webhook_timeout_s: float = 5.0
    webhook_attempts: int = 3
    webhook_backoff_s: float = 0.5  # doubled after each failed attempt
    webhook_retry_for: timedelta = timedelta(hours=24)  # later runs retry undelivered ones

    def __post_init__(self):
        for item in fields(self):
            if item.type in NOT_A_BOOL and isinstance(getattr(self, item.name), bool):
                raise ValueError(f"{item.name}={getattr(self, item.name)!r}: {NOT_A_BOOL[item.type]}")
        for name in self.checks:
            if name not in CHECK_TYPES:
                raise ValueError(f"unknown check {name!r}; expected one of {', '.join(CHECK_TYPES)}")
        for name, severity in self.severities.items():
            if name not in CHECK_TYPES or severity not in SEVERITIES:
                raise ValueError(f"bad severity {name!r}: {severity!r}; use a check name and one "
                                 f"of {', '.join(SEVERITIES)}")
        if not 0 < self.webhook_timeout_s <= MAX_WEBHOOK_TIMEOUT_S:
            # inf (or 1e10) reached httpx and failed the run: "OverflowError: timestamp out of
            # range for platform time_t"; NaN compares false with both ends
            raise ValueError(f"webhook_timeout_s={self.webhook_timeout_s!r} is not a number of "
                             f"seconds above 0 and at most {MAX_WEBHOOK_TIMEOUT_S}; use e.g. 5")
        if self.webhook_attempts < 1:
            raise ValueError(f"webhook_attempts must be at least 1, not {self.webhook_attempts}")
        for name in BOUNDS:
            problem = bound_problem(name, getattr(self, name))
            if problem is not None:
                value = getattr(self, name)
                shown = _window_text(value) if isinstance(value, timedelta) else repr(value)
                raise ValueError(f"{name}={shown}: {problem}")
        if self.inactivity_window > self.event_window:
            # the check looks for an artifact_received in the event window's hours only: one
            # received 60 h ago, with a 72 h window and a 48 h event window, was "none in the
            # retained window", and inactivity fired
            window, kept = (_window_setting(self.inactivity_window),
                            _window_setting(self.event_window))
            raise ValueError(
                f"inactivity_window={window} is longer than event_window={kept} (the event "
                f"retention the event checks look in): the inactivity check could not see an "
                f"artifact_received that far back; shorten inactivity_window to at most {kept}, "
                f"or keep events at least {window} and pass that retention as event_window "
                f"(RetentionConfig.events)")
        if self.failure_rate_high > self.failure_rate_critical:
            # rates between the two would raise nothing, and every alert would be critical
            raise ValueError(
                f"failure_rate_high={self.failure_rate_high:g} is above failure_rate_critical="
                f"{self.failure_rate_critical:g}: an alert must be high before it is critical; "
                f"lower failure_rate_high to at most {self.failure_rate_critical:g} or raise "
                f"failure_rate_critical to at least {self.failure_rate_high:g}")
        hours = int(self.latency_baseline / timedelta(hours=1))  # hourly rows it can hold
        if self.latency_min_baseline_hours > hours:
            baseline = f"{self.latency_baseline / timedelta(hours=1):g}h"
            raise ValueError(
                f"latency_min_baseline_hours={self.latency_min_baseline_hours} is more than the "
                f"{hours} hour(s) latency_baseline={baseline} holds: high_latency could never "
                f"fire; lower latency_min_baseline_hours to at most {hours} or lengthen "
                f"latency_baseline to at least {self.latency_min_baseline_hours}h")

    @property
    def webhook_problem(self) -> str | None:
        """Why `webhook_url` cannot be posted to, naming the setting but never the URL's path
        (a webhook's credential), or None. Not refused here: the checks run and their alerts
        are stored anyway; only the notification is skipped (see `run_checks`)."""
        if not self.webhook_url:
            return None
        from voice_monitor.health.notify import url_problem

        problem = url_problem(self.webhook_url)
        if problem is None:
            return None
        scheme, _, rest = self.webhook_url.partition("://")  # shown as scheme://host only
        host = re.split(r"[/?#]", rest, maxsplit=1)[0].rpartition("@")[2]
        shown = f"{scheme}://{host}/****" if rest else "****"
        return (f"webhook_url {shown[:100]!r} is not an http(s) URL the alerts can be posted "
                f"to ({problem})")

    def severity(self, alert_type: str) -> str:
        return self.severities.get(alert_type, DEFAULT_SEVERITIES[alert_type])


@dataclass(frozen=True)
class Finding:
    """An alert condition that holds now, for one key (type, organization or platform)."""

    alert_type: str
    organization_id: str | None
    severity: str
    message: str
    value: float | None = None
    threshold: float | None = None

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.alert_type, self.organization_id)


class CheckRun:
    """Inputs shared by the checks of one run, each computed at most once and only if needed."""

    def __init__(self, lake: Lake, now: datetime, config: AlertConfig):
        self.lake, self.now, self.config = lake, now.astimezone(UTC), config
        self.con = connect()
        self._window: BaseException | bool | None = None
        # unreadable event files of the window, read around (contract §4: one file never stops
        # the rest); `read_around` is set while a check reads without them, so its run fails
        # loudly yet raises what the rest of the window shows (a breaker opened in another hour)
        self._around: dict[str, UnreadableFileError] = {}  # by what was read: events, snapshots
        self.read_around: UnreadableFileError | None = None
        # set by a check that ran but could not judge (its data not built yet): why; its
        # active alerts are kept, neither resolved nor raised again
        self.undecided: str | None = None

    def close(self) -> None:
        self.con.close()

    def window_hours(self) -> list[datetime]:
        """Hour starts of the retained window: hour end > now − window, hour start ≤ now."""
        first = floor_hour(self.now - self.config.event_window)
        return _hours_of_days(self.lake.events_dir, first, floor_hour(self.now))

    def check_events(self) -> str:
        """Make the view `check_digest` over the window's hour digests, once per run."""
        if isinstance(self._window, BaseException):
            raise self._window
        if self._window is None:
            try:
                hours = self.window_hours()
                # an unreadable file is recorded for lake_file_unreadable and read around
                self._read_around(lambda skip: retrying(
                    self.lake, lambda: digests(self.lake, self.con, hours, self.now, skip)
                ).create_view("check_digest"), lambda: [f for h in hours
                                                        for f in self.lake.event_files(h)])
                self._window = True
            except Exception as exc:
                self._window = exc
                raise
        if "events" in self._around:
            self.read_around = self._around["events"]
        return "check_digest"

    def _read_around(self, read: Callable[[frozenset[str]], object],
                     files: Callable[[], list], kind: str = "events") -> object:
        """`read(skip)` without the unreadable files of `files()` it meets (each named and
        recorded by `guard`), which are kept in `_around[kind]` and `read_around`."""
        def skipped() -> frozenset[str]:
            return frozenset(str(f) for f, _ in (
                self._around[kind].files if kind in self._around else ()))

        for round_ in itertools.count(1):
            skip = skipped()
            try:
                with guard(self.lake, lambda skip=skip: [f for f in files() if str(f) not in skip]):
                    return read(skip)
            except UnreadableFileError as exc:
                known = self._around[kind].files if kind in self._around else []
                self._around[kind] = self.read_around = UnreadableFileError(self.lake, [
                    *known, *((f, why) for f, why in exc.files if str(f) not in skip)])
                if round_ > READ_AROUND_ROUNDS:  # the last read too names what it met
                    raise self._around[kind] from exc

    def scalar_row(self, name: str, **params) -> tuple:
        rows = run_sql(self.con, name, **params).fetchall()
        return rows[0] if rows else ()


def _hours_of_days(base, first: datetime, last: datetime) -> list[datetime]:
    """The hours from `first` to `last` of the days `base` has a `date=` folder for: a window
    of 36,500 days listed every hour of it (876,000 folders, ~30 s on an empty lake)."""
    return [hour for day, _ in date_dirs(base) if floor_day(first) <= day <= last
            for hour in (day + timedelta(hours=i) for i in range(24)) if first <= hour <= last]


def _pct(x: float) -> str:
    return f"{x * 100:.1f}%"


def check_high_failure_rate(run: CheckRun) -> list[Finding]:
    """Real-time failure rate, for the platform and each organization with enough outcomes."""
    cfg = run.config
    findings = []
    for org, counts in _failure_window(run).items():
        failed, completed = counts["artifacts_failed"], counts["artifacts_completed"]
        outcomes = failed + completed
        if outcomes < cfg.failure_rate_min_outcomes:
            continue
        rate = failed / outcomes
        if rate <= cfg.failure_rate_high:
            continue
        critical = rate > cfg.failure_rate_critical
        limit = cfg.failure_rate_critical if critical else cfg.failure_rate_high
        findings.append(Finding(
            "high_failure_rate", org,
            "critical" if critical else cfg.severity("high_failure_rate"),
            f"failure rate {_pct(rate)} ({failed} failed of {outcomes} outcomes in the last "
            f"hour) is above {_pct(limit)}",
            value=rate, threshold=limit))
    return findings


def _failure_window(run: CheckRun) -> dict[str | None, dict[str, int]]:
    """`_counted_window`; with a counter store SQLite cannot read (damaged), the window's
    counts from the lake's files, the store recorded for lake_file_unreadable and the check
    failed as read around it (contract §4): it failed with no alert at all, so a damaged store
    silenced the failure-rate alert until someone read the flow's log."""
    try:
        return _counted_window(run)
    except (CounterStoreError, sqlite3.DatabaseError) as exc:
        # (OperationalError, a DatabaseError too, is a locked store or a full disk: no damage)
        problem = (None if isinstance(exc, sqlite3.OperationalError) or run.lake.remote
                   else counter_repair.store_problem(run.lake))
        if problem is None:
            raise
        path = counter_repair.store_path(run.lake)
        why = f"{problem} (the real-time counter store; --move-aside counts a new one from the lake)"
        record(run.lake, [(path, why)])
        found = lake_window.scope_counts(run.lake, window_start(run.now), run.now)
        if found is None:  # an unreadable event file of the window as well: the store's error
            raise
        run.read_around = UnreadableFileError(run.lake, [(path, why)])
        return found if run.config.failure_rate_per_organization else {None: found[None]}


def _counted_window(run: CheckRun) -> dict[str | None, dict[str, int]]:
    """The real-time counts of the platform (None) and, if configured, of each organization
    with enough outcomes; from the lake's files when the counters hold nothing for the window
    (events landed more than 2 hours after their time: lake_window.py) or not all of it
    (`counters.vouches_for`)."""
    cfg = run.config
    start = window_start(run.now)
    store = open_counters(run.lake)
    try:
        # (landed events a failed landing left uncounted: counted now, else the lake answers)
        behind = not uncounted.count(run.lake, store, run.now)
        scopes = {None: realtime_metrics(run.lake, None, now=run.now, store=store)}
        # (a run that started late after later landings: the counters hold part of its window)
        if any(scopes[None][m] for m in METRICS) and vouches_for(store, start) and not behind:
            if cfg.failure_rate_per_organization:
                for org in store.organizations(start, run.now, ("artifacts_completed",
                                               "artifacts_failed"), cfg.failure_rate_min_outcomes):
                    scopes[org] = realtime_metrics(run.lake, org, now=run.now, store=store)
            return scopes
    finally:
        store.close()
    found = lake_window.scope_counts(run.lake, start, run.now)
    if found is None:  # a file of the window unreadable: the counters' answer (lake_file_unreadable names it)
        return scopes
    return found if cfg.failure_rate_per_organization else {None: found[None]}


def check_high_latency(run: CheckRun) -> list[Finding]:
    """Last complete hour's platform e2e p95 against the mean of earlier hourly p95s."""
    cfg = run.config
    hour = floor_hour(run.now) - timedelta(hours=1)
    baseline_start = hour - cfg.latency_baseline
    hours = int(cfg.latency_baseline / timedelta(hours=1))
    table = "pipeline_hourly"
    if not parquet_files(run.lake.snapshot_partition(table, hour)):
        # not built yet (the hourly rollup builds it at :30): its p95 is unknown, not clear.
        # Read as clear, an alert resolved at every :00 and a new one was raised after the
        # rollup: a sustained slowdown paged a new alert every hour
        run.undecided = (f"the hour from {hour:%Y-%m-%d %H:00} UTC has no pipeline_hourly "
                         "snapshot yet (the hourly rollup builds it): an active high_latency "
                         "alert is kept until it is built")
        return []
    files = [f for h in _hours_of_days(run.lake.snapshots_dir / table,
                                       hour - timedelta(hours=hours), hour)
             for f in parquet_files(run.lake.snapshot_partition(table, h))]
    if not files:
        return []

    def read(skip: frozenset[str]) -> tuple:
        kept = [duckdb_path(f) for f in files if str(f) not in skip]
        return run.scalar_row("health/high_latency", files=kept, hour=hour,
                              baseline_start=baseline_start) if kept else (None, 0, None, 0)

    # an unreadable snapshot is named, recorded for the alert, and read around: the baseline
    # of the other hours (a bad last hour leaves no p95 to judge: nothing is raised)
    p95, completions, baseline, baseline_hours = run._read_around(
        read, lambda: files, "snapshots")
    if not completions or p95 is None or baseline_hours < cfg.latency_min_baseline_hours:
        return []
    limit = cfg.latency_factor * baseline
    if p95 <= limit:
        return []
    return [Finding(
        "high_latency", None, cfg.severity("high_latency"),
        f"end-to-end p95 {_latency_text(p95)} in the hour from {hour:%Y-%m-%d %H:00} UTC is above "
        f"{cfg.latency_factor:g} × the {baseline_hours}-hour baseline of {_latency_text(baseline)}",
        value=float(p95), threshold=float(limit))]


def _latency_text(ms: float) -> str:
    """A latency as on-call reads it ('34.8 min'), with the exact milliseconds after it."""
    for unit, size in (("h", 3_600_000), ("min", 60_000), ("s", 1_000)):
        if ms >= 2 * size:
            return f"{ms / size:.1f} {unit} ({ms:,.0f} ms)"
    return f"{ms:,.0f} ms"


def _count_above(run: CheckRun, alert_type: str, limit: int, says: str) -> list[Finding]:
    """A platform finding when `sql/health/<alert_type>.sql` counts more than `limit`; `says`
    is its message after the count."""
    run.check_events()
    (count,) = run.scalar_row(f"health/{alert_type}")
    if count <= limit:
        return []
    return [Finding(alert_type, None, run.config.severity(alert_type),
                    f"{count} {says} (more than {limit})", value=float(count),
                    threshold=float(limit))]


def check_queue_depth(run: CheckRun) -> list[Finding]:
    """Artifacts received within the window with no terminal event."""
    return _count_above(run, "queue_depth", run.config.queue_depth_max,
                        "artifacts received and not completed or failed")


def check_disambiguation_backlog(run: CheckRun) -> list[Finding]:
    """Artifacts whose latest disambiguation request has no later resolution."""
    return _count_above(run, "disambiguation_backlog", run.config.disambiguation_backlog_max,
                        "artifacts wait for entity disambiguation")


def check_circuit_breaker_open(run: CheckRun) -> list[Finding]:
    """The latest circuit breaker event in the window is `circuit_breaker_opened`."""
    run.check_events()
    row = run.scalar_row("health/circuit_breaker")
    if not row or row[0] != "circuit_breaker_opened":
        return []
    return [Finding("circuit_breaker_open", None, run.config.severity("circuit_breaker_open"),
                    f"circuit breaker opened at {row[1].astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC "
                    "and not closed since")]


def check_inactivity(run: CheckRun) -> list[Finding]:
    """No artifact_received in the inactivity window, while the lake holds events."""
    window = run.config.inactivity_window
    if not _has_events(run):
        return []  # an empty lake (as of now) is not an inactive pipeline
    run.check_events()
    (last,) = run.scalar_row("health/inactivity")
    if last is not None and last >= run.now - window:
        return []
    minutes = window / timedelta(minutes=1)
    last_text = ("none in the retained window" if last is None
                 else f"last at {last.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC")
    return [Finding("inactivity", None, run.config.severity("inactivity"),
                    f"no artifact received in the last {minutes:g} minutes ({last_text})",
                    threshold=minutes)]


def _has_events(run: CheckRun) -> bool:
    """Whether the lake holds any event stamped at or before `now`."""
    current = floor_hour(run.now)
    hours = [h for h in run.lake.event_hours() if h <= current]
    if any(h < current for h in hours):
        return True  # every event of an earlier hour is stamped before the current hour
    if not hours:
        return False
    def read(skip: frozenset[str]) -> tuple:  # listed again if a file vanished (compaction)
        files = [str(f) for f in run.lake.event_files(current) if str(f) not in skip]
        return run.scalar_row("health/has_events", files=files, now=run.now) if files else (0,)

    # an unreadable file is named, recorded for lake_file_unreadable, and read around
    return bool(run._read_around(lambda skip: retrying(run.lake, lambda: read(skip)),
                                 lambda: run.lake.event_files(current))[0])


def check_lake_file_unreadable(run: CheckRun) -> list[Finding]:
    """Lake files recorded as unreadable (by any run that met one) and still there, unchanged."""
    found = known_unreadable(run.lake)
    if not found:
        return []
    # a folder this user may not list (recorded by a read that needed it): access is the fix
    folders = [(path, why) for path, why in found if why.startswith(UNLISTABLE)]
    files = [entry for entry in found if entry not in folders]
    parts = []
    if files:
        parts.append(f"{len(files)} unreadable lake file(s): {_shown(files)} ({files[0][1]}); "
                     f"the periods that need them are not built; move them aside with: "
                     f"{move_aside_command(run.lake)}")
    if folders:
        first = shlex.quote(str(run.lake.root / folders[0][0]))
        parts.append(f"{len(folders)} lake folder(s) this user cannot list: {_shown(folders)}; "
                     "the periods that need them are not built; give this user read access "
                     f"(chmod -R u+rX {first}, or run as the lake's owner)")
    return [Finding("lake_file_unreadable", None, run.config.severity("lake_file_unreadable"),
                    "; ".join(parts), value=float(len(found)), threshold=0.0)]


def _shown(found: list[tuple[str, str]]) -> str:
    more = f" and {len(found) - 3} more" if len(found) > 3 else ""
    return ", ".join(path for path, _ in found[:3]) + more


CHECKS: dict[str, Callable[[CheckRun], list[Finding]]] = {
    "high_failure_rate": check_high_failure_rate,
    "high_latency": check_high_latency,
    "queue_depth": check_queue_depth,
    "disambiguation_backlog": check_disambiguation_backlog,
    "circuit_breaker_open": check_circuit_breaker_open,
    "inactivity": check_inactivity,
    "lake_file_unreadable": check_lake_file_unreadable,
}


@dataclass
class Evaluation:
    """What one pass of the checks found: conditions, which checks ran, which failed."""

    findings: list[Finding] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    # checks that ran but could not judge (check name -> why): their alerts are kept as they are
    undecided: dict[str, str] = field(default_factory=dict)


def evaluate(lake: Lake, now: datetime, config: AlertConfig) -> Evaluation:
    """Run every configured check in isolation; an exception becomes that check's error."""
    result = Evaluation()
    run = CheckRun(lake, now, config)
    try:
        for name in config.checks:
            run.read_around = run.undecided = None
            try:
                result.findings += CHECKS[name](run)
            except Exception as exc:  # isolation: one broken check never hides the others
                result.errors[name] = f"{type(exc).__name__}: {exc}"
                continue
            if run.undecided is not None:
                result.undecided[name] = run.undecided
            if run.read_around is None:
                result.checked.append(name)
            else:  # raised what the rest shows; failed, so none of its alerts resolves
                result.errors[name] = (
                    f"UnreadableFileError: {run.read_around}; read around it: what this check "
                    "raised comes from the rest of the window, and none of its alerts resolves "
                    "until the file is moved aside")
    finally:
        run.close()
    return result
