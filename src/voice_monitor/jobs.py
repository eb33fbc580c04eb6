"""What each scheduled run does, as plain functions over a lake (no Prefect).

The Prefect flows in `flows/` wrap these steps as tasks (retries, timeouts, logs, artifacts),
and the demo calls the same steps at the simulated schedule times, so a demo lake is left
exactly as the deployments would leave it (compacted hours included). Each step returns small
JSON-ready facts: what it built, wrote, dropped or raised (times as ISO-8601 UTC with Z, as
every other output prints them).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from voice_monitor import quality, rollups
from voice_monitor.arguments import utc_text
from voice_monitor.compaction import compact_lake
from voice_monitor.lake import DAILY_TABLES, HOURLY_TABLES, Lake
from voice_monitor.retention import RetentionConfig, RetentionReport, run_retention

# Compact every hour that closed by the time the rollup of the previous hour runs (:30), so
# that the rollup builds each hour once, from its compacted file.
COMPACTION_GRACE = timedelta(minutes=30)
# Between two daily runs, late events legitimately make a day's hourly rows differ from its
# daily row until the next daily run rebuilds it: the hourly run leaves that rule to the daily.
DAILY_ONLY_RULES = ("daily_equals_sum_of_hourly",)


class DataQualityError(RuntimeError):
    """A data-quality rule of sql/quality/ found rows; the snapshots are written, but wrong."""


def compact(lake: Lake, now: datetime) -> dict:
    """Merge each closed event hour into one file sorted for artifact lookups."""
    report = compact_lake(lake, now, grace=COMPACTION_GRACE)
    return {"hours": [utc_text(h) for h in report.hours], "files_replaced": report.files_removed,
            # hours left as they are because a file in them cannot be read
            "unreadable": [(utc_text(h), message) for h, message in report.unreadable]}


def rollup_facts(lake: Lake, report: rollups.RollupReport, tables: tuple[str, ...]) -> dict:
    """Small facts of a rollup report: periods, partitions written, rows, refusals."""
    return {
        "periods": [utc_text(p) for p in report.periods],
        "hours": [utc_text(h) for h in report.hours],  # a daily run's missing/changed hours
        "partitions": [lake.snapshot_partition(t, p).relative_to(lake.root).as_posix()
                       for p in report.periods for t in tables],
        "rows": dict(report.rows),
        "refused": [f"{utc_text(p)}: {m}" for p, m in report.refused],
        "failed": [f"{utc_text(p)}: {m}" for p, m in report.failed],  # unreadable files
    }


def hourly_snapshots(lake: Lake, now: datetime, retention: RetentionConfig | None = None) -> dict:
    """Build the previous complete hour and every retained hour that changed since its build."""
    return rollup_facts(lake, rollups.run_hourly(lake, now, retention=retention), HOURLY_TABLES)


def daily_snapshots(lake: Lake, now: datetime) -> dict:
    """Build yesterday and every retained day whose hourly rows changed since its build."""
    return rollup_facts(lake, rollups.run_daily(lake, now), DAILY_TABLES)


def data_quality(lake: Lake, skip: tuple[str, ...] = ()) -> dict:
    """Run the rules of sql/quality/ (but `skip`): rule -> number of offending rows (0 = right)."""
    return {name: len(rows) for name, rows in quality.check_snapshots(lake, skip).items()}


def require_quality(found: dict) -> None:
    """Raise DataQualityError naming every rule that found rows."""
    failed = {name: n for name, n in found.items() if n}
    if failed:
        raise DataQualityError(
            f"{len(failed)} data-quality rule(s) failed: "
            + ", ".join(f"{name} ({n} row(s))" for name, n in failed.items())
            + "; see voice-monitor check data")


def retention(lake: Lake, now: datetime, config: RetentionConfig | None, only: str,
              dry_run: bool = False) -> dict:
    """Drop (or with `dry_run` list) the expired partitions of `only` (events or snapshots)."""
    return retention_facts(run_retention(lake, now, config, dry_run=dry_run, only=only))


def retention_facts(report: RetentionReport) -> dict:
    """A retention run's report as the flows log and publish it."""
    return {
        "dry_run": report.dry_run,
        "cutoffs": {kind: utc_text(moment) for kind, moment in report.cutoffs.items()},
        "deleted": len(report.deleted),
        "partitions": [str(path) for path in report.deleted],
        "counts": report.counts(),
        "counter_rows": report.counter_rows,
        "tmp_files": report.tmp_files,
        "kept": [(str(path), message) for path, message in report.kept],  # unreadable files
        "counter_store_error": report.counter_store_error,  # a corrupt store: path and fix
    }


def hourly_run(lake: Lake, now: datetime, retention_config: RetentionConfig | None = None,
               quality: bool = True) -> dict:
    """The hourly-rollup deployment's work: compact, build hours, check data quality (unless
    not `quality`: the demo replays 72 runs and checks once at the end)."""
    facts = {"compaction": compact(lake, now),
             **hourly_snapshots(lake, now, retention_config)}
    facts["quality"] = data_quality(lake, skip=DAILY_ONLY_RULES) if quality else {}
    return facts


def daily_run(lake: Lake, now: datetime) -> dict:
    """The daily-rollup deployment's work: build days, check data quality."""
    facts = daily_snapshots(lake, now)
    facts["quality"] = data_quality(lake)
    return facts
