"""Benchmark the read API on a generated lake: in-process medians of repeated queries.

    uv run python bench/bench_queries.py --events 10000000 --hours 48 --repeat 15

Builds (vectorised, straight to Parquet) a lake with `--hours` retained event hours holding
`--events` events in `--files-per-hour` files per hour, 7 days of hourly and 90 days of daily
pipeline snapshots, then times: historical_metrics over 168 hourly rows, a recent_events page
without and with filters, artifact_timeline, and org_breakdown over 90 days. Targets (issue 4):
< 20 ms, < 50 ms, < 50 ms, < 100 ms, < 50 ms. With --compact, closed hours are compacted first.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from _common import options

from voice_monitor.lake import Lake, new_file_stem
from voice_monitor.queries import (
    artifact_timeline,
    historical_metrics,
    org_breakdown,
    recent_events,
)
from voice_monitor.schema import EVENT_SCHEMA
from voice_monitor.views import PIPELINE_COLUMNS, PIPELINE_EXTRA

NOW = datetime(2026, 2, 16, 14, 30, tzinfo=UTC)
FLOW = ["artifact_received", "transcription_started", "transcription_completed",
        "claims_extraction_started", "claims_extracted", "draft_generation_started",
        "drafts_generated", "artifact_completed"]
STAGE = ["ingestion", "transcription", "transcription", "claims_extraction",
         "claims_extraction", "draft_generation", "draft_generation", None]
ORGS = 20
_ARROW = {"VARCHAR": pa.string(), "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"),
          "BIGINT": pa.int64(), "DOUBLE": pa.float64(), "INTEGER[]": pa.list_(pa.int32()),
          "BIGINT[]": pa.list_(pa.int64())}


def build_events(lake: Lake, n_events: int, hours: int, files_per_hour: int, seed: int) -> list[str]:
    """Write the event partitions; returns a few artifact ids to look up."""
    rng = np.random.default_rng(seed)
    n_artifacts = max(1, n_events // len(FLOW))
    first_hour = NOW.replace(minute=0) - timedelta(hours=hours - 1)
    span_us = int((NOW - first_hour).total_seconds() * 1e6) - 8 * 30_000_000
    base_us = int(first_hour.timestamp() * 1e6)
    starts = base_us + rng.integers(0, max(span_us, 1), n_artifacts)
    art = np.repeat(np.arange(n_artifacts), len(FLOW))[:n_events]
    step = np.tile(np.arange(len(FLOW)), n_artifacts)[:n_events]
    ts = starts[art] + step * 30_000_000 + rng.integers(0, 1_000_000, n_events)
    failed = (step == len(FLOW) - 1) & (rng.random(n_events) < 0.05)
    order = np.argsort(ts, kind="stable")
    ts, art, step, failed = ts[order], art[order], step[order], failed[order]
    hour_of = (ts - base_us) // 3_600_000_000
    bounds = np.searchsorted(hour_of, np.arange(hours + 1))
    types = np.array(FLOW, dtype=object)
    stages = np.array(STAGE, dtype=object)
    for h in range(hours):
        lo, hi = bounds[h], bounds[h + 1]
        if lo == hi:
            continue
        idx = np.arange(lo, hi)
        rng.shuffle(idx)  # landing order is not time order
        ev_type = types[step[idx]]
        ev_type[failed[idx]] = "artifact_failed"
        columns = {
            "event_id": pa.array(np.char.add("ev-", order[idx].astype(str))),
            "event_type": pa.array(ev_type, pa.string()),
            "timestamp": pa.array(ts[idx], pa.timestamp("us", tz="UTC")),
            "artifact_id": pa.array(np.char.add("art-", art[idx].astype(str))),
            "organization_id": pa.array(np.char.add("org-", (art[idx] % ORGS).astype(str))),
            "pipeline_stage": pa.array(stages[step[idx]], pa.string()),
            "duration_ms": pa.array(rng.random(hi - lo) * 5000),
            "ingested_at": pa.array(ts[idx] + 1_000_000, pa.timestamp("us", tz="UTC")),
        }
        table = pa.table({f.name: columns.get(f.name, pa.nulls(hi - lo, f.type))
                          for f in EVENT_SCHEMA}, schema=EVENT_SCHEMA)
        folder = lake.event_partition(first_hour + timedelta(hours=h))
        folder.mkdir(parents=True, exist_ok=True)
        for part in np.array_split(np.arange(table.num_rows), files_per_hour):
            if len(part):
                pq.write_table(table.slice(part[0], len(part)), folder / f"{new_file_stem()}.parquet",
                               compression="zstd")
    return [f"art-{a}" for a in rng.integers(0, n_artifacts, 5)]


def build_snapshots(lake: Lake, seed: int) -> None:
    rng = np.random.default_rng(seed)
    columns = PIPELINE_COLUMNS + PIPELINE_EXTRA
    schema = pa.schema([(name, _ARROW[kind]) for name, kind in columns])

    def write(table: str, start: datetime, step: timedelta) -> None:
        rows = []
        for org in [None] + [f"org-{i}" for i in range(ORGS)]:
            row = {name: ([] if kind.endswith("[]") else 0 if kind == "BIGINT" else 0.0
                          if kind == "DOUBLE" else None) for name, kind in columns}
            row.update(period_type="hour" if step.days == 0 else "day", period_start=start,
                       period_end=start + step, organization_id=org, computed_at=start + step,
                       artifacts_received=int(rng.integers(0, 1000)),
                       artifacts_completed=int(rng.integers(0, 900)),
                       artifacts_failed=int(rng.integers(0, 50)),
                       total_ai_cost_usd=float(rng.random() * 100))
            rows.append(row)
        lake.replace_partition(pa.Table.from_pylist(rows, schema=schema),
                               lake.snapshot_partition(table, start))

    last_hour = NOW.replace(minute=0) - timedelta(hours=1)
    for i in range(168):
        write("pipeline_hourly", last_hour - timedelta(hours=i), timedelta(hours=1))
    today = NOW.replace(hour=0, minute=0)
    for i in range(1, 91):
        write("pipeline_daily", today - timedelta(days=i), timedelta(days=1))


def timed_ms(func, repeat: int) -> tuple[float, float]:
    """(first call, median of the next `repeat`): the first pays for the connection and caches."""
    start = time.perf_counter()
    func()
    first = (time.perf_counter() - start) * 1000
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append((time.perf_counter() - start) * 1000)
    return first, statistics.median(times)


def main() -> None:
    args = options(__doc__, events=10_000_000, hours=48, files_per_hour=4, repeat=15,
                   lake={"type": Path, "default": None, "help": "Reuse/build the lake here."},
                   compact={"action": "store_true", "help": "Compact closed hours first."},
                   seed=7)
    root = args.lake or Path(tempfile.mkdtemp(prefix="bench-queries-"))
    lake = Lake(root)
    started = time.perf_counter()
    if not lake.events_dir.exists():
        build_events(lake, args.events, args.hours, args.files_per_hour, args.seed)
        build_snapshots(lake, args.seed)
    print(f"lake {root}: {args.events:,} events, {args.hours} h "
          f"(built in {time.perf_counter() - started:.1f} s)")
    if args.compact:
        from voice_monitor.compaction import compact_lake

        started = time.perf_counter()
        done = compact_lake(lake, now=NOW)
        print(f"compacted {len(done.hours)} hours in {time.perf_counter() - started:.1f} s")
    artifacts = [f"art-{i}" for i in (1, args.events // 20, args.events // 10)]
    week_end = NOW.replace(minute=0)
    cases = {
        "historical_metrics 168 hourly rows (< 20 ms)":
            lambda: historical_metrics(lake, week_end - timedelta(days=7), week_end),
        "recent_events page, no filter (< 50 ms)": lambda: recent_events(lake, limit=50),
        "recent_events page, org + types (< 50 ms)":
            lambda: recent_events(lake, ["artifact_failed", "transcription_completed"],
                                  organization_id="org-3", limit=50),
        "artifact_timeline (< 100 ms)": lambda: [artifact_timeline(lake, a) for a in artifacts[:1]],
        "org_breakdown 90 days (< 50 ms)":
            lambda: org_breakdown(lake, NOW.replace(hour=0, minute=0) - timedelta(days=90),
                                  NOW.replace(hour=0, minute=0)),
    }
    for name, func in cases.items():
        first, median = timed_ms(func, args.repeat)
        print(f"{name:48} median {median:8.1f} ms   (first call {first:8.1f} ms)")
    sizes = [len(artifact_timeline(lake, a)) for a in artifacts]
    print(f"(timeline sizes checked: {sizes}; page sizes "
          f"{len(recent_events(lake, limit=50))})")
    if args.lake is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
