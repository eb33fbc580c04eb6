"""Alerts: raised by the health checks, de-duplicated, resolved, acknowledged, kept as history.

The store is an append-only log in the lake: `alerts/date=YYYY-MM-DD/*.parquet`, one immutable
file per run that changed something, one row per lifecycle record (raised, escalated,
acknowledged, resolved), partitioned by the record's time. Every record repeats its alert's
identity, so the state of each alert is derived by reading the log (the `alerts` view, `sql/views/alerts.sql`) and the log
survives restarts. Writers take an exclusive lock (`alerts/.lock`, fcntl) around
read-state-then-append, so two concurrent check runs raise an alert once, not twice. The log's
reading, writing and lock are `health/alert_log.py`; the lifecycle over it is here.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta

from voice_monitor import storage
from voice_monitor.arguments import (
    FIRST_EVENT,
    TimeOutOfRangeError,
    identifier,
    shown,
    time_range,
    utc_text,
    utc_time,
)
from voice_monitor.health import alert_log, notify, outbox
from voice_monitor.health.alert_log import alert_partitions
from voice_monitor.health.checks import CHECK_TYPES, SEVERITIES, AlertConfig, evaluate
from voice_monitor.integrity import known_unreadable, reads_lake
from voice_monitor.lake import Lake, open_lake
from voice_monitor.pagination import cap_limit, decode_cursor, encode_cursor, to_micros
from voice_monitor.schema import MAX_SHORT_STRING
from voice_monitor.sql import load_sql

log = logging.getLogger(__name__)

class UnknownAlertError(ValueError):
    """No alert has the given id."""


class AlreadyAcknowledgedError(ValueError):
    """The alert was acknowledged before: the first acknowledgement (who, when) is kept."""

    def __init__(self, alert: Alert):
        self.alert = alert
        super().__init__(
            f"alert {alert.alert_id} is already acknowledged by {alert.acknowledged_by} at "
            f"{utc_text(alert.acknowledged_at)}; "
            "nothing changed (the first acknowledgement is kept)")


@dataclass(frozen=True)
class Alert:
    """One alert's current state, derived from its lifecycle records."""

    alert_id: str
    alert_type: str
    organization_id: str | None
    severity: str
    status: str  # active | resolved
    message: str
    value: float | None
    threshold: float | None
    raised_at: datetime
    resolved_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    acknowledged_note: str | None = None
    # when a check found its condition at a higher severity while it was active (its latest
    # escalation; None if never): `severity`, `message`, `value` and `threshold` are that check's
    escalated_at: datetime | None = None

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.alert_type, self.organization_id)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class CheckReport:
    """What one check run did: alerts raised and resolved, check errors, what is active now."""

    now: datetime
    raised: list[Alert] = field(default_factory=list)
    # active alerts whose condition this run found at a higher severity: the same alert (same
    # id, acknowledgement kept), its severity raised; an alert never de-escalates
    escalated: list[Alert] = field(default_factory=list)
    resolved: list[Alert] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # check name -> "Error: message"
    active: list[Alert] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # checks that ran to completion
    # checks that ran but could not judge, their data not built yet (name -> why): their active
    # alerts are kept, not resolved (high_latency before the last hour's rollup)
    undecided: dict[str, str] = field(default_factory=dict)
    # findings not raised: a check at a later time already found their key clear (a run at a
    # `now` in the past); each as {alert_type, organization_id, message, cleared_at}
    not_raised: list[dict] = field(default_factory=list)
    deliveries: list[notify.Delivery] = field(default_factory=list)
    # set when webhook_url cannot be posted to: nothing was sent, the alerts are stored anyway
    webhook_error: str | None = None

    def counts(self) -> str:
        """'raised N, resolved M', with 'escalated E' between them when any escalated: the
        summary of `alerts check` and of the health-check flow's log."""
        escalated = f"escalated {len(self.escalated)}, " if self.escalated else ""
        return f"raised {len(self.raised)}, {escalated}resolved {len(self.resolved)}"

    def as_dict(self) -> dict:
        return {
            "now": self.now,
            "checked": self.checked,
            "errors": self.errors,
            "undecided": self.undecided,
            "raised": [a.as_dict() for a in self.raised],
            "escalated": [a.as_dict() for a in self.escalated],
            "resolved": [a.as_dict() for a in self.resolved],
            "active": [a.as_dict() for a in self.active],
            "not_raised": self.not_raised,
            "deliveries": [d.as_dict() for d in self.deliveries],
            "webhook_error": self.webhook_error,
        }


