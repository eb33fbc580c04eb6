"""What the Redis store's horizon costs: Redis CPU and wall per `horizon()` and per `record()`
of a 1-event and a 2,000-event batch, against a baseline version of the store in the same run.

    uv run python bench/bench_redis_horizon.py [--rounds R] [--baseline PATH]

PATH is another version's redis_counters.py (e.g. `git show REV:src/voice_monitor/
redis_counters.py > /tmp/old.py`); without it only this version is measured. Rounds alternate
the versions against one redis-server this script starts on 127.0.0.1, emptied before each.
Redis CPU is `INFO commandstats` microseconds (EVALSHA, GET, TIME) per call.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import redis

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from _common import options  # noqa: E402
from servers import redis_server  # noqa: E402

from voice_monitor import redis_counters  # noqa: E402

NOW = datetime.now(UTC)
WORK = (("horizon", 2000, 0), ("record 1", 1000, 1), ("record 2000", 20, 2000))


def table(n: int, tag: str) -> pa.Table:
    return pa.table({
        "event_id": [f"{tag}-{i}" for i in range(n)],
        "event_type": ["artifact_received"] * n,
        "timestamp": pa.array([NOW - timedelta(seconds=i % 3000) for i in range(n)],
                              pa.timestamp("us", tz="UTC")),
        "organization_id": pa.array([f"org-{i % 5}" for i in range(n)], pa.string())})


def redis_us(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    return sum(stats.get(f"cmdstat_{c}", {}).get("usec", 0) for c in ("evalsha", "get", "time"))


def measure(store, tag: str) -> dict[str, tuple[float, float]]:
    """(wall µs, Redis µs) per call of each piece of work."""
    out = {}
    store.client.flushdb()
    for what, calls, size in WORK:
        tables = [table(size, f"{tag}-{what}-{i}") for i in range(calls)] if size else []
        store.client.config_resetstat()
        started = time.perf_counter()
        for i in range(calls):
            store.horizon() if not size else store.record(tables[i], NOW)
        wall = (time.perf_counter() - started) / calls * 1e6
        out[what] = (wall, redis_us(store.client) / calls)
    return out


def main() -> None:
    args = options(__doc__, rounds=7, baseline={"default": None})
    versions = {"this": redis_counters}
    if args.baseline:
        spec = importlib.util.spec_from_file_location("baseline_redis_counters", args.baseline)
        versions["baseline"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(versions["baseline"])
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-horizon-") as work, \
            redis_server(Path(work)) as url:
        stores = {name: module.RedisCounterStore(url) for name, module in versions.items()}
        version = stores["this"].client.info("server")["redis_version"]
        for r in range(args.rounds):
            order = list(stores) if r % 2 == 0 else list(reversed(stores))
            for name in order:
                for what, got in measure(stores[name], f"{name}{r}").items():
                    results.setdefault((what, name), []).append(got)
        for store in stores.values():
            store.close()
    print(f"machine: {platform.machine()}, load {os.getloadavg()[0]:.1f}; Python "
          f"{platform.python_version()}, Redis {version}; medians of {args.rounds} rounds")
    for (what, name), got in results.items():
        wall = statistics.median(g[0] for g in got)
        server = statistics.median(g[1] for g in got)
        print(f"  {what:12} {name:9} wall {wall:9.1f} µs   Redis {server:9.1f} µs")


if __name__ == "__main__":
    main()
