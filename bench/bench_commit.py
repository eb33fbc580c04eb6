"""CPU of the collector's committer after validation: `landing.commit` of 4 × 500 events.

    uv run python bench/bench_commit.py [--landings N] [--repeat R] [--size S] [--profile FILE]
    valgrind --tool=callgrind --instr-atstart=no .venv/bin/python bench/bench_commit.py \
        --landings 20 --repeat 1 --callgrind      # instructions: the same on a loaded machine

Builds the batches the collector's bench sends (`bench_server.make_batches`: events stamped in
the 5 minutes before half past the previous hour, so that a run's events never straddle an
hour, whatever the clock), validates each group of four once (`landing.check`, not timed), then
times `landing.commit` as the collector calls it (its own counter store and DuckDB connection
kept open) into a fresh lake: the hour files, the duplicate index, the counters, clean_tmp.
Prints the median (and least) CPU ms, and wall ms, per landing of 4 × S events over R runs.
With `--callgrind` (under valgrind, instrumentation off at start) only the timed landings are
counted: `callgrind_control` turns it on and off around them.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_server  # noqa: E402
from _common import callgrind as _callgrind  # noqa: E402

from voice_monitor.counters import open_counters  # noqa: E402
from voice_monitor.lake import Lake, connect  # noqa: E402
from voice_monitor.landing import check, commit, parse_records  # noqa: E402


class _Fixed(datetime):
    """`datetime` whose now() is half past the previous hour (for `bench_server.make_batches`)."""

    @classmethod
    def now(cls, tz=None):
        return datetime.now(UTC).replace(minute=30, second=0, microsecond=0) - timedelta(hours=1)


def run(landings: int, profile: str | None, size: int = 500,
        callgrind: bool = False) -> tuple[float, float]:
    bench_server.datetime = _Fixed
    bodies = bench_server.make_batches(4 * landings, size)
    now = _Fixed.now()
    con = connect()
    groups = [check(con, [parse_records(b) for b in bodies[i:i + 4]], ["bench"] * 4, now)
              for i in range(0, len(bodies), 4)]
    with tempfile.TemporaryDirectory() as work:
        lake = Lake(Path(work) / "lake")
        lake.root.mkdir()
        counters = open_counters(lake)
        # the first landing makes the folders and the store's schema: not timed
        commit(lake, groups[0], now, counters, con)
        profiler = cProfile.Profile() if profile else None
        wall, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        if callgrind:
            _callgrind("on")
        for group in groups[1:]:
            commit(lake, group, now, counters, con)
        if callgrind:
            _callgrind("off")
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        counters.close()
    con.close()
    n = len(groups) - 1
    return cpu / n * 1000, wall / n * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--landings", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--size", type=int, default=500, help="events per batch (4 a landing)")
    parser.add_argument("--profile", help="write a cProfile of the last run's landings here")
    parser.add_argument("--callgrind", action="store_true",
                        help="under valgrind's callgrind: count the timed landings only")
    args = parser.parse_args()
    runs = [run(args.landings, args.profile if r == args.repeat - 1 else None, args.size,
                args.callgrind) for r in range(args.repeat)]
    cpu, wall = statistics.median(c for c, _ in runs), statistics.median(w for _, w in runs)
    print(f"commit of 4 x {args.size} events: {cpu:.2f} CPU ms, {wall:.2f} wall ms per landing "
          f"(median of {args.repeat} x {args.landings}; least CPU {min(c for c, _ in runs):.2f}; runs CPU "
          f"{', '.join(f'{c:.2f}' for c, _ in runs)}; load {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
