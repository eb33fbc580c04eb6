"""Does a landing's cost grow through the hour? 3,600 one-second flushes into one event hour.

    uv run python bench/bench_flushes.py                 # 3,600 flushes of 200 events
    uv run python bench/bench_flushes.py --events 50 --flushes 3600

A producer flushing every second lands one small batch per second into the current hour. Each
flush here is what the producer's writer does for it (`land_batches` of its records, as
`MappingRows`, with the producer's open counter store and connection), with `now` stepping one
second per flush, so an hour of flushes runs in minutes.
Prints the cost of the first 100 and of the last 100 landings and their ratio (target: last
≤ 1.5 × first), as wall time and as the process's CPU time (which the load of other work on a
shared machine disturbs less), in one run on a fresh lake.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench_producer import machine, make_records

from voice_monitor.counters import open_counters
from voice_monitor.lake import Lake, connect
from voice_monitor.landing import land_batches
from voice_monitor.mapping_rows import MappingRows

HOUR = datetime(2026, 2, 16, 14, tzinfo=UTC)


def run(flushes: int, events: int, root: Path) -> tuple[list[float], list[float]]:
    """(wall seconds, CPU seconds) per landing, flush by flush."""
    lake = Lake.create(root / "lake")
    store = open_counters(lake)
    con = connect()  # kept open between landings, as the producer does
    costs, cpu = [], []
    try:
        for i in range(flushes):
            now = HOUR + timedelta(seconds=i * 3600 / flushes)
            # events stamped within the last second before `now`, all in the same hour
            records = make_records(events, now, f"f{i}")
            for j, r in enumerate(records):
                r["timestamp"] = max(int(HOUR.timestamp() * 1000), int(now.timestamp() * 1000) - j)
            lines = MappingRows(records)  # the dicts, as the producer lands them
            started, started_cpu = time.perf_counter(), time.process_time()
            [result] = land_batches(lake, [lines], ["bench"], now, counters=store, con=con)
            costs.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
            assert result.accepted == events and result.duplicates == 0, result
    finally:
        store.close()
        con.close()
    assert len(lake.event_files(HOUR)) == flushes
    return costs, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flushes", type=int, default=3600)
    parser.add_argument("--events", type=int, default=200, help="events per flush")
    parser.add_argument("--window", type=int, default=100, help="landings compared at each end")
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory(prefix="bench-flushes-") as tmp:
        wall, cpu = run(args.flushes, args.events, Path(tmp))
    print(f"{args.flushes} flushes x {args.events} events into one hour, total {sum(wall):.1f} s")
    for name, costs in (("wall", wall), ("cpu", cpu)):
        first, last = costs[: args.window], costs[-args.window:]
        print(f"{name:4s} first {args.window}: mean {statistics.mean(first) * 1000:.1f} ms, "
              f"median {statistics.median(first) * 1000:.1f} ms; last {args.window}: mean "
              f"{statistics.mean(last) * 1000:.1f} ms, median {statistics.median(last) * 1000:.1f} ms; "
              f"ratio last/first: mean {statistics.mean(last) / statistics.mean(first):.2f}, median "
              f"{statistics.median(last) / statistics.median(first):.2f} (target <= 1.5)")

if __name__ == "__main__":
    main()
