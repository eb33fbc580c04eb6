"""Prefect flow `snapshot-retention` (deployment snapshot-retention, cron `30 4 * * 0` UTC).

Run once locally: `python flows/snapshot_retention.py [NOW]`.
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


@task(**IO_TASK, timeout_seconds=TASK_TIMEOUTS["drop_expired_snapshots"])
def drop_expired_snapshots(root: str, now: datetime, config: RetentionConfig, dry_run: bool) -> dict:
    """Drop hourly snapshot partitions older than 7 d and daily ones older than 90 d (by default)."""
    return drop_expired(root, now, config, dry_run, "snapshots")


@flow(name="snapshot-retention", flow_run_name=run_name("snapshot-retention", "moment"),
      timeout_seconds=FLOW_TIMEOUTS["snapshot-retention"], on_failure=[notify_failure])
def snapshot_retention(now: datetime | None = None, dry_run: bool = False,
                    retention: RetentionSettings | None = None) -> dict:
    """Drop expired snapshot partitions (hourly after 7 d, daily after 90 d), plus quarantine
    (30 d), alerts (90 d) and counter state (2 h). Every period is a setting (retention.*).

    Args:
        now: Treat this UTC time as now (default: the scheduled start time).
        dry_run: List what would be dropped; drop nothing.
        retention: Retention periods (fields left out come from voice-monitor.toml and
            VOICE_MONITOR_RETENTION_*), e.g. {"events": "72h"}.
    """
    moment = run_now(now)
    settings = flow_settings(retention=retention)
    get_run_logger().info("snapshot retention of lake %s at now=%s", settings.lake,
                          moment.isoformat())
    return drop_expired_snapshots(settings.lake, moment, settings.retention_config(), dry_run)


if __name__ == "__main__":
    snapshot_retention(sys.argv[1] if len(sys.argv) > 1 else None)
