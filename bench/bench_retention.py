"""Retention over a lake that has not been cleaned for DAYS days (target: < 1 s).

    uv run python bench/bench_retention.py [--days 90] [--files-per-hour 1] [--repeat 3]

Builds, for every hour of the DAYS days before a fixed `now`: an event hour partition with
FILES small Parquet files, and an hourly partition of both hourly snapshot tables; for every day:
both daily snapshot tables and a quarantine partition. Everything past its cut-off is then
expired at once, the worst case of catching up. Times a dry run (listing only) and the real run
(listing, tombstones, deletes) on a fresh copy each repeat; prints the median of each.
"""

from __future__ import annotations

import platform
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from _common import options

from voice_monitor.lake import HOURLY_TABLES, SNAPSHOT_TABLES, Lake
from voice_monitor.retention import run_retention

NOW = datetime(2026, 2, 16, 14, 30, tzinfo=UTC)


def build(root: Path, days: int, files_per_hour: int) -> int:
    """A lake with `days` days of partitions of every kind; returns how many partitions."""
    lake = Lake(root)
    template = root.parent / "template.parquet"
    # an events file's required columns: retention leaves another table's file in an event
    # hour where it is, and reports it (a file of only `x` was one, in every event hour)
    pq.write_table(pa.table({"event_id": [f"e{i}" for i in range(100)],
                             "event_type": ["artifact_received"] * 100,
                             "timestamp": pa.array([NOW] * 100, pa.timestamp("us", tz="UTC"))}),
                   template)
    start = NOW.replace(minute=0) - timedelta(days=days)
    count = 0

    def put(folder: Path, n: int = 1) -> None:
        nonlocal count
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            shutil.copyfile(template, folder / f"part-{i}.parquet")
        count += 1

    for h in range(days * 24):
        hour = start + timedelta(hours=h)
        put(lake.event_partition(hour), files_per_hour)
        for table in HOURLY_TABLES:
            put(lake.snapshot_partition(table, hour))
    for d in range(days):
        day = start + timedelta(days=d)
        for table in SNAPSHOT_TABLES:
            if table not in HOURLY_TABLES:
                put(lake.snapshot_partition(table, day))
        put(lake.quarantine_partition(day))
    return count


def rmdir_cost(base: Path, n: int = 500) -> float:
    """Milliseconds per rmdir of an empty folder here: the floor of deleting partitions."""
    folders = [base / f"empty-{i}" for i in range(n)]
    for folder in folders:
        folder.mkdir()
    t0 = time.perf_counter()
    for folder in folders:
        folder.rmdir()
    return (time.perf_counter() - t0) / n * 1000


def main() -> None:
    args = options(__doc__, days=90, files_per_hour=1, repeat=3)

    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "source" / "lake"
        source.parent.mkdir()
        partitions = build(source, args.days, args.files_per_hour)
        dry_times, real_times, deleted = [], [], 0
        for i in range(args.repeat):
            root = Path(tmp) / f"run-{i}"
            shutil.copytree(source, root)
            lake = Lake(root)
            t0 = time.perf_counter()
            planned = run_retention(lake, NOW, dry_run=True)
            t1 = time.perf_counter()
            report = run_retention(lake, NOW)
            t2 = time.perf_counter()
            assert report.deleted == planned.deleted
            dry_times.append(t1 - t0)
            real_times.append(t2 - t1)
            deleted = len(report.deleted)
            shutil.rmtree(root)

        rmdir_ms = rmdir_cost(Path(tmp))

    print(f"machine: {platform.machine()}, python {platform.python_version()}")
    print(f"lake: {args.days} days, {partitions} partitions "
          f"({args.files_per_hour} file(s) per event hour); deleted {deleted}")
    print(f"dry run  median {statistics.median(dry_times):.3f} s  (runs: "
          + ", ".join(f"{t:.3f}" for t in dry_times) + ")")
    print(f"real run median {statistics.median(real_times):.3f} s  (runs: "
          + ", ".join(f"{t:.3f}" for t in real_times) + ")  target < 1 s")
    print(f"file system: rmdir of an empty folder {rmdir_ms:.2f} ms, so removing the "
          f"{deleted} partition folders alone costs >= {deleted * rmdir_ms / 1000:.2f} s")


if __name__ == "__main__":
    main()
