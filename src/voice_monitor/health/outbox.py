"""Webhook notifications that did not go through: kept in the alert log, retried by later runs.

A transition (an alert raised, escalated or resolved) is owed to the webhook from the moment it
is stored: it is recorded in the alert log as an `undelivered` record (`note` = the event) in the
same write as the transition, and `delivered` once the webhook accepted it. So a notification every attempt
of which failed, one `webhook_url` could not be posted to, and one a run killed while sending
(a timeout, a crash) are all still owed. Each later check run with a usable `webhook_url` sends
the pending ones, oldest first and before its own, and records `delivered` for each that goes
through; at the first that fails it stops (the webhook is still down) and leaves the rest for
the next run.
Bounds: a notification is given up, silently, once its transition is older than
`webhook_retry_for` (24 h by default), and a `raised` or `escalated` one once its alert has
resolved (the `resolved` notification carries both times and the severity it reached). No
`webhook_url` at all records nothing: nobody was owed a message.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from voice_monitor.health import notify

log = logging.getLogger(__name__)

UNDELIVERED, DELIVERED = "undelivered", "delivered"


def due(undelivered: list[tuple[str, str]], alerts: dict, now: datetime,
        retry_for: timedelta) -> list[tuple[str, object]]:
    """The pending (event, Alert) pairs still worth sending, oldest transition first."""
    chosen = []
    for alert_id, event in undelivered:
        alert = alerts.get(alert_id)
        if alert is None or (event != "resolved" and alert.status == "resolved"):
            continue  # pruned, or superseded by its resolution
        at = {"resolved": alert.resolved_at, "escalated": alert.escalated_at}.get(
            event, alert.raised_at)
        if at is None or at < now - retry_for:
            continue
        # at the same instant: a raise before its escalation, both before a resolution
        order = {"escalated": 1, "resolved": 2}.get(event, 0)
        chosen.append((at, order, alert_id, event, alert))
    return [(event, alert) for *_, event, alert in sorted(chosen, key=lambda c: c[:3])]


def deliver(config, pending: list[tuple[str, object]], transitions: list[tuple[str, object]],
            ) -> tuple[list[notify.Delivery], list[tuple[str, object]]]:
    """Send the pending notifications, then this run's transitions (stored as owed already);
    returns the deliveries and the (event, alert) pairs that went through (each to be recorded
    `delivered`)."""
    url = config.webhook_url
    if not url or config.webhook_problem is not None:  # nothing can be sent: all stay owed
        return [], []
    sent: list[tuple[str, object]] = []
    deliveries = []
    for event, alert in pending:
        delivery = notify.send(url, event, alert.as_dict(), config.webhook_timeout_s,
                               config.webhook_attempts, config.webhook_backoff_s)
        delivery.retried = True
        deliveries.append(delivery)
        if not delivery.delivered:
            break
        sent.append((event, alert))
    for event, alert in transitions:
        delivery = notify.send(url, event, alert.as_dict(), config.webhook_timeout_s,
                               config.webhook_attempts, config.webhook_backoff_s)
        deliveries.append(delivery)
        if delivery.delivered:
            sent.append((event, alert))
    for delivery in deliveries:
        if not delivery.delivered:
            log.error("webhook delivery of %s %s failed: %s", delivery.event, delivery.alert_id,
                      delivery.error)
        elif delivery.retried:
            log.info("webhook delivered %s %s on a retry", delivery.event, delivery.alert_id)
    return deliveries, sent