def _all_alerts(lake: Lake, skip_unreadable: bool = False) -> list[Alert]:
    # the `alerts` SQL view is the one definition of an alert's state, here over these files
    rows = alert_log.read_log(lake, "select * from alerts order by raised_at desc, alert_id desc",
                              skip_unreadable)
    names = [f.name for f in fields(Alert)]
    return [Alert(**{k: v.astimezone(UTC) if isinstance(v, datetime) else v
                     for k, v in zip(names, row, strict=True)}) for row in rows]


# -- lifecycle -----------------------------------------------------------------------------
def run_checks(lake: Lake, now: datetime | str, config: AlertConfig | None = None
               ) -> CheckReport:
    """Run every health check, raise new alerts, resolve cleared ones, notify the webhook.

    A `webhook_url` that cannot be posted to skips only the notification: the checks run and
    their alerts are stored; `report.webhook_error` says so, naming the setting and the fix."""
    lake = open_lake(lake)
    config = config or AlertConfig()
    now = _utc(now, "now")
    if now < FIRST_EVENT:
        # (an unset variable made epoch 0: `--now "$(date -ud @${T:-0} +%FT%TZ)"`) the lake as
        # of then is empty, every check clear: each active alert was resolved, raised in 2026
        # or 9998, its resolution notified, a real one raised again by the next run
        raise TimeOutOfRangeError(
            f"now {utc_text(now)!r} is before 2000-01-01, where a lake holds no event (earlier "
            "timestamps are refused): every check would find its condition clear and resolve "
            "the active alerts; check at a time from 2000-01-01 on, e.g. 2026-02-16T14:30:00Z, "
            "or leave now out for the clock")
    found = evaluate(lake, now, config)
    report = CheckReport(now, errors=found.errors, checked=found.checked,
                         undecided=found.undecided)
    firing = {f.key: f for f in found.findings}
    with alert_log.locked(lake):
        # an unreadable file of the log is skipped (and recorded): its active alerts, unknown,
        # are raised again rather than every check falling silent, run after run
        unreadable_before = len(known_unreadable(lake))
        active = {a.key: a for a in _all_alerts(lake, skip_unreadable=True)
                  if a.status == "active"}
        if ("lake_file_unreadable" in found.checked
                and len(known_unreadable(lake)) != unreadable_before):
            # recorded just now, after that check ran: it names the file in this run
            again = evaluate(lake, now, replace(config, checks=("lake_file_unreadable",)))
            firing.update({f.key: f for f in again.findings})
        cleared = _cleared_at(lake)
        records = []
        for key, finding in firing.items():
            if key not in active and cleared.get(key, now) > now:
                # a run at a `now` in the past (a replay): a check at a later time found this
                # key clear, so raising it now would reopen, active until the next run, what
                # the history shows resolved (and page the webhook for it); not raised, said
                report.not_raised.append({"alert_type": key[0], "organization_id": key[1],
                                          "message": finding.message,
                                          "cleared_at": cleared[key]})
            elif key not in active:
                alert_id = "al-" + uuid.uuid4().hex[:16]
                records.append(alert_log.record("raised", finding, alert_id, now, now))
                report.raised.append(Alert(alert_id, *key, finding.severity, "active",
                                           finding.message, finding.value, finding.threshold, now))
            elif _rank(finding.severity) > _rank(active[key].severity):
                # found worse while active (a failure rate from high to critical): the same
                # alert escalates, its key still held once; a lower finding changes nothing
                alert = active[key]
                records.append(alert_log.record("escalated", finding, alert.alert_id,
                                                alert.raised_at, now))
                active[key] = _replace(alert, severity=finding.severity, message=finding.message,
                                       value=finding.value, threshold=finding.threshold,
                                       escalated_at=max(now, alert.raised_at))
                report.escalated.append(active[key])
        for key, alert in active.items():
            # only a check that ran can say its condition cleared; a failed one proves nothing,
            # nor does one whose data is not built yet (undecided)
            if (key not in firing and alert.alert_type in found.checked
                    and alert.alert_type not in found.undecided):
                records.append(alert_log.record("resolved", alert, alert.alert_id,
                                                alert.raised_at, now))
                # raised by a run at a later `now` (a replay): it resolves at its raise, never
                # before it (the `alerts` view applies the same rule to every resolved record)
                report.resolved.append(_replace(alert, status="resolved",
                                                resolved_at=max(now, alert.raised_at)))
        if config.webhook_url:
            # owed to the webhook from the moment it is stored, in the same write: a run killed
            # while sending leaves them for the next run (health.outbox), not lost
            records += _delivery_records(outbox.UNDELIVERED, _transitions(report), now)
        alert_log.write_records(lake, records, now)
    still = {k: a for k, a in active.items() if a.alert_id not in {r.alert_id for r in report.resolved}}
    report.active = sorted([*still.values(), *report.raised],
                           key=lambda a: (a.raised_at, a.alert_id), reverse=True)
    for alert in report.raised:
        log.warning("alert raised: %s %s [%s] %s (%s)", alert.alert_type,
                    alert.organization_id or "platform", alert.severity, alert.message, alert.alert_id)
    for alert in report.escalated:
        log.warning("alert escalated: %s %s [%s] %s (%s)", alert.alert_type,
                    alert.organization_id or "platform", alert.severity, alert.message,
                    alert.alert_id)
    for alert in report.resolved:
        log.info("alert resolved: %s %s (%s)", alert.alert_type,
                 alert.organization_id or "platform", alert.alert_id)
    for name, message in report.errors.items():
        log.error("check %s failed: %s", name, message)
    _notify(lake, report, config, now)
    return report


