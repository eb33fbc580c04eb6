"""Wiring shared by the flows in this folder (not a flow): settings, the run's `now` and name,
retries, artifacts and the failure notification.

Flow files import it as a sibling module (`from _shared import ...`): `python flows/x.py`,
Prefect's entrypoint loader and the tests all put this folder on `sys.path`.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _argv import script_now
from prefect import Flow, Task, flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from voice_monitor import jobs, storage
from voice_monitor.arguments import as_utc, iso_time, utc_text
from voice_monitor.counters import CounterStoreError
from voice_monitor.lake import Lake, floor_hour, open_lake
from voice_monitor.retention import RetentionConfig
from voice_monitor.rollups import RollupFailedError
from voice_monitor.settings import RetentionSettings, Settings, load_settings
from voice_monitor.temporary_server import SETTING, did_not_start, patient_start

# Transient I/O (a busy disk, a file vanishing under a concurrent rename) is retried a bounded
# number of times; every other error fails the task, and with it the flow run, at once.
IO_RETRIES = 2
IO_RETRY_DELAY_SECONDS = 2
TAGS = ["voice-monitor"]  # on every task run; deployments add theirs in prefect.yaml

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
    "check_data_quality": 5 * MINUTE,
    "drop_expired_snapshots": 50 * MINUTE,
    "drop_expired_events": 50 * MINUTE,
    "run_health_checks": 3 * MINUTE,
}


def retry_on_io(task, task_run, state) -> bool:
    """Prefect retry condition: retry only when the task raised an OSError (not a timeout), or
    the lake's object store did not answer (botocore's connection errors are no OSError)."""
    # TimeoutError is an OSError, but a run that timed out would only time out again
    if isinstance(state.data, TimeoutError):
        return False
    return isinstance(state.data, OSError) or storage.unreachable(state.data) is not None


IO_TASK = {"retries": IO_RETRIES, "retry_delay_seconds": IO_RETRY_DELAY_SECONDS,
           "retry_condition_fn": retry_on_io, "cache_policy": NO_CACHE, "tags": TAGS}


@task(**IO_TASK, timeout_seconds=TASK_TIMEOUTS["check_data_quality"])
def check_data_quality(root: str, skip: tuple[str, ...] = ()) -> dict:
    """Run the data-quality rules of sql/quality/ over the snapshots: rule -> offending rows."""
    found = jobs.data_quality(open_lake(root), skip)
    logger = get_run_logger()
    for rule, rows in found.items():
        (logger.error if rows else logger.info)("data-quality rule %s: %d offending row(s)",
                                                rule, rows)
    return found


_RETENTION_ARGS = """

    Args:
        now: Treat this UTC time as now (default: the scheduled start time).
        dry_run: List what would be dropped; drop nothing.
        retention: Retention periods (fields left out come from voice-monitor.toml and
            VOICE_MONITOR_RETENTION_*), e.g. {"events": "72h"}.
    """


def retention_flow(module: str, only: str, description: str,
                   task_description: str) -> tuple[Flow, Task]:
    """The flow `<event|snapshot>-retention` and its one task `drop_expired_<only>`: the two
    retention flows differ only in what they drop (`only`) and how they describe it. `module`
    is the flow file's `__name__`, where Prefect and readers of `flow.fn` see them defined."""
    name = f"{only[:-1]}-retention"

    def drop(root: str, now: datetime, config: RetentionConfig, dry_run: bool) -> dict:
        try:
            facts = jobs.retention(open_lake(root), now, config, only, dry_run=dry_run)
        except Exception as exc:  # what it dropped before it failed is logged, then the error
            if (dropped := getattr(exc, "retention_report", None)) is not None:
                log_retention(get_run_logger(), jobs.retention_facts(dropped), whole=False)
            raise
        log_retention(get_run_logger(), facts)
        verb = "dry run" if dry_run else "run"
        publish_retention(name, f"{only[:-1]} retention {verb} at {now:%Y-%m-%dT%H:%MZ}", facts)
        # an expired partition kept for an unreadable file fails the run
        fail_on_unreadable("kept expired partition", facts["kept"])
        if facts["counter_store_error"]:  # so does a corrupt counter store, once logged
            raise CounterStoreError(facts["counter_store_error"])
        return facts

    drop.__name__ = drop.__qualname__ = f"drop_expired_{only}"
    drop.__module__ = module
    drop.__doc__ = task_description
    drop_task = task(**IO_TASK, timeout_seconds=TASK_TIMEOUTS[drop.__name__])(drop)

    def run(now: datetime | None = None, dry_run: bool = False,
            retention: RetentionSettings | None = None) -> dict:
        moment, settings = begin_run(f"{only[:-1]} retention", now, retention=retention)
        return drop_task(settings.lake, moment, settings.retention_config(), dry_run)

    run.__name__ = run.__qualname__ = name.replace("-", "_")
    run.__module__ = module
    run.__doc__ = description + _RETENTION_ARGS
    return flow(run, name=name, flow_run_name=run_name(name, "moment"),
                timeout_seconds=FLOW_TIMEOUTS[name], on_failure=[notify_failure]), drop_task


