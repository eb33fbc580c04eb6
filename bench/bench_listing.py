"""What listing every partition folder costs a read (the check for folders this user may not list).

    uv run python bench/bench_listing.py --lake /tmp/demo [--repeat 50]

On an existing lake (e.g. `voice-monitor demo --lake /tmp/demo`), the median wall and CPU time of:
`lake_glob` for every raw view (what `voice-monitor sql` lists before DuckDB's glob),
`Lake.event_hours` (what every event read lists) and `define_views` whole (the views of one
`sql` run). Run it with PYTHONPATH pointing at another checkout's src/ for the before figure.
"""

from __future__ import annotations

import os
import statistics
import time

from _common import options

import voice_monitor
from voice_monitor.lake import Lake
from voice_monitor.views import SOURCES, lake_connection, lake_glob


def _median(step, repeat: int) -> tuple[float, float]:
    step()  # warm: modules, the OS's directory cache
    walls, cpus = [], []
    for _ in range(repeat):
        cpu, wall = time.process_time(), time.perf_counter()
        step()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls) * 1000, statistics.median(cpus) * 1000


def main() -> None:
    args = options(__doc__, lake={"required": True}, repeat=50)
    lake = Lake(args.lake)
    folders = sum(len(dirs) for _, dirs, _ in os.walk(lake.root))
    print(f"{voice_monitor.__file__}: {folders} folders under {lake.root}")
    steps = {"lake_glob x8": lambda: [lake_glob(lake, raw) for raw in SOURCES],
             "event_hours": lake.event_hours,
             "define_views": lambda: lake_connection(lake, defer_unreadable=True).close()}
    for name, step in steps.items():
        repeat = max(5, args.repeat // 5) if name == "define_views" else args.repeat
        wall, cpu = _median(step, repeat)
        print(f"{name:14} wall {wall:8.2f} ms   cpu {cpu:8.2f} ms")


if __name__ == "__main__":
    main()