def _cleared_at(lake: Lake) -> dict[tuple[str, str | None], datetime]:
    """For each key, the latest time a check found it clear: its resolutions' run times (a
    resolution's own `recorded_at`, not its alert's `resolved_at`, which a replay's alert
    resolved by an earlier run moves up to its raise). Only those the clock has reached: a
    check at a `now` still to come (a mistyped year, a host whose clock runs ahead) found
    nothing yet, and counted, it kept every real check from raising that key until then."""
    rows = alert_log.read_log(lake, "select alert_type, organization_id, max(recorded_at) "
                                    "from raw_alerts where record_type = 'resolved' "
                                    "and recorded_at <= current_timestamp group by all",
                              skip_unreadable=True)
    return {(kind, org): at.astimezone(UTC) for kind, org, at in rows}


def _notify(lake: Lake, report: CheckReport, config: AlertConfig, now: datetime) -> None:
    """Send earlier undelivered notifications, then this run's (recorded as owed by
    `run_checks`); record in the alert log each that went through (see health.outbox)."""
    transitions = _transitions(report)
    pending = []
    if config.webhook_url and config.webhook_problem is None:
        own = {(alert.alert_id, event) for event, alert in transitions}  # owed since this run
        undelivered = [pair for pair in alert_log.read_log(lake, load_sql("health/undelivered"),
                                                           skip_unreadable=True)
                       if pair not in own]
        if undelivered:
            alerts = {a.alert_id: a for a in _all_alerts(lake, skip_unreadable=True)}
            pending = outbox.due(undelivered, alerts, now, config.webhook_retry_for)
    report.deliveries, sent = outbox.deliver(config, pending, transitions)
    if sent:
        with alert_log.locked(lake):
            alert_log.write_records(lake, _delivery_records(outbox.DELIVERED, sent, now), now)
    problem = config.webhook_problem
    if problem is not None:  # a setting to fix, not a failed delivery: nothing can be sent
        escalated = f", escalated {len(report.escalated)}" if report.escalated else ""
        hours = config.webhook_retry_for / timedelta(hours=1)
        report.webhook_error = (
            f"{problem}: nothing was posted (this run raised {len(report.raised)}{escalated} "
            f"and resolved {len(report.resolved)} alert(s), all stored in the alert history and "
            f"kept to post once it is fixed, for {hours:g} h); set webhook_url "
            "(VOICE_MONITOR_WEBHOOK_URL) to e.g. https://hooks.slack.com/services/... or leave "
            "it empty")
        log.error("%s", report.webhook_error)


