"""Prefect flow `daily-rollup` (deployment daily-rollup, cron `30 1 * * *` UTC).

Run once locally: `python flows/daily_rollup.py [NOW]`.
"""

from __future__ import annotations

import sys
from datetime import datetime

from _shared import (
    FLOW_TIMEOUTS,
    IO_RETRIES,
    IO_RETRY_DELAY_SECONDS,
    TASK_TIMEOUTS,
    lake_root,
    period_map,
    retry_on_io,
    run_now,
    run_rollup,
)
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from voice_monitor import rollups
from voice_monitor.lake import DAILY_TABLES, open_lake


@task(retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY_SECONDS,
      retry_condition_fn=retry_on_io, cache_policy=NO_CACHE,
      timeout_seconds=TASK_TIMEOUTS["build_daily_snapshots"])
def build_daily_snapshots(root: str, now: datetime) -> dict:
    """Build yesterday and every retained day whose hourly rows changed since its build."""
    lake = open_lake(root)
    return run_rollup(lake, lambda: rollups.run_daily(lake, now, map_periods=period_map()), DAILY_TABLES, "day")


@flow(name="daily-rollup", timeout_seconds=FLOW_TIMEOUTS["daily-rollup"])
def daily_rollup(now: datetime | None = None) -> dict:
    """Build daily snapshots (pipeline_daily, stage_daily) from hourly rows for the day before
    `now` and every retained day whose hourly rows changed; `now` defaults to the scheduled start."""
    moment = run_now(now)
    get_run_logger().info("daily rollup of lake %s at now=%s", lake_root(), moment.isoformat())
    return build_daily_snapshots(lake_root(), moment)


if __name__ == "__main__":
    daily_rollup(sys.argv[1] if len(sys.argv) > 1 else None)
