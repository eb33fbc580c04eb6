"""Throughput of `voice-monitor ingest` on an N-line JSON Lines file of realistic events.

    uv run python bench/bench_landing.py [N] [--repeat R] [--keep DIR]

Generates N events (default 1,000,000) spread over the 24 h before a fixed `now`, ~200
organizations, every event type, metadata on the events that carry it, and times landing them
into a fresh lake: in-process (`ingest_file`) and as a subprocess (`voice-monitor ingest`).
Prints the median events/s of R runs of each (target: >= 500,000 events/s), and the in-process
CPU time per event (all threads), which the load of other work on the machine disturbs less.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from _common import cpu_model

from voice_monitor.lake import Lake
from voice_monitor.landing import ingest_file
from voice_monitor.schema import EVENT_TYPES

NOW = datetime(2026, 2, 16, 14, 30, tzinfo=UTC)
_TYPES = sorted(EVENT_TYPES)
# roughly the pipeline's mix: stage events dominate, system events are rare
_WEIGHTS = [1 if EVENT_TYPES[t][1] == "system" else 6 for t in _TYPES]


def generate(path: Path, n: int, seed: int = 7) -> None:
    """Write `n` realistic events as JSON Lines to `path`."""
    rng = random.Random(seed)
    start_ms = int((NOW - timedelta(hours=24)).timestamp() * 1000)
    span_ms = 24 * 3600 * 1000
    types = rng.choices(_TYPES, _WEIGHTS, k=n)
    with path.open("wb") as out:
        chunk = []
        for i, event_type in enumerate(types):
            at = datetime.fromtimestamp((start_ms + rng.randrange(span_ms)) / 1000, UTC)
            record = {
                "event_id": f"evt-{i:09d}",
                "event_type": event_type,
                "timestamp": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "artifact_id": f"art-{rng.randrange(n // 6 + 1):08d}",
                "voice_note_id": f"vn-{i // 6:08d}",
                "organization_id": f"org-{int(rng.paretovariate(1.2)) % 200:03d}",
            }
            if event_type.endswith(("_completed", "_extracted", "_generated")):
                record["duration_ms"] = round(rng.lognormvariate(7, 1), 1)
                record["metadata"] = {"claim_count": rng.randrange(12), "confidence_score":
                                      round(rng.random(), 3), "aiCost": round(rng.random() / 50, 5),
                                      "ai_model": "gpt-x", "trace": f"t-{i}"}
            if event_type.endswith("_failed"):
                record["error_code"] = "E_TIMEOUT"
                record["error_message"] = "upstream timed out after 30s (Bearer abc123def)"
            chunk.append(orjson.dumps(record))
            if len(chunk) == 50_000:
                out.write(b"\n".join(chunk) + b"\n")
                chunk = []
        if chunk:
            out.write(b"\n".join(chunk) + b"\n")


def time_in_process(path: Path, n: int, work: Path) -> tuple[float, float]:
    """(events/s of wall time, CPU µs per event summed over all threads of this process)."""
    lake = Lake(work / f"lake-{time.time_ns()}")
    started, cpu = time.perf_counter(), time.process_time()
    result = ingest_file(lake, path, now=NOW)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert result.accepted == n, result
    shutil.rmtree(lake.root)
    return n / elapsed, cpu / n * 1e6


def time_subprocess(path: Path, n: int, work: Path) -> float:
    lake = work / f"lake-{time.time_ns()}"
    script = shutil.which("voice-monitor")
    launcher = [script] if script else [sys.executable, "-c", "from voice_monitor.cli import main; main()"]
    command = [*launcher, "ingest", str(path), "--lake", str(lake), "--now", NOW.isoformat(), "--json"]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    elapsed = time.perf_counter() - started
    shutil.rmtree(lake)
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=None, help="generate the input here and keep it")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-landing-"))
    path = (args.keep or work) / f"events-{args.n}.jsonl"
    if not path.exists():
        started = time.perf_counter()
        generate(path, args.n)
        print(f"generated {args.n:,} events ({path.stat().st_size / 1e6:.0f} MB) "
              f"in {time.perf_counter() - started:.1f} s")
    try:
        load = os.getloadavg()[0]
        runs = [time_in_process(path, args.n, work) for _ in range(args.repeat)]
        inproc, cpu = [r for r, _ in runs], [c for _, c in runs]
        subproc = [time_subprocess(path, args.n, work) for _ in range(args.repeat)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"machine: {platform.machine()}, nproc {os.cpu_count()}, {cpu_model()}; "
          f"Python {platform.python_version()}")
    print(f"ingest {args.n:,} events, in-process: median {statistics.median(inproc):,.0f} events/s "
          f"(runs: {', '.join(f'{r:,.0f}' for r in inproc)})")
    # CPU per event is steadier than wall time on a machine shared with other work
    print(f"ingest {args.n:,} events, in-process: median {statistics.median(cpu):.2f} CPU µs/event "
          f"(runs: {', '.join(f'{c:.2f}' for c in cpu)}); 1-min load average at start {load:.2f}")
    print(f"ingest {args.n:,} events, subprocess: median {statistics.median(subproc):,.0f} events/s "
          f"(runs: {', '.join(f'{r:,.0f}' for r in subproc)})")


if __name__ == "__main__":
    main()
