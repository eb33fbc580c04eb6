"""A/B of typed._around_sure with and without the empty-organization_id check (NON_EMPTY) on a
5,000-record batch: alternating runs, medians (bench/RESULTS.md, "edges3: empty organization_id").

    .venv/bin/python bench/empty_org_check.py
"""

from __future__ import annotations

import os
import statistics
import time

import pyarrow as pa

from voice_monitor import typed

N = 5000


def batch() -> pa.Table:
    """The `in_*` columns `_around_sure` reads, as a producer's usual batch fills them."""
    cols = {}
    for f in typed._AROUND:
        if f.name == "organization_id":
            cols[f"in_{f.name}"] = pa.array([f"org-{i % 7}" for i in range(N)])
        elif f.kind == "id":
            cols[f"in_{f.name}"] = pa.array([f"evt-{i:08d}" for i in range(N)])
        elif f.name == "artifact_id":
            cols[f"in_{f.name}"] = pa.array([f"art-{i}" for i in range(N)])
        else:
            cols[f"in_{f.name}"] = pa.nulls(N, pa.string())
    return pa.table(cols)


def run(src: pa.Table, rule: frozenset, reps: int = 2000) -> tuple[float, float]:
    """(wall, CPU) microseconds per call with `rule` as the fields that may not be empty."""
    typed.NON_EMPTY = rule
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(reps):
        typed._around_sure(src)
    return (time.perf_counter() - wall) / reps * 1e6, (time.process_time() - cpu) / reps * 1e6


def main() -> None:
    src = batch()
    results: dict[str, list[tuple[float, float]]] = {"without": [], "with": []}
    for _ in range(7):
        results["without"].append(run(src, frozenset()))
        results["with"].append(run(src, frozenset({"organization_id"})))
    for name, runs in results.items():
        print(f"{name}: wall {statistics.median(w for w, _ in runs):.1f} us/batch, "
              f"CPU {statistics.median(c for _, c in runs):.1f} us/batch")
    print("load average", os.getloadavg())


if __name__ == "__main__":
    main()
