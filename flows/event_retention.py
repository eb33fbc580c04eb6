"""Prefect flow `event-retention` (deployment event-retention, cron `0 5 * * 0` UTC).

Run once locally: `python flows/event_retention.py [NOW]`.
"""

from __future__ import annotations

import sys
from datetime import datetime

from _shared import (
    FLOW_TIMEOUTS,
    IO_TASK,
    TASK_TIMEOUTS,
    drop_expired,
    flow_settings,
    notify_failure,
    run_name,
    run_now,
)
from prefect import flow, get_run_logger, task

from voice_monitor.retention import RetentionConfig
from voice_monitor.settings import RetentionSettings


@task(**IO_TASK, timeout_seconds=TASK_TIMEOUTS["drop_expired_events"])
def drop_expired_events(root: str, now: datetime, config: RetentionConfig, dry_run: bool) -> dict:
    """Drop event hour partitions that ended the events retention (48 h) or more before `now`, tombstoning them."""
    return drop_expired(root, now, config, dry_run, "events")


@flow(name="event-retention", flow_run_name=run_name("event-retention", "moment"),
      timeout_seconds=FLOW_TIMEOUTS["event-retention"], on_failure=[notify_failure])
def event_retention(now: datetime | None = None, dry_run: bool = False,
                    retention: RetentionSettings | None = None) -> dict:
    """Drop expired event hour partitions (ended retention.events, 48 h, before now), plus quarantine
    (30 d), alerts (90 d) and counter state (2 h). Every period is a setting (retention.*).

    Args:
        now: Treat this UTC time as now (default: the scheduled start time).
        dry_run: List what would be dropped; drop nothing.
        retention: Retention periods (fields left out come from voice-monitor.toml and
            VOICE_MONITOR_RETENTION_*), e.g. {"events": "72h"}.
    """
    moment = run_now(now)
    settings = flow_settings(retention=retention)
    get_run_logger().info("event retention of lake %s at now=%s", settings.lake,
                          moment.isoformat())
    return drop_expired_events(settings.lake, moment, settings.retention_config(), dry_run)


if __name__ == "__main__":
    event_retention(sys.argv[1] if len(sys.argv) > 1 else None)
