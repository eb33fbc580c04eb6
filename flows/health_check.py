"""Prefect flow `health-check` (deployment health-check, cron `*/5 * * * *` UTC).

Run once locally: `python flows/health_check.py [NOW]`.
"""

from __future__ import annotations

import sys
from datetime import datetime

from _argv import script_now

if __name__ == "__main__":  # a mistyped NOW is refused now, not after importing Prefect
    script_now(sys.argv)

from _shared import (
    FLOW_TIMEOUTS,
    IO_TASK,
    TASK_TIMEOUTS,
    begin_run,
    notify_failure,
    publish,
    run_name,
    run_script,
)
from prefect import flow, get_run_logger, task

from voice_monitor.arguments import utc_text
from voice_monitor.health.alerts import run_checks
from voice_monitor.health.checks import AlertConfig
from voice_monitor.lake import open_lake
from voice_monitor.settings import AlertSettings


class ChecksFailedError(RuntimeError):
    """At least one health check raised; the others ran and their alerts are stored."""


class WebhookUrlError(RuntimeError):
    """webhook_url cannot be posted to: every check ran and its alerts are stored, none sent."""


def _alert_line(alert) -> str:
    return (f"{alert.alert_id} {alert.alert_type} for {alert.organization_id or 'platform'} "
            f"[{alert.severity}]: {alert.message}")


@task(**IO_TASK, timeout_seconds=TASK_TIMEOUTS["run_health_checks"])
def run_health_checks(root: str, now: datetime, config: AlertConfig) -> dict:
    """Run the seven checks once; log every alert raised or resolved and every check error."""
    logger = get_run_logger()
    report = run_checks(open_lake(root), now, config)
    for alert in report.raised:
        logger.warning("raised %s %s for %s [%s]: %s", alert.alert_id, alert.alert_type,
                       alert.organization_id or "platform", alert.severity, alert.message)
    for alert in report.escalated:
        logger.warning("escalated %s %s for %s [%s]: %s", alert.alert_id, alert.alert_type,
                       alert.organization_id or "platform", alert.severity, alert.message)
    for alert in report.resolved:
        logger.info("resolved %s %s for %s (raised %s)", alert.alert_id, alert.alert_type,
                    alert.organization_id or "platform", utc_text(alert.raised_at))
    for delivery in report.deliveries:
        if not delivery.delivered:
            logger.warning("webhook: %s %s not delivered: %s", delivery.event, delivery.alert_id,
                           delivery.error)
        elif delivery.retried:
            logger.info("webhook: %s %s delivered (undelivered by an earlier run)",
                        delivery.event, delivery.alert_id)
    for found in report.not_raised:  # a run late past a later one (a worker back from a stop)
        logger.info("not raised %s for %s: a check at %s found it clear, after this run's now",
                    found["alert_type"], found["organization_id"] or "platform",
                    utc_text(found["cleared_at"]))
    for name, why in report.undecided.items():
        logger.info("check %s undecided: %s", name, why)
    for name, message in report.errors.items():
        logger.error("check %s failed: %s", name, message)
    if report.webhook_error:
        logger.error("%s", report.webhook_error)
    logger.info("checked %d, %s, active %d", len(report.checked), report.counts(),
                len(report.active))
    if report.raised or report.escalated or report.resolved or report.errors:  # quiet: none
        publish("health-check", f"health check at {now:%Y-%m-%dT%H:%MZ}", {
            "Raised": [_alert_line(a) for a in report.raised],
            "Escalated": [_alert_line(a) for a in report.escalated],
            "Resolved": [_alert_line(a) for a in report.resolved],
            "Check errors": [f"{name}: {message}" for name, message in report.errors.items()],
            "Totals": {"checked": len(report.checked), "active alerts": len(report.active)}})
    return {
        "now": utc_text(now),
        "checked": report.checked,
        "errors": report.errors,
        "raised": [a.alert_id for a in report.raised],
        "escalated": [a.alert_id for a in report.escalated],
        "resolved": [a.alert_id for a in report.resolved],
        "not_raised": [f"{found['alert_type']} {found['organization_id'] or 'platform'}"
                       for found in report.not_raised],
        "active": len(report.active),
        "undelivered": sum(not d.delivered for d in report.deliveries),
        "resent": sum(d.delivered and d.retried for d in report.deliveries),
        "webhook_error": report.webhook_error,
    }


@flow(name="health-check", flow_run_name=run_name("health-check", "moment"),
      timeout_seconds=FLOW_TIMEOUTS["health-check"], on_failure=[notify_failure])
def health_check(now: datetime | None = None, alerts: AlertSettings | None = None) -> dict:
    """Run the seven health checks at `now`: raise, resolve and notify alerts (to the webhook
    setting, VOICE_MONITOR_WEBHOOK_URL); the run fails if any check failed, after the others
    have run, or if the webhook URL cannot be posted to (after every check ran and its alerts
    were stored).

    Args:
        now: Treat this UTC time as now (default: the scheduled start time).
        alerts: Alert thresholds (fields left out come from voice-monitor.toml and
            VOICE_MONITOR_ALERTS_*), e.g. {"queue_depth_max": 80}.
    """
    moment, settings = begin_run("health check", now, alerts=alerts)
    facts = run_health_checks(settings.lake, moment, settings.alert_config())
    if facts["errors"]:
        failed = "; ".join(f"{name}: {message}" for name, message in facts["errors"].items())
        also = f"; {facts['webhook_error']}" if facts["webhook_error"] else ""
        raise ChecksFailedError(f"{len(facts['errors'])} check(s) failed: {failed}{also}")
    if facts["webhook_error"]:
        raise WebhookUrlError(facts["webhook_error"])
    return facts


if __name__ == "__main__":
    run_script(health_check, sys.argv)