def run_rollup(lake: Lake, run, tables: tuple[str, ...], unit: str) -> dict:
    """Run a rollup (`run()`) and log what it wrote. Periods it could not build (an unreadable
    lake file) fail the task, after every other period was built and logged."""
    logger = get_run_logger()
    try:
        report = run()
    except RollupFailedError as exc:
        log_rollup(logger, jobs.rollup_facts(lake, exc.report, tables), unit)
        raise
    facts = jobs.rollup_facts(lake, report, tables)
    log_rollup(logger, facts, unit)
    return facts


class UnreadableFilesLeftError(RuntimeError):
    """Compaction or retention left files it cannot read where they are; the run fails."""


def fail_on_unreadable(what: str, problems: list) -> None:
    """Fail the run when `problems` ((partition or hour, message)) is not empty."""
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise UnreadableFilesLeftError(f"{what} {problems[0][0]}{more}: {problems[0][1]}")


def flow_settings(**sections) -> Settings:
    """The effective settings: file and environment, under the fields a flow parameter set."""
    overrides = {f"{section}.{name}": getattr(model, name)
                 for section, model in sections.items() if model is not None
                 for name in model.model_fields_set}
    return load_settings(overrides, source="flow parameter").settings


def begin_run(what: str, now: datetime | str | None, **sections) -> tuple[datetime, Settings]:
    """A flow run's `now` (`run_now`) and settings (`flow_settings`), logged as it starts."""
    moment = run_now(now)
    settings = flow_settings(**sections)
    get_run_logger().info("%s of lake %s at now=%s", what, settings.lake, utc_text(moment))
    return moment, settings


def period_map(address: str):
    """Rebuilds fan out on the Dask cluster the dask setting ($VOICE_MONITOR_DASK) names, else
    run in-process."""
    from voice_monitor.fanout import period_mapper

    return period_mapper(address or None)


def run_now(now: datetime | str | None) -> datetime:
    """`now` as given (naive = UTC), else the flow run's scheduled start time, in UTC."""
    if now is None:
        # a run that starts late still processes the period it was scheduled for
        scheduled = flow_run.scheduled_start_time
        return datetime.fromisoformat(scheduled.isoformat()).astimezone(UTC)
    return as_utc(iso_time(now, "now") if isinstance(now, str) else now)


def run_script(flow_function: Flow, argv: list[str]) -> None:
    """`python flows/<flow>.py [NOW]`: the flow run once at NOW (`script_now`), on Prefect's
    temporary server given time to start on a busy machine (`temporary_server.patient_start`);
    a server that still did not start is one line naming the fix, exit 1."""
    now = script_now(argv)
    try:
        with patient_start():
            flow_function(now)
    except RuntimeError as exc:
        if not did_not_start(exc):
            raise
        print(f"{Path(argv[0]).name}: Prefect's temporary server did not start ({exc}); point "
              f"PREFECT_API_URL at a running server (prefect server start), or allow it longer "
              f"with {SETTING}=300", file=sys.stderr)
        raise SystemExit(1) from None


