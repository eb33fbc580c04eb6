"""Benchmark: one full health-check run on a lake of N events over the 48 retained hours.

    uv run python bench/bench_alerts.py 10000000          # the contract's size (target < 1 s)
    uv run python bench/bench_alerts.py 200000 --repeat 2 # a quick check

The lake is generated vectorised (numpy -> Arrow -> Parquet, several files per hour as landing
would write them), the real-time counters get the last two hours through the real counter
store, and pipeline_hourly holds platform rows for the 7-day latency baseline. Then
`run_checks` is timed end to end (cold first run, then warm repeats), and each check alone.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from voice_monitor.counters import open_counters
from voice_monitor.health.alerts import run_checks
from voice_monitor.health.checks import CHECK_TYPES, AlertConfig, evaluate
from voice_monitor.lake import Lake, floor_hour
from voice_monitor.schema import EVENT_SCHEMA

NOW = datetime(2026, 2, 16, 14, 30, tzinfo=UTC)
STEPS = ["artifact_received", "transcription_started", "transcription_completed",
         "claims_extraction_started", "claims_extracted", "entity_resolution_started",
         "entity_resolution_completed", "draft_generation_started", "drafts_generated",
         "artifact_completed"]
US = 1_000_000


def _ids(prefix: str, numbers: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(numbers), pa.string()), "")


def generate_events(n: int, seed: int = 7) -> pa.Table:
    """About `n` events: artifacts walking the pipeline, some failing, stuck or disambiguating."""
    rng = np.random.default_rng(seed)
    artifacts = max(n // len(STEPS), 1)
    window_us = 48 * 3600 * US
    start = int(NOW.timestamp() * US) - window_us + rng.integers(0, window_us - 600 * US, artifacts)
    step = np.tile(np.arange(len(STEPS)), artifacts)
    artifact = np.repeat(np.arange(artifacts), len(STEPS))
    ts = np.repeat(start, len(STEPS)) + step * rng.integers(5, 60, artifact.size) * US
    types = np.array(STEPS, dtype=object)[step]
    outcome = rng.random(artifacts)
    last = step == len(STEPS) - 1
    types[last & (outcome[artifact] < 0.05)] = "artifact_failed"
    resolve = step == 6
    types[resolve & (outcome[artifact] > 0.97)] = "entity_needs_disambiguation"
    keep = ~(last & (outcome[artifact] > 0.995))  # a few artifacts never finish
    ts, types, artifact = ts[keep], types[keep], artifact[keep]
    breakers = np.array([int((NOW - timedelta(hours=h)).timestamp() * US) for h in (30, 20)])
    ts = np.concatenate([ts, breakers])
    types = np.concatenate([types, ["circuit_breaker_opened", "circuit_breaker_closed"]])
    artifact = np.concatenate([artifact, [-1, -1]])
    ts = np.minimum(ts, int(NOW.timestamp() * US))
    order = np.argsort(ts, kind="stable")
    ts, types, artifact = ts[order], types[order], artifact[order]
    size = ts.size
    orgs = pc.binary_join_element_wise("org-", pc.cast(pa.array(artifact % 20), pa.string()), "")
    columns = {
        "event_id": _ids("ev-", np.arange(size)),
        "event_type": pa.array(types, pa.string()),
        "timestamp": pa.array(ts, pa.timestamp("us", tz="UTC")),
        "artifact_id": pc.if_else(pa.array(artifact >= 0), _ids("art-", artifact),
                                  pa.nulls(size, pa.string())),
        "organization_id": orgs,
        "ingested_at": pa.array(np.full(size, int(NOW.timestamp() * US)),
                                pa.timestamp("us", tz="UTC")),
    }
    return pa.table({f.name: columns.get(f.name, pa.nulls(size, f.type)) for f in EVENT_SCHEMA},
                    schema=EVENT_SCHEMA)


def build_lake(lake: Lake, n: int, files_per_hour: int) -> int:
    events = generate_events(n)
    ts = events.column("timestamp").cast(pa.int64()).to_numpy()
    first = floor_hour(NOW - timedelta(hours=48))
    for h in range(49):
        hour = first + timedelta(hours=h)
        lo, hi = np.searchsorted(ts, [int(hour.timestamp() * US), int((hour + timedelta(hours=1)).timestamp() * US)])
        part = events.slice(lo, hi - lo)
        for chunk in np.array_split(np.arange(part.num_rows), files_per_hour):
            if chunk.size:
                lake.write_file(part.slice(int(chunk[0]), int(chunk.size)), lake.event_partition(hour))
    recent = events.slice(int(np.searchsorted(ts, int((NOW - timedelta(hours=2)).timestamp() * US))))
    store = open_counters(lake)
    try:
        store.record(recent, NOW)
    finally:
        store.close()
    rng = np.random.default_rng(1)
    for h in range(1, 170):
        start = floor_hour(NOW) - timedelta(hours=h)
        table = pa.table({
            "period_type": ["hour"],
            "period_start": pa.array([start], pa.timestamp("us", tz="UTC")),
            "period_end": pa.array([start + timedelta(hours=1)], pa.timestamp("us", tz="UTC")),
            "organization_id": pa.nulls(1, pa.string()),
            "e2e_latency_count": pa.array([1000], pa.int64()),
            "e2e_latency_p95_ms": pa.array([float(rng.normal(60_000, 5_000))]),
            "computed_at": pa.array([NOW], pa.timestamp("us", tz="UTC")),
        })
        lake.replace_partition(table, lake.snapshot_partition("pipeline_hourly", start))
    return events.num_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("events", type=int, nargs="?", default=10_000_000)
    parser.add_argument("--files-per-hour", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--lake", default=None, help="build here and keep it (default: a temp dir)")
    args = parser.parse_args()
    root = Path(args.lake) if args.lake else Path(tempfile.mkdtemp(prefix="bench-alerts-"))
    lake = Lake(root)
    try:
        t0 = time.perf_counter()
        size = build_lake(lake, args.events, args.files_per_hour)
        print(f"built {size:,} events in 49 hour partitions in {time.perf_counter() - t0:.1f} s")
        timings = []
        for i in range(args.repeat):
            t0 = time.perf_counter()
            report = run_checks(lake, NOW)
            timings.append(time.perf_counter() - t0)
            if i == 0:
                print(f"raised {[a.alert_type for a in report.raised]}, errors {report.errors}")
        print(f"full check run: first {timings[0]:.3f} s, median {statistics.median(timings):.3f} s "
              f"over {len(timings)} run(s)")
        for name in CHECK_TYPES:
            t0 = time.perf_counter()
            evaluate(lake, NOW, AlertConfig(checks=(name,)))
            print(f"  {name:24} alone {time.perf_counter() - t0:.3f} s")
    finally:
        if not args.lake:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
