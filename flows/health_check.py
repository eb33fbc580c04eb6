"""Prefect flow `health-check` (deployment health-check, cron `*/5 * * * *` UTC).

Run once locally: `python flows/health_check.py [NOW]`.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime

from _shared import (
    FLOW_TIMEOUTS,
    IO_RETRIES,
    IO_RETRY_DELAY_SECONDS,
    TASK_TIMEOUTS,
    lake_root,
    retry_on_io,
    run_now,
)
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from voice_monitor.alerts import run_checks
from voice_monitor.checks import AlertConfig
from voice_monitor.lake import open_lake

WEBHOOK_ENV = "VOICE_MONITOR_WEBHOOK_URL"


class ChecksFailedError(RuntimeError):
    """At least one health check raised; the others ran and their alerts are stored."""


@task(retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY_SECONDS,
      retry_condition_fn=retry_on_io, cache_policy=NO_CACHE,
      timeout_seconds=TASK_TIMEOUTS["run_health_checks"])
def run_health_checks(root: str, now: datetime, webhook_url: str | None) -> dict:
    """Run the seven checks once; log every alert raised or resolved and every check error."""
    logger = get_run_logger()
    report = run_checks(open_lake(root), now, AlertConfig(webhook_url=webhook_url))
    for alert in report.raised:
        logger.warning("raised %s %s for %s [%s]: %s", alert.alert_id, alert.alert_type,
                       alert.organization_id or "platform", alert.severity, alert.message)
    for alert in report.resolved:
        logger.info("resolved %s %s for %s (raised %s)", alert.alert_id, alert.alert_type,
                    alert.organization_id or "platform", alert.raised_at.isoformat())
    for delivery in report.deliveries:
        if not delivery.delivered:
            logger.warning("webhook: %s %s not delivered: %s", delivery.event, delivery.alert_id,
                           delivery.error)
    for name, message in report.errors.items():
        logger.error("check %s failed: %s", name, message)
    logger.info("checked %d, raised %d, resolved %d, active %d", len(report.checked),
                len(report.raised), len(report.resolved), len(report.active))
    return {
        "now": now.isoformat(),
        "checked": report.checked,
        "errors": report.errors,
        "raised": [a.alert_id for a in report.raised],
        "resolved": [a.alert_id for a in report.resolved],
        "active": len(report.active),
        "undelivered": sum(not d.delivered for d in report.deliveries),
    }


@flow(name="health-check", timeout_seconds=FLOW_TIMEOUTS["health-check"])
def health_check(now: datetime | None = None) -> dict:
    """Run the seven health checks at `now` (default: the scheduled start time): raise, resolve
    and notify alerts; the run fails if any check failed, after the others have run."""
    moment = run_now(now)
    get_run_logger().info("health check of lake %s at now=%s", lake_root(), moment.isoformat())
    facts = run_health_checks(lake_root(), moment, os.environ.get(WEBHOOK_ENV) or None)
    if facts["errors"]:
        failed = "; ".join(f"{name}: {message}" for name, message in facts["errors"].items())
        raise ChecksFailedError(f"{len(facts['errors'])} check(s) failed: {failed}")
    return facts


if __name__ == "__main__":
    health_check(sys.argv[1] if len(sys.argv) > 1 else None)