def run_name(flow_name: str, period: str):
    """A flow_run_name callable: the flow and the period its run is for, from `now` (or the
    scheduled time): `hourly-rollup 2026-02-16T13:00Z` builds 13:00 at 14:30."""

    def name() -> str:
        moment = run_now(flow_run.parameters.get("now"))
        if period == "hour":  # the previous complete hour
            return f"{flow_name} {floor_hour(moment) - timedelta(hours=1):%Y-%m-%dT%H:00Z}"
        if period == "day":  # yesterday
            return f"{flow_name} {moment - timedelta(days=1):%Y-%m-%d}"
        return f"{flow_name} {moment:%Y-%m-%dT%H:%MZ}"

    return name


def notify_failure(flow, run, state) -> None:
    """on_failure hook: post the failed run to the product's webhook, when one is configured."""
    from voice_monitor.health.notify import send

    settings = load_settings().settings
    if not settings.webhook_url:
        return
    send(settings.webhook_url, "raised", {
        "alert_id": f"flow-run-{run.id}", "alert_type": "flow_run_failed", "severity": "high",
        "organization_id": None, "message": f"Prefect flow run {run.name!r} ({flow.name}) "
        f"ended {state.name}: {state.message or 'no message'}"},
        timeout_s=settings.alerts.webhook_timeout_s, attempts=settings.alerts.webhook_attempts)


def _lines(items: list, limit: int = 50) -> list[str]:
    shown = [f"- `{item}`" for item in items[:limit]]
    return shown + ([f"- … and {len(items) - limit} more"] if len(items) > limit else [])


def publish(key: str, title: str, sections: dict[str, list[str] | dict]) -> None:
    """One markdown artifact for the run: a title and, per section, a table or a list."""
    parts = [f"# {title}"]
    for heading, body in sections.items():
        parts.append(f"## {heading}")
        if isinstance(body, dict):
            parts.append("| | |\n|---|---:|\n" + "\n".join(f"| {k} | {v} |" for k, v in body.items())
                         if body else "none")
        else:
            parts.append("\n".join(_lines(body)) if body else "none")
    create_markdown_artifact("\n\n".join(parts), key=key, description=title)


def publish_rollup(key: str, title: str, facts: dict) -> None:
    """The artifact of a rollup run: periods built, rows written, refusals, data quality."""
    sections: dict = {"Periods built": facts["periods"], "Rows written": facts["rows"]}
    if facts.get("hours"):
        sections["Missing or changed hours built first"] = facts["hours"]
    if "compaction" in facts:
        sections["Event hours compacted"] = facts["compaction"]["hours"]
    sections["Partitions replaced"] = facts["partitions"]
    sections["Refused"] = facts["refused"]
    if facts.get("compaction", {}).get("unreadable"):
        sections["Hours left uncompacted (unreadable file)"] = [
            f"{hour}: {message}" for hour, message in facts["compaction"]["unreadable"]]
    sections["Data-quality rules (offending rows; 0 = right)"] = facts.get("quality", {})
    publish(key, title, sections)


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


def log_retention(logger, facts: dict, whole: bool = True) -> None:
    """Log every partition a retention run dropped (or would drop) and the totals; not
    `whole`: those it dropped before it failed."""
    verb = "would drop" if facts["dry_run"] else "dropped"
    for path in facts["partitions"]:
        logger.info("%s partition %s", verb, path)
    if whole:
        logger.info("%s %d partition(s) %s; pruned %d counter row(s), %d temp file(s)", verb,
                    facts["deleted"], facts["counts"], facts["counter_rows"], facts["tmp_files"])
    else:
        logger.error("dropped %d partition(s) %s, then failed", facts["deleted"], facts["counts"])
    for path, message in facts["kept"]:
        logger.error("kept expired partition %s: %s", path, message)
    if facts["counter_store_error"]:
        logger.error("%s", facts["counter_store_error"])


def publish_retention(key: str, title: str, facts: dict) -> None:
    """The artifact of a retention run: cut-offs, partitions dropped (or that would be)."""
    verb = "would drop" if facts["dry_run"] else "dropped"
    publish(key, title, {"Cut-offs": facts["cutoffs"], f"Partitions {verb}": facts["partitions"],
                         "Expired but kept (unreadable file)": [f"{p}: {m}" for p, m in facts["kept"]],
                         "Totals": {**facts["counts"], "counter rows pruned": facts["counter_rows"],
                                    "temp files removed": facts["tmp_files"]}})
