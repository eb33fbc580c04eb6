"""Prefect flow `snapshot-retention` (deployment snapshot-retention, cron `30 4 * * 0` UTC).

Run once locally: `python flows/snapshot_retention.py [NOW]`.
"""

from __future__ import annotations

import sys
from datetime import datetime

from _shared import (
    FLOW_TIMEOUTS,
    IO_RETRIES,
    IO_RETRY_DELAY_SECONDS,
    TASK_TIMEOUTS,
    fail_on_unreadable,
    lake_root,
    log_retention,
    retention_facts,
    retry_on_io,
    run_now,
)
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from voice_monitor.lake import open_lake
from voice_monitor.retention import run_retention


@task(retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY_SECONDS,
      retry_condition_fn=retry_on_io, cache_policy=NO_CACHE,
      timeout_seconds=TASK_TIMEOUTS["drop_expired_snapshots"])
def drop_expired_snapshots(root: str, now: datetime, dry_run: bool) -> dict:
    """Drop hourly snapshot partitions older than 7 d and daily ones older than 90 d."""
    report = run_retention(open_lake(root), now, dry_run=dry_run, only="snapshots")
    log_retention(get_run_logger(), report)
    fail_on_unreadable("kept expired partition", report.kept)
    return retention_facts(report)


@flow(name="snapshot-retention", timeout_seconds=FLOW_TIMEOUTS["snapshot-retention"])
def snapshot_retention(now: datetime | None = None, dry_run: bool = False) -> dict:
    """Drop expired snapshot partitions (hourly after 7 d, daily after 90 d), plus quarantine
    (30 d), alerts (90 d) and counter state (2 h); `now` defaults to the scheduled start time."""
    moment = run_now(now)
    get_run_logger().info("snapshot retention of lake %s at now=%s", lake_root(), moment.isoformat())
    return drop_expired_snapshots(lake_root(), moment, dry_run)


if __name__ == "__main__":
    snapshot_retention(sys.argv[1] if len(sys.argv) > 1 else None)
