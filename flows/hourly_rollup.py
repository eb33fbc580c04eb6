"""Prefect flow `hourly-rollup` (deployment hourly-rollup, cron `30 * * * *` UTC).

Run once locally: `python flows/hourly_rollup.py [NOW]`.
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
    fail_on_unreadable,
    notify_failure,
    period_map,
    publish_rollup,
    run_name,
    run_rollup,
    run_script,
)
from prefect import flow, get_run_logger, task

from voice_monitor import jobs, rollups
from voice_monitor.lake import HOURLY_TABLES, open_lake
from voice_monitor.retention import RetentionConfig
from voice_monitor.settings import RetentionSettings


@task(**IO_TASK, timeout_seconds=TASK_TIMEOUTS["compact_closed_hours"])
def compact_closed_hours(root: str, now: datetime) -> dict:
    """Merge each closed event hour into one file sorted for artifact lookups."""
    facts = jobs.compact(open_lake(root), now)
    logger = get_run_logger()
    logger.info("compacted %d hour(s), replacing %d file(s)", len(facts["hours"]),
                facts["files_replaced"])
    for hour, message in facts["unreadable"]:
        logger.error("left hour %s uncompacted: %s", hour, message)
    return facts


@task(**IO_TASK, timeout_seconds=TASK_TIMEOUTS["build_hourly_snapshots"])
def build_hourly_snapshots(root: str, now: datetime, retention: RetentionConfig,
                           dask: str = "") -> dict:
    """Build the previous complete hour and every retained hour that changed since its build."""
    lake = open_lake(root)
    return run_rollup(lake, lambda: rollups.run_hourly(lake, now, retention=retention,
                                                       map_periods=period_map(dask)),
                      HOURLY_TABLES, "hour")


@flow(name="hourly-rollup", flow_run_name=run_name("hourly-rollup", "hour"),
      timeout_seconds=FLOW_TIMEOUTS["hourly-rollup"], on_failure=[notify_failure])
def hourly_rollup(now: datetime | None = None, retention: RetentionSettings | None = None) -> dict:
    """Compact closed event hours, build hourly snapshots (pipeline_hourly, stage_hourly) for the
    hour before `now` and every retained hour that received late events, then run the
    data-quality rules; the run fails if a rule finds rows (the snapshots stay written).

    Args:
        now: Treat this UTC time as now (default: the scheduled start time), e.g.
            2026-02-16T14:30:00Z builds 13:00-14:00.
        retention: Retention periods to respect (fields left out come from voice-monitor.toml
            and VOICE_MONITOR_RETENTION_*): no automatic rebuild older than hourly_snapshots.
    """
    moment, settings = begin_run("hourly rollup", now, retention=retention)
    compaction = compact_closed_hours(settings.lake, moment)
    facts = build_hourly_snapshots(settings.lake, moment, settings.retention_config(),
                                   settings.dask)
    facts = {**facts, "compaction": compaction,
             "quality": check_data_quality(settings.lake, jobs.DAILY_ONLY_RULES)}
    publish_rollup("hourly-rollup", f"hourly rollup at {moment:%Y-%m-%dT%H:%MZ}", facts)
    # an hour left uncompacted for an unreadable file fails the run, after the rollup ran
    fail_on_unreadable("left uncompacted hour", compaction["unreadable"])
    jobs.require_quality(facts["quality"])
    return facts


if __name__ == "__main__":
    run_script(hourly_rollup, sys.argv)