def _delivery_records(kind: str, pairs: list[tuple[str, Alert]], now: datetime) -> list[dict]:
    """`kind` (undelivered | delivered) records of these (event, alert) notifications."""
    return [alert_log.record(kind, alert, alert.alert_id, alert.raised_at, now, note=event)
            for event, alert in pairs]


def _transitions(report: CheckReport) -> list[tuple[str, Alert]]:
    """This run's (event, alert) pairs to notify: raises, escalations, then resolutions."""
    return ([("raised", a) for a in report.raised] + [("escalated", a) for a in report.escalated]
            + [("resolved", a) for a in report.resolved])


def _rank(severity: str) -> int:
    """Higher is more severe (low < medium < high < critical)."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1


def _replace(alert: Alert, **changes) -> Alert:
    return Alert(**{**asdict(alert), **changes})


@reads_lake
def active_alerts(lake: Lake, now: datetime | str | None = None) -> list[Alert]:
    """Alerts raised and not yet resolved, newest first. With `now`, the alerts active at that
    moment (raised at or before it, resolved after it or not yet), each as it stands today."""
    if now is None:
        return [a for a in _all_alerts(lake) if a.status == "active"]
    now = _utc(now, "now")
    return [a for a in _all_alerts(lake)
            if a.raised_at <= now and (a.resolved_at is None or a.resolved_at > now)]


@reads_lake
def get_alert(lake: Lake, alert_id: str) -> Alert:
    """One alert by id; an unknown id is a clear error."""
    for alert in _all_alerts(lake):
        if alert.alert_id == alert_id:
            return alert
    raise UnknownAlertError(f"no alert with id {shown(alert_id)}; list them with "
                            "'voice-monitor alerts list' or 'voice-monitor alerts history'")


def acknowledge_alert(lake: Lake, alert_id: str, by: str, note: str | None = None,
                      now: datetime | str | None = None) -> Alert:
    """Record that `by` has seen the alert (who, when, optional note); returns its new state.

    An alert is acknowledged once: a second acknowledgement raises `AlreadyAcknowledgedError`
    naming the first (who, when) and records nothing."""
    by, note = _acknowledger(by), _note(note)
    lake = open_lake(lake)
    given = now is not None
    now = _utc(now or datetime.now(UTC), "now")
    with alert_log.locked(lake):
        alert = get_alert(lake, alert_id)
        if alert.acknowledged_at is not None:
            raise AlreadyAcknowledgedError(alert)
        # an explicit time before the raise is a mistake; the clock is taken as it is (another
        # host's clock, a little behind the checker's, must not block an acknowledgement)
        if given and now < alert.raised_at:
            raise ValueError(f"acknowledgement at {utc_text(now)} would come before the alert was "
                             f"raised ({utc_text(alert.raised_at)}); give a time at or after it")
        # the clock before the raise (a replay at a later --now raised it, or this host's clock
        # is behind the checker's): dated at the raise, never before it
        now = max(now, alert.raised_at)
        alert_log.write_records(lake, [alert_log.record("acknowledged", alert, alert.alert_id,
                                                        alert.raised_at, now, by=by, note=note)],
                                now)
    log.info("alert %s acknowledged by %s", alert_id, by)
    return _replace(alert, acknowledged_at=now, acknowledged_by=by, acknowledged_note=note)


MAX_NOTE = 2000


def _acknowledger(by) -> str:
    """Who acknowledges: 1-256 printable characters (it is shown, logged and sent on)."""
    if not isinstance(by, str) or not by.strip():
        raise ValueError(f"acknowledged by {by!r}: give the name of who acknowledges, e.g. 'alice'")
    by = by.strip()
    if len(by) > MAX_SHORT_STRING or not by.isprintable():
        raise ValueError(f"acknowledged by {by[:80]!r}: a name is 1-{MAX_SHORT_STRING} printable "
                         "characters (no control characters), e.g. 'alice'")
    return by


def _note(note) -> str | None:
    """An acknowledgement's note: text of at most MAX_NOTE characters; lines and tabs allowed."""
    if note is None:
        return None
    if not isinstance(note, str):
        raise ValueError(f"note {note!r} is not text; send the note as a string")
    if len(note) > MAX_NOTE:
        raise ValueError(f"note is {len(note):,} characters long, over the {MAX_NOTE:,} allowed; "
                         "shorten it")
    if not note.replace("\n", "").replace("\t", "").replace("\r", "").isprintable():
        raise ValueError(f"note {note[:80]!r} contains a control character; send plain text "
                         "(new lines and tabs are fine)")
    return note


