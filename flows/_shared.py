"""Wiring shared by the flows in this folder (not a flow): the lake, the run's `now`, retries.

Flow files import it as a sibling module (`from _shared import ...`): `python flows/x.py`,
Prefect's entrypoint loader and the tests all put this folder on `sys.path`.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from prefect import get_run_logger
from prefect.runtime import flow_run

from voice_monitor.lake import DEFAULT_LAKE, LAKE_ENV, Lake
from voice_monitor.rollups import RollupFailedError

# Transient I/O (a busy disk, a file vanishing under a concurrent rename) is retried a bounded
# number of times; every other error fails the task, and with it the flow run, at once.
IO_RETRIES = 2
IO_RETRY_DELAY_SECONDS = 2

# Upper bounds on a run, in seconds, so a hung query cannot hold a deployment's single
# concurrency slot: past it the run ends Failed and the slot is free before the next scheduled
# run is due. Each flow's bound is under its schedule's interval; its tasks' bounds fit inside it.
MINUTE = 60
FLOW_TIMEOUTS = {
    "hourly-rollup": 50 * MINUTE,  # every hour
    "daily-rollup": 180 * MINUTE,  # every day
    "snapshot-retention": 60 * MINUTE,  # weekly
    "event-retention": 60 * MINUTE,  # weekly
    "health-check": 4 * MINUTE,  # every 5 minutes
}
TASK_TIMEOUTS = {
    "compact_closed_hours": 20 * MINUTE,
    "build_hourly_snapshots": 25 * MINUTE,
    "build_daily_snapshots": 150 * MINUTE,
    "drop_expired_snapshots": 50 * MINUTE,
    "drop_expired_events": 50 * MINUTE,
    "run_health_checks": 3 * MINUTE,
}


def retry_on_io(task, task_run, state) -> bool:
    """Prefect retry condition: retry only when the task raised an OSError (not a timeout)."""
    # TimeoutError is an OSError, but a run that timed out would only time out again
    return isinstance(state.data, OSError) and not isinstance(state.data, TimeoutError)


def lake_root() -> str:
    """The lake root: $VOICE_MONITOR_LAKE, else ./data (relative to the working directory)."""
    return os.environ.get(LAKE_ENV, DEFAULT_LAKE)


def period_map():
    """Rebuilds fan out on the Dask cluster $VOICE_MONITOR_DASK names, else run in-process."""
    from voice_monitor.fanout import DASK_ENV, period_mapper

    return period_mapper(os.environ.get(DASK_ENV))


def run_now(now: datetime | str | None) -> datetime:
    """`now` as given (naive = UTC), else the flow run's scheduled start time, in UTC."""
    if now is None:
        # a run that starts late still processes the period it was scheduled for
        scheduled = flow_run.scheduled_start_time
        return datetime.fromisoformat(scheduled.isoformat()).astimezone(UTC)
    if isinstance(now, str):
        text = now.strip()
        now = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def rollup_facts(lake: Lake, report, tables: tuple[str, ...]) -> dict:
    """Small JSON-ready facts of a rollup report: periods, partitions written, rows, refusals."""
    return {
        "periods": [p.isoformat() for p in report.periods],
        "hours": [h.isoformat() for h in report.hours],  # a daily run's missing/changed hours
        "partitions": [lake.snapshot_partition(t, p).relative_to(lake.root).as_posix()
                       for p in report.periods for t in tables],
        "rows": dict(report.rows),
        "refused": [f"{p.isoformat()}: {m}" for p, m in report.refused],
        "failed": [f"{p.isoformat()}: {m}" for p, m in report.failed],
    }


def run_rollup(lake: Lake, run, tables: tuple[str, ...], unit: str) -> dict:
    """Run a rollup (`run()`) and log what it wrote. Periods it could not build (an unreadable
    lake file) fail the task, after every other period was built and logged."""
    logger = get_run_logger()
    try:
        report = run()
    except RollupFailedError as exc:
        log_rollup(logger, rollup_facts(lake, exc.report, tables), unit)
        raise
    facts = rollup_facts(lake, report, tables)
    log_rollup(logger, facts, unit)
    return facts


class UnreadableFilesLeftError(RuntimeError):
    """Compaction or retention left files it cannot read where they are; the run fails."""


def fail_on_unreadable(what: str, problems: list) -> None:
    """Fail the run when `problems` ((partition or hour, message)) is not empty."""
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise UnreadableFilesLeftError(f"{what} {problems[0][0]}{more}: {problems[0][1]}")


def log_rollup(logger, facts: dict, unit: str) -> None:
    """Log what a rollup wrote (and refused) in a few lines."""
    if facts["periods"]:
        logger.info("built %d %s(s): %s", len(facts["periods"]), unit, ", ".join(facts["periods"]))
    else:
        logger.info("no %s needed a rollup", unit)
    if facts["hours"]:
        logger.info("built %d missing or changed hour(s) first: %s", len(facts["hours"]),
                    ", ".join(facts["hours"]))
    for table, rows in facts["rows"].items():
        logger.info("wrote %d rows to %s", rows, table)
    for partition in facts["partitions"]:
        logger.info("replaced partition %s", partition)
    for refusal in facts["refused"]:
        logger.warning("refused %s", refusal)
    for failure in facts["failed"]:
        logger.error("failed %s", failure)


def retention_facts(report) -> dict:
    """Small JSON-ready facts of a retention report."""
    return {
        "dry_run": report.dry_run,
        "cutoffs": {kind: moment.isoformat() for kind, moment in report.cutoffs.items()},
        "deleted": len(report.deleted),
        "counts": report.counts(),
        "counter_rows": report.counter_rows,
        "tmp_files": report.tmp_files,
    }


def log_retention(logger, report) -> None:
    """Log every partition a retention run dropped (or would drop) and the totals."""
    verb = "would drop" if report.dry_run else "dropped"
    for path in report.deleted:
        logger.info("%s partition %s", verb, path)
    logger.info("%s %d partition(s) %s; pruned %d counter row(s), %d temp file(s)", verb,
                len(report.deleted), report.counts(), report.counter_rows, report.tmp_files)
    for path, message in report.kept:
        logger.error("kept expired partition %s: %s", path, message)
