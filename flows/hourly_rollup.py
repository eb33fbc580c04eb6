"""Prefect flow `hourly-rollup` (deployment hourly-rollup, cron `30 * * * *` UTC).

Run once locally: `python flows/hourly_rollup.py [NOW]`.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta

from _shared import (
    FLOW_TIMEOUTS,
    IO_RETRIES,
    IO_RETRY_DELAY_SECONDS,
    TASK_TIMEOUTS,
    fail_on_unreadable,
    lake_root,
    period_map,
    retry_on_io,
    run_now,
    run_rollup,
)
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from voice_monitor import rollups
from voice_monitor.compaction import compact_lake
from voice_monitor.lake import HOURLY_TABLES, open_lake

# Compact every hour that closed by the time the rollup of the previous hour runs (:30), so
# that the rollup builds each hour once, from its compacted file.
COMPACTION_GRACE = timedelta(minutes=30)


@task(retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY_SECONDS,
      retry_condition_fn=retry_on_io, cache_policy=NO_CACHE,
      timeout_seconds=TASK_TIMEOUTS["compact_closed_hours"])
def compact_closed_hours(root: str, now: datetime) -> dict:
    """Merge each closed event hour into one file sorted for artifact lookups."""
    report = compact_lake(open_lake(root), now, grace=COMPACTION_GRACE)
    facts = {"hours": [h.isoformat() for h in report.hours], "files_replaced": report.files_removed,
             "unreadable": [(h.isoformat(), m) for h, m in report.unreadable]}
    logger = get_run_logger()
    logger.info("compacted %d hour(s), replacing %d file(s)", len(report.hours),
                report.files_removed)
    for hour, message in facts["unreadable"]:
        logger.error("left hour %s uncompacted: %s", hour, message)
    return facts


@task(retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY_SECONDS,
      retry_condition_fn=retry_on_io, cache_policy=NO_CACHE,
      timeout_seconds=TASK_TIMEOUTS["build_hourly_snapshots"])
def build_hourly_snapshots(root: str, now: datetime) -> dict:
    """Build the previous complete hour and every retained hour that changed since its build."""
    lake = open_lake(root)
    return run_rollup(lake, lambda: rollups.run_hourly(lake, now, map_periods=period_map()), HOURLY_TABLES, "hour")


@flow(name="hourly-rollup", timeout_seconds=FLOW_TIMEOUTS["hourly-rollup"])
def hourly_rollup(now: datetime | None = None) -> dict:
    """Compact closed event hours, then build hourly snapshots (pipeline_hourly, stage_hourly)
    for the hour before `now` and every retained hour that received late events; `now`
    defaults to the scheduled start time."""
    moment = run_now(now)
    get_run_logger().info("hourly rollup of lake %s at now=%s", lake_root(), moment.isoformat())
    compacted = compact_closed_hours(lake_root(), moment)
    facts = build_hourly_snapshots(lake_root(), moment)
    # an hour left uncompacted for an unreadable file fails the run, after the rollup ran
    fail_on_unreadable("left uncompacted hour", compacted["unreadable"])
    return facts


if __name__ == "__main__":
    hourly_rollup(sys.argv[1] if len(sys.argv) > 1 else None)
