"""CLI commands: alerts check | list | history | ack."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from voice_monitor.arguments import utc_text
from voice_monitor.cli import common
from voice_monitor.health.alerts import (
    STATUSES,
    Alert,
    acknowledge_alert,
    active_alerts,
    alert_history,
    run_checks,
)
from voice_monitor.health.checks import CHECK_TYPES
from voice_monitor.lake import Lake
from voice_monitor.pagination import MAX_LIMIT


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else f"{moment.astimezone(UTC):%Y-%m-%d %H:%M}Z"


def _line(alert: Alert) -> str:
    ack = f"  ack {alert.acknowledged_by} {_when(alert.acknowledged_at)}" if alert.acknowledged_by else ""
    resolved = f"  resolved {_when(alert.resolved_at)}" if alert.resolved_at else ""
    escalated = f"  escalated {_when(alert.escalated_at)}" if alert.escalated_at else ""
    return (f"{alert.alert_id}  {alert.status:8} {alert.severity:8} {alert.alert_type:22} "
            f"{alert.organization_id or 'platform':12} raised {_when(alert.raised_at)}{escalated}"
            f"{resolved}{ack}"
            f"\n    {alert.message}")


@click.group()
def alerts() -> None:
    """Run the health checks and read or acknowledge alerts.

    \b
    Example:
      voice-monitor alerts check --lake ./data
      voice-monitor alerts list
      voice-monitor alerts ack ALERT_ID --by alice
    """


@alerts.command()
@common.lake_option
@common.now_option
@common.settings_option
@common.json_option
def check(lake: Lake, now: datetime, settings, as_json: bool) -> None:
    """Run the seven health checks once: raise new alerts, resolve cleared ones.

    Posts each raised, escalated or resolved alert to $VOICE_MONITOR_WEBHOOK_URL when it is
    set, after any the webhook did not accept on earlier runs (kept for alerts.webhook_retry_for). Exits 1
    if a check failed (the others still ran and their alerts are stored), or if the webhook URL
    cannot be posted to (every check ran and its alerts are stored; nothing was posted).
    Thresholds are settings (alerts.*): in voice-monitor.toml, VOICE_MONITOR_ALERTS_* variables,
    or --set.

    \b
    Example:
      voice-monitor alerts check --lake ./data --now 2026-02-16T14:30:00Z
      voice-monitor alerts check --set alerts.queue_depth_max=80 --set alerts.failure_rate_high=0.2
    """
    report = run_checks(lake, now, settings.settings.alert_config())
    if as_json:
        common.echo_json(report.as_dict())
    else:
        click.echo(f"checked {len(report.checked)} of {len(report.checked) + len(report.errors)}: "
                   f"{report.counts()}, active {len(report.active)}")
        for alert in report.raised:
            click.echo(f"raised   {_line(alert)}")
        for alert in report.escalated:
            click.echo(f"escalated {_line(alert)}")
        for alert in report.resolved:
            click.echo(f"resolved {_line(alert)}")
        for name, why in report.undecided.items():
            if any(a.alert_type == name for a in report.active):  # kept, not resolved: say why
                click.echo(f"kept {name}: {why}")
        for found in report.not_raised:
            click.echo(f"not raised {found['alert_type']} "
                       f"{found['organization_id'] or 'platform'}: a check at "
                       f"{utc_text(found['cleared_at'])} found it clear, after this --now "
                       f"({found['message']})")
        for delivery in report.deliveries:
            again = " (undelivered before)" if delivery.retried else ""
            if not delivery.delivered:
                click.echo(f"webhook: {delivery.event} {delivery.alert_id}{again}: "
                           f"{delivery.error}")
            elif delivery.retried:
                click.echo(f"webhook: {delivery.event} {delivery.alert_id}{again}: delivered")
    failures = []
    if report.errors:
        names = "; ".join(f"{name}: {message}" for name, message in report.errors.items())
        failures.append(f"{len(report.errors)} check(s) failed: {names}")
    if report.webhook_error:
        failures.append(report.webhook_error)
    if failures:
        raise common.VoiceMonitorError("; ".join(failures))


@alerts.command(name="list")
@click.option("--now", type=common.TIME, default=None,
              help="List the alerts active at this UTC time, each as it stands today "
                   "(default: those active now).")
@common.lake_option
@common.json_option
def list_(now, lake: Lake, as_json: bool) -> None:
    """List the active alerts, newest first.

    \b
    Example:
      voice-monitor alerts list --json
      voice-monitor alerts list --now 2026-02-16T14:30:00Z
    """
    found = active_alerts(lake, now)
    if as_json:
        common.echo_json([a.as_dict() for a in found])
        return
    if not found:
        click.echo("no active alerts" if now is None else f"no alert was active at {utc_text(now)}")
    for alert in found:
        click.echo(_line(alert))


@alerts.command()
@click.option("--type", "alert_type", type=click.Choice(CHECK_TYPES), default=None,
              help="Only alerts of this type.")
@click.option("--org", "organization_id", default=None, callback=common.ORGANIZATION,
              help="Only this organization's alerts.")
@click.option("--status", type=click.Choice(STATUSES), default=None, help="active or resolved.")
@click.option("--start", type=common.TIME, default=None, help="Raised at or after this UTC time.")
@click.option("--end", type=common.TIME, default=None, help="Raised before this UTC time.")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True,
              help=f"Alerts per page (at most {MAX_LIMIT}).")
@click.option("--cursor", default=None, help="next_cursor printed by the previous page.")
@common.lake_option
@common.json_option
def history(alert_type, organization_id, status, start, end, limit, cursor, lake: Lake,
            as_json: bool) -> None:
    """Alert history, newest raised first, one page at a time.

    \b
    Example:
      voice-monitor alerts history --type high_latency --start 2026-02-01T00:00:00Z --limit 20
    """
    common.ordered_range(start, end)
    page = alert_history(lake, alert_type, organization_id, status, start, end, limit, cursor)
    if as_json:
        common.echo_json(page.as_dict())
        return
    for alert in page.alerts:
        click.echo(_line(alert))
    if not page.alerts:
        click.echo("no alerts")
    if page.next_cursor:
        click.echo(f"next page: --cursor {page.next_cursor}")


@alerts.command()
@click.argument("alert_id")
@click.option("--by", required=True, help="Who acknowledges the alert.")
@click.option("--note", default=None, help="An optional note, e.g. what is being done.")
@common.lake_option
@click.option("--now", type=common.TIME, default=None,
              help="Treat this UTC time as now, e.g. 2026-02-16T14:30:00Z (not before the alert "
                   "was raised; default: the clock).")
@common.json_option
def ack(alert_id: str, by: str, note: str | None, lake: Lake, now: datetime | None,
        as_json: bool) -> None:
    """Acknowledge an alert: record who has seen it, and when.

    \b
    Example:
      voice-monitor alerts ack al-3f2c9d0e1a2b4c5d --by alice --note "looking at the ASR vendor"
    """
    alert = acknowledge_alert(lake, alert_id, by, note, now=now)
    if as_json:
        common.echo_json(alert.as_dict())
        return
    click.echo(f"acknowledged {alert.alert_id} by {alert.acknowledged_by} at "
               f"{_when(alert.acknowledged_at)}")


def register(main: click.Group) -> None:
    """Add this module's commands to the main group."""
    main.add_command(alerts)
