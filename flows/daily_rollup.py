"""Prefect flow `daily-rollup` (deployment daily-rollup, cron `30 1 * * *` UTC).

Run once locally: `python flows/daily_rollup.py [NOW]`.
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
    check_data_quality,
    notify_failure,
    period_map,
    publish_rollup,
    run_name,
    run_rollup,
    run_script,
)
from prefect import flow, task

from voice_monitor import jobs, rollups
from voice_monitor.lake import DAILY_TABLES, open_lake


@task(**IO_TASK, timeout_seconds=TASK_TIMEOUTS["build_daily_snapshots"])
def build_daily_snapshots(root: str, now: datetime, dask: str = "") -> dict:
    """Build yesterday and every retained day whose hourly rows changed since its build."""
    lake = open_lake(root)
    return run_rollup(lake, lambda: rollups.run_daily(lake, now, map_periods=period_map(dask)),
                      DAILY_TABLES, "day")


@flow(name="daily-rollup", flow_run_name=run_name("daily-rollup", "day"),
      timeout_seconds=FLOW_TIMEOUTS["daily-rollup"], on_failure=[notify_failure])
def daily_rollup(now: datetime | None = None) -> dict:
    """Build daily snapshots (pipeline_daily, stage_daily) from hourly rows for the day before
    `now` and every retained day whose hourly rows changed, then run every data-quality rule;
    the run fails if a rule finds rows (the snapshots stay written).

    Args:
        now: Treat this UTC time as now (default: the scheduled start time), e.g.
            2026-02-17T01:30:00Z builds 2026-02-16.
    """
    moment, settings = begin_run("daily rollup", now)
    facts = build_daily_snapshots(settings.lake, moment, settings.dask)
    facts = {**facts, "quality": check_data_quality(settings.lake)}
    publish_rollup("daily-rollup", f"daily rollup at {moment:%Y-%m-%dT%H:%MZ}", facts)
    jobs.require_quality(facts["quality"])
    return facts


if __name__ == "__main__":
    run_script(daily_rollup, sys.argv)
