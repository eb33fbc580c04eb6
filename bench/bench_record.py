"""CPU of the counter store's `record()` per landing, for a producer's batches.

    uv run python bench/bench_record.py [--calls 40] [--profile] [--shapes "50000 spread"]

Lands the same batches `land_batches` lands for a producer (`bench_producer.make_records`, with
a kept store and DuckDB connection, as `bench_flushes.py` does), one per second of `now`, and
times only the store's `record()` (CPU of the process, `time.process_time`). Four shapes:
2,000 events spread over the last hour (`make_records`' own spread) or the last 5 minutes (a
collector's landing, as in bench_server.py), 50 spread over the hour, 50 within the last
second (a producer's one-second flush). Prints the median of the calls after the first few per shape;
`--profile` prints a cProfile of the `record()` calls instead.

To compare two versions in one run, point PYTHONPATH at a snapshot of each one's `src/` and
run this script alternately.
"""

from __future__ import annotations

import cProfile
import pstats
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import options
from bench_producer import machine, make_records

from voice_monitor.counters import open_counters
from voice_monitor.lake import Lake, connect
from voice_monitor.landing import land_batches
from voice_monitor.mappings import dumps

START = datetime(2026, 2, 16, 14, 30, tzinfo=UTC)
SHAPES = {"2000 spread": (2000, 3600), "2000 5 min": (2000, 300), "50 spread": (50, 3600),
          "50 flush": (50, 1),  # events, and the seconds before `now` they are stamped in
          "50000 spread": (50_000, 3600)}  # the producer's default batch: only with --shapes
DEFAULT_SHAPES = "2000 spread,2000 5 min,50 spread,50 flush"


class Timed:
    """The store, with the CPU time of each `record()` call kept."""

    def __init__(self, store, profiler: cProfile.Profile | None):
        self.store, self.profiler, self.cpu = store, profiler, []

    def record(self, events, now):
        if self.profiler:
            self.profiler.enable()
        started = time.process_time()
        try:
            return self.store.record(events, now)
        finally:
            self.cpu.append(time.process_time() - started)
            if self.profiler:
                self.profiler.disable()

    def __getattr__(self, name):
        return getattr(self.store, name)


def run(shape: str, calls: int, root: Path, profiler) -> tuple[list[float], list[float]]:
    """CPU seconds of each `record()` call, and of each whole landing."""
    events, seconds = SHAPES[shape]
    lake = Lake.create(root / shape.replace(" ", "-"))
    store = Timed(open_counters(lake), profiler)
    con = connect()
    landings = []
    try:
        for i in range(calls):
            now = START + timedelta(seconds=i)
            records = make_records(events, now, f"c{i}")
            for j, r in enumerate(records):
                r["timestamp"] = int(now.timestamp() * 1000) - (j * 7919) % (seconds * 1000)
            lines = [dumps(r) for r in records]
            started = time.process_time()
            [result] = land_batches(lake, [lines], ["bench"], now, counters=store, con=con)
            landings.append(time.process_time() - started)
            assert result.accepted == events and result.duplicates == 0, result
    finally:
        store.close()
        con.close()
    return store.cpu, landings


def main() -> None:
    args = options(__doc__, calls=40, warm=5, profile={"action": "store_true"},
                   shapes={"default": DEFAULT_SHAPES, "help": f"of {', '.join(SHAPES)}"})
    print(machine(), flush=True)
    import voice_monitor

    print("code:", Path(voice_monitor.__file__).parent)
    profiler = cProfile.Profile() if args.profile else None
    with tempfile.TemporaryDirectory(prefix="bench-record-") as tmp:
        for shape in args.shapes.split(","):
            cpu, landings = (c[args.warm:] for c in run(shape, args.calls, Path(tmp), profiler))
            n = SHAPES[shape][0]
            median = statistics.median(cpu)
            print(f"{shape:12s} record(): median {median * 1000:.2f} CPU ms per call "
                  f"({median / n * 1e6:.2f} µs/event), mean {statistics.mean(cpu) * 1000:.2f} ms; "
                  f"whole landing median {statistics.median(landings) * 1000:.2f} ms; "
                  f"{len(cpu)} calls", flush=True)
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)


if __name__ == "__main__":
    main()
