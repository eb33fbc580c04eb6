"""Scale-out pieces against their single-machine defaults, in the same run (docs/scaling.md).

    uv run python bench/bench_scaleout.py [--events N] [--batch B] [--reads R]
                                          [--per-hour E] [--days D] [--skip counters|backfill]

counters  N distinct events (timestamps over the window, 100 organizations, counted types) are
          recorded in batches of B into the embedded SQLite store and into Redis (a redis-server
          this script starts on 127.0.0.1), then the same batches again (all duplicates), then R
          reads alternating platform and organizations. Prints events/s and reads/s per store,
          and Redis memory per event.
backfill  a D-day lake (about E events per hour, realistic lifecycles, generated as in
          bench_rollups.py) is backfilled in-process and, on a copy, on a Dask cluster with two
          worker processes (distributed.LocalCluster, one thread each) through Prefect's Dask
          task runner under a temporary Prefect server. Prints both wall times and the ratio.
"""

from __future__ import annotations

import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pyarrow as pa

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from _common import counter_batch, options  # noqa: E402
from bench_rollups import HOUR, NOW, generate  # noqa: E402

from voice_monitor.counters import open_counters  # noqa: E402
from voice_monitor.lake import Lake, floor_day  # noqa: E402


def batches(n: int, size: int) -> list[pa.Table]:
    rng = random.Random(n)
    return [counter_batch(rng, range(first, min(first + size, n)), NOW,
                          lambda r: None if r.random() < 0.1 else f"org-{r.randrange(100):02d}")
            for first in range(0, n, size)]


def bench_store(lake: Lake, url: str | None, tables: list[pa.Table], reads: int) -> dict:
    store = open_counters(lake, url)
    try:
        n = sum(t.num_rows for t in tables)
        started = time.perf_counter()
        new = sum(store.record(t, NOW) for t in tables)
        write = time.perf_counter() - started
        started = time.perf_counter()
        again = sum(store.record(t, NOW) for t in tables)
        dup = time.perf_counter() - started
        assert (new, again) == (n, 0), (new, again)
        start = NOW.replace(second=0, microsecond=0) - timedelta(minutes=59)
        started = time.perf_counter()
        for i in range(reads):
            store.window_counts(None if i % 2 == 0 else f"org-{i % 100:02d}", start, NOW)
        read = time.perf_counter() - started
    finally:
        store.close()
    return {"writes": n / write, "duplicates": n / dup, "reads": reads / read}


def counters(args) -> None:
    import redis
    from servers import redis_server

    tables = batches(args.events, args.batch)
    work = Path(tempfile.mkdtemp(prefix="bench-scaleout-"))
    try:
        sqlite = bench_store(Lake(work / "lake"), "", tables, args.reads)
        with redis_server(work) as url:
            client = redis.Redis.from_url(url)
            before = client.info("memory")["used_memory"]
            remote = bench_store(Lake(work / "lake2"), url, tables, args.reads)
            per_event = (client.info("memory")["used_memory"] - before) / args.events
            version = client.info("server")["redis_version"]
            client.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"counters: {args.events:,} events in batches of {args.batch:,}, {args.reads:,} reads; "
          f"Redis {version} on 127.0.0.1")
    for name, r in (("sqlite", sqlite), ("redis", remote)):
        print(f"  {name:7} new events {r['writes']:>10,.0f}/s   duplicates {r['duplicates']:>10,.0f}/s"
              f"   reads {r['reads']:>8,.0f}/s")
    print(f"  redis/sqlite: writes x{remote['writes'] / sqlite['writes']:.2f}, "
          f"reads x{remote['reads'] / sqlite['reads']:.2f}; Redis memory {per_event:.0f} B/event")


def backfill(args) -> None:
    from distributed import LocalCluster
    from prefect.testing.utilities import prefect_test_harness

    from voice_monitor import rollups
    from voice_monitor.fanout import DaskPeriods

    work = Path(tempfile.mkdtemp(prefix="bench-scaleout-"))
    try:
        local = Lake(work / "local")
        first_day = floor_day(HOUR) - timedelta(days=args.days)
        lookback = int((HOUR - first_day) / timedelta(hours=1))
        generate(local, args.per_hour, lookback)
        shutil.copytree(local.root, work / "dask")
        remote = Lake(work / "dask")
        start, end = first_day, floor_day(HOUR)
        started = time.perf_counter()
        expected = rollups.backfill(local, start, end, NOW, progress=False)
        in_process = time.perf_counter() - started
        with prefect_test_harness(server_startup_timeout=180), LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address=None) as cluster:
            started = time.perf_counter()
            got = rollups.backfill(remote, start, end, NOW, progress=False,
                                   map_periods=DaskPeriods(cluster.scheduler_address))
            on_dask = time.perf_counter() - started
        assert (got.periods, got.rows) == (expected.periods, expected.rows)
        events = sum(1 for _ in local.events_dir.rglob("*.parquet"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"backfill: {args.days} days ({len(expected.periods)} periods, ~{args.per_hour:,} "
          f"events/hour, {events} event files)")
    print(f"  in-process {in_process:.1f} s; Dask, 2 worker processes {on_dask:.1f} s; "
          f"in-process/Dask = {in_process / on_dask:.2f}")


def main() -> None:
    args = options(__doc__, events=200_000, batch=1_000, reads=2_000, per_hour=5_000, days=7,
                   skip={"choices": ["counters", "backfill"], "default": None})
    cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    print(f"machine: {platform.machine()}, nproc {cores}, load {os.getloadavg()[0]:.1f}; "
          f"Python {platform.python_version()}")
    if args.skip != "counters":
        counters(args)
    if args.skip != "backfill":
        backfill(args)


if __name__ == "__main__":
    main()
