"""What the benchmarks share (not a benchmark): their command-line options, the machine they ran
on, and batches of events for the real-time counters. `python bench/x.py` puts this folder on
sys.path, so each imports it as `_common`."""

from __future__ import annotations

import argparse
import os
import platform
import random
import subprocess
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa


def options(doc: str, **specs) -> argparse.Namespace:
    """Parse `--name` options (underscores become dashes): a spec is the default, whose type
    the value takes, or a dict of `add_argument` keywords."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    for name, spec in specs.items():
        keywords = spec if isinstance(spec, dict) else {"type": type(spec), "default": spec}
        parser.add_argument("--" + name.replace("_", "-"), **keywords)
    return parser.parse_args()


def callgrind(switch: str) -> None:
    """Turn valgrind callgrind's counting "on" or "off" in this process (run under
    `valgrind --tool=callgrind --instr-atstart=no`): instructions of the timed part only."""
    subprocess.run(["callgrind_control", "-i", switch, str(os.getpid())], check=True,
                   capture_output=True)


def cpu_model() -> str:
    """The CPU's model name, from /proc/cpuinfo where there is one."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def counter_batch(rng: random.Random, ids: range, now: datetime,
                  organization: Callable[[random.Random], str | None]) -> pa.Table:
    """Events the counters count, ids `e<i>`, at random moments of the 59 minutes before `now`,
    each for `organization(rng)`."""
    from voice_monitor.counters import METRIC_OF  # here: bench_s3 imports the package late

    types = sorted(METRIC_OF)
    start_us = int((now - timedelta(minutes=59)).timestamp() * 1_000_000)
    span_us = 59 * 60 * 1_000_000
    return pa.table({
        "event_id": [f"e{i}" for i in ids],
        "event_type": [types[rng.randrange(len(types))] for _ in ids],
        "timestamp": pa.array([start_us + rng.randrange(span_us) for _ in ids],
                              pa.timestamp("us", tz="UTC")),
        "organization_id": [organization(rng) for _ in ids],
    })
