"""Read latency of `realtime_metrics()` with N events in the window across 1,000 organizations.

    uv run python bench/bench_counters.py [N ...] [--reads R] [--batch B]

For each N (default: 1000 and 10000000) a fresh counter store is filled through the store's own
`record()` in batches of B events (timestamps spread over the window, every counted event type,
organizations org-000 … org-999), then R reads (platform and random organizations, alternating)
are timed. Prints median and p99 in milliseconds (target: median < 5 ms at both sizes).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from _common import counter_batch

from voice_monitor.counters import open_counters, realtime_metrics
from voice_monitor.lake import Lake

NOW = datetime(2026, 2, 16, 14, 30, 0, tzinfo=UTC)
ORGS = 1000


def fill(lake: Lake, n: int, batch: int) -> float:
    """Record `n` distinct events in the window; returns seconds taken."""
    rng = random.Random(n)
    store = open_counters(lake)
    started = time.perf_counter()
    try:
        for first in range(0, n, batch):
            ids = range(first, min(first + batch, n))
            store.record(counter_batch(rng, ids, NOW, lambda r: f"org-{r.randrange(ORGS):03d}"),
                         NOW)
    finally:
        store.close()
    return time.perf_counter() - started


def time_reads(lake: Lake, reads: int) -> tuple[list[float], list[float]]:
    """(latencies with an open store, latencies opening the store per read), in ms."""
    rng = random.Random(1)
    scopes = [None if i % 2 == 0 else f"org-{rng.randrange(ORGS):03d}" for i in range(reads)]
    store = open_counters(lake)
    kept = []
    try:
        for org in scopes:
            started = time.perf_counter()
            realtime_metrics(lake, org, now=NOW, store=store)
            kept.append((time.perf_counter() - started) * 1000)
    finally:
        store.close()
    fresh = []
    for org in scopes[: max(reads // 10, 10)]:
        started = time.perf_counter()
        realtime_metrics(lake, org, now=NOW)
        fresh.append((time.perf_counter() - started) * 1000)
    return kept, fresh


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[1000, 10_000_000])
    parser.add_argument("--reads", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=500_000)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, nproc {os.cpu_count()}; Python "
          f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}")
    for n in args.sizes:
        work = Path(tempfile.mkdtemp(prefix="bench-counters-"))
        try:
            lake = Lake.create(work / "lake")
            seconds = fill(lake, n, args.batch)
            size_mb = sum(p.stat().st_size for p in lake.state_dir.iterdir()) / 1e6
            kept, fresh = time_reads(lake, args.reads)
            check = realtime_metrics(lake, now=NOW)
            total = sum(v for k, v in check.items() if k not in ("window_start", "window_end",
                                                                  "failures"))
            print(f"{n:>11,} events in the window ({size_mb:,.0f} MB state, filled in {seconds:.1f} s "
                  f"= {n / seconds:,.0f}/s): read median {statistics.median(kept):.3f} ms, "
                  f"p99 {_p99(kept):.3f} ms; opening the store per read: median "
                  f"{statistics.median(fresh):.3f} ms  [counted {total:,} non-failure metrics]")
        finally:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
