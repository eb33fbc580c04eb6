"""Benchmark the producer: emit() call latency and sustained landing throughput.

    uv run python bench/bench_producer.py                      # full size (1M events landed)
    uv run python bench/bench_producer.py --latency-events 20000 --throughput-events 20000
    valgrind --tool=callgrind --instr-atstart=no .venv/bin/python bench/bench_producer.py \
        --latency-events 1 --repeat 1 --throughput-events 100000 --skip-durable-throughput \
        --callgrind          # instructions of the throughput run only: the same on a loaded machine

Latency: each emit() call is timed on its own (perf_counter_ns around the call) while the writer
thread lands in the background, as in a real program; median, p99 and p99.9 per run, and the
median over runs. Throughput: events per second from the first emit() until close() returns
(everything landed, counters updated), records built beforehand.
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import orjson
import pyarrow
from _common import callgrind, cpu_model, options

from voice_monitor import Producer
from voice_monitor.lake import Lake

TYPES = ("artifact_received", "transcription_started", "transcription_completed",
         "claims_extracted", "drafts_generated", "artifact_completed", "transcription_failed")


def make_records(n: int, now: datetime, tag: str) -> list[dict]:
    """Realistic events: 20 organizations, several types, timestamps spread over the last hour."""
    base = int(now.timestamp() * 1000)
    return [
        {
            "event_id": f"{tag}-{i}",
            "event_type": TYPES[i % len(TYPES)],
            "timestamp": base - (i * 7919) % 3_600_000,
            "organization_id": f"org-{i % 20}",
            "artifact_id": f"art-{i // 7}",
            "duration_ms": float(i % 5000),
            "metadata": {"confidence_score": 0.9, "ai_cost_usd": 0.002, "ai_model": "whisper-1"},
        }
        for i in range(n)
    ]


def percentile(sorted_values: list[int], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def bench_latency(n: int, durable: bool, root: Path, run: int) -> dict:
    now = datetime.now(UTC)
    records = make_records(n, now, f"lat{int(durable)}{run}")
    lake = Lake(root / f"latency-{int(durable)}-{run}")
    samples = [0] * n
    clock = time.perf_counter_ns
    with Producer(lake, durable=durable) as producer:
        emit = producer.emit
        for i, record in enumerate(records):
            t0 = clock()
            emit(record)
            samples[i] = clock() - t0
    samples.sort()
    return {"median_us": percentile(samples, 0.5) / 1000, "p99_us": percentile(samples, 0.99) / 1000,
            "p999_us": percentile(samples, 0.999) / 1000, "max_us": samples[-1] / 1000}


def bench_throughput(n: int, durable: bool, batch_size: int, root: Path, run: int,
                     count: bool = False) -> dict:
    now = datetime.now(UTC)
    records = make_records(n, now, f"tp{int(durable)}{run}")
    lake = Lake(root / f"throughput-{int(durable)}-{run}")
    if count:
        callgrind("on")
    t0, cpu0 = time.perf_counter(), time.process_time()
    with Producer(lake, durable=durable, batch_size=batch_size) as producer:
        emit = producer.emit
        for record in records:
            emit(record)
        emitted = time.perf_counter()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    if count:
        callgrind("off")
    stats = producer.stats
    assert stats.accepted == n and not producer.errors, (stats, producer.errors)
    return {"events_per_s": n / seconds, "seconds": seconds, "emit_loop_s": emitted - t0,
            "events_per_cpu_s": n / cpu, "cpu_s": cpu,
            "batches": stats.batches, "files": sum(1 for _ in lake.events_dir.rglob("*.parquet"))}


def machine() -> str:
    return (f"nproc={os.cpu_count()} cpu={cpu_model()!r} python={platform.python_version()} "
            f"duckdb={duckdb.__version__} pyarrow={pyarrow.__version__} orjson={orjson.__version__}")


def main() -> None:
    args = options(__doc__, latency_events=200_000, throughput_events=1_000_000,
                   batch_size={"type": int, "default": None, "help": "default: the producer's"},
                   repeat={"type": int, "default": 3, "help": "latency runs per mode"},
                   throughput_repeat=1, skip_durable_throughput={"action": "store_true"},
                   callgrind={"action": "store_true", "help": "under valgrind: count only the "
                              "throughput runs (callgrind_control)"})
    batch_size = args.batch_size or Producer.__init__.__kwdefaults__["batch_size"]
    print(machine())
    with tempfile.TemporaryDirectory(prefix="bench-producer-") as tmp:
        root = Path(tmp)
        for durable in (False, True):
            mode = "durable" if durable else "memory"
            runs = [bench_latency(args.latency_events, durable, root, r) for r in range(args.repeat)]
            for r in runs:
                print(f"emit latency {mode:7s} n={args.latency_events}: " +
                      " ".join(f"{k}={v:.2f}" for k, v in r.items()))
            print(f"emit latency {mode:7s} MEDIAN over {len(runs)} runs: median_us="
                  f"{statistics.median(r['median_us'] for r in runs):.2f} p99_us="
                  f"{statistics.median(r['p99_us'] for r in runs):.2f}")
        modes = (False,) if args.skip_durable_throughput else (False, True)
        for durable in modes:
            mode = "durable" if durable else "memory"
            runs = [bench_throughput(args.throughput_events, durable, batch_size, root, r,
                                     args.callgrind) for r in range(args.throughput_repeat)]
            for r in runs:
                print(f"throughput {mode:7s} n={args.throughput_events} batch={batch_size}: "
                      f"{r['events_per_s']:,.0f} events/s ({r['seconds']:.1f} s; emit loop "
                      f"{r['emit_loop_s']:.2f} s; {r['batches']} batches, {r['files']} files); "
                      f"{r['events_per_cpu_s']:,.0f} events per CPU second ({r['cpu_s']:.1f} s "
                      "CPU, all threads: the figure a shared machine disturbs least)")
            print(f"throughput {mode:7s} MEDIAN: "
                  f"{statistics.median(r['events_per_s'] for r in runs):,.0f} events/s")


if __name__ == "__main__":
    main()