def prune_alerts(lake: Lake, cutoff: datetime | str, dry_run: bool = False) -> list[str]:
    """Remove alert partitions whose whole day is before `cutoff`; returns their paths.

    A partition holding a record of a still-active alert is kept whole, however old: an alert
    nobody has seen resolve is the one thing on-call must not lose.
    """
    cutoff = _utc(cutoff, "cutoff")
    lake = open_lake(lake)
    # a dry run only reads: without the lock (a file it would write) it answers on a lake
    # mounted read-only too, as `retention --dry-run` is documented to
    with contextlib.nullcontext() if dry_run else alert_log.locked(lake):
        expired = [(day, files) for day, files in alert_partitions(lake)
                   if day + timedelta(days=1) <= cutoff]
        if not expired:  # nothing to prune: the history is not read (an unreadable file in
            return []    # it, say, fails only what needs it, not every retention run)
        active = {a.alert_id for a in active_alerts(lake)}
        removed = []
        for day, files in expired:
            folder = lake.alerts_dir / f"date={day:%Y-%m-%d}"
            ids = {i for f in files for i in storage.read_table(f, columns=["alert_id"])
                   .column("alert_id").to_pylist()}
            if ids & active:
                continue
            removed.append(str(folder.relative_to(lake.root)))
            if not dry_run:
                lake.drop_partition(folder)
    return removed


# -- history ---------------------------------------------------------------------------------
STATUSES = ("active", "resolved")


@dataclass
class HistoryPage:
    """One page of alert history, newest raised first, and the cursor of the next page."""

    alerts: list[Alert]
    next_cursor: str | None

    def as_dict(self) -> dict:
        return {"alerts": [a.as_dict() for a in self.alerts], "next_cursor": self.next_cursor}


@reads_lake
def alert_history(lake: Lake, type: str | None = None, organization_id: str | None = None,
                  status: str | None = None, start: datetime | None = None,
                  end: datetime | None = None, limit: int = 50, cursor: str | None = None,
                  ) -> HistoryPage:
    """Alerts raised in [start, end), filtered, newest first, keyset-paginated (limit ≤ 500)."""
    if type is not None and type not in CHECK_TYPES:
        raise ValueError(f"unknown alert type {shown(type)}; expected one of "
                         f"{', '.join(CHECK_TYPES)}")
    if status is not None and status not in STATUSES:
        raise ValueError(f"unknown alert status {shown(status)}; expected one of "
                         f"{', '.join(STATUSES)}")
    organization_id = identifier(organization_id, "organization_id")
    start, end = time_range(start, end)
    limit = cap_limit(limit)
    filters = {"type": type, "organization_id": organization_id, "status": status,
               "start": start and start.isoformat(), "end": end and end.isoformat()}
    after = None if cursor is None else decode_cursor(cursor, "alert_history", filters)
    chosen = [
        a for a in _all_alerts(lake)
        if (type is None or a.alert_type == type)
        and (organization_id is None or a.organization_id == organization_id)
        and (status is None or a.status == status)
        and (start is None or a.raised_at >= start)
        and (end is None or a.raised_at < end)
        and (after is None or (a.raised_at, a.alert_id) < after)
    ]
    page = chosen[:limit]
    more = len(chosen) > limit
    last = page[-1] if more else None
    return HistoryPage(page, last and encode_cursor(
        "alert_history", filters, [to_micros(last.raised_at), last.alert_id]))


def _utc(moment: datetime | str, what: str) -> datetime:
    if isinstance(moment, str):  # ISO-8601 text, as every read of the query API takes it
        return utc_time(moment, what)
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise ValueError(f"{what} {moment!r} must be a time zone-aware datetime, e.g. "
                         "datetime(2026, 2, 16, 14, 30, tzinfo=UTC)")
    return moment.astimezone(UTC)
