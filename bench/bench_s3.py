"""Ingest and hourly rollup on a lake in an S3-protocol store against a local lake, same run.

    uv run python bench/bench_s3.py                      # 10,000 events over 4 hours, 10 batches
    uv run python bench/bench_s3.py --events 100000 --hours 12 --batches 20
    uv run python bench/bench_s3.py --plain     # also DuckDB on plain fsspec (no ReadThrough)

Starts `moto_server` (an S3-protocol server, in-memory) on 127.0.0.1, creates a bucket, then for
each lake — a temporary folder and `s3://bench/lake` — times, in this one process:
  ingest   landing the same batches of JSON Lines (`land_records`, counters included)
  hourly   the automatic hourly rollup at `now` (every hour with events)
after a warm-up landing (imports, first connections), and prints seconds and the S3/local ratio. moto runs on the same machine, so a request costs a
local HTTP round trip plus moto's Python; a real store adds network latency per request (see
docs/scaling.md). Results vary with machine load: say whether the machine was shared.
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import options

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from servers import make_bucket, s3_env, s3_server  # noqa: E402

NOW = datetime(2026, 2, 16, 14, 30, tzinfo=UTC)
LIFE = ["artifact_received", "transcription_started", "transcription_completed",
        "claims_extraction_started", "claims_extracted", "entity_resolution_started",
        "entity_resolution_completed", "draft_generation_started", "drafts_generated",
        "artifact_completed"]


def events(total: int, hours: int, seed: int = 5) -> list[dict]:
    rng = random.Random(seed)
    out: list[dict] = []
    start = NOW.replace(minute=0) - timedelta(hours=hours)
    artifact = 0
    while len(out) < total:
        at = start + timedelta(seconds=rng.randrange(hours * 3600 - 900))
        org = f"org-{rng.randrange(20):02d}"
        for kind in LIFE:
            at += timedelta(seconds=rng.randrange(1, 60))
            out.append({"event_id": f"b-{len(out)}", "event_type": kind, "artifact_id":
                        f"a-{artifact}", "organization_id": org,
                        "timestamp": at.isoformat().replace("+00:00", "Z"),
                        "metadata": {"aiCost": 0.001, "claim_count": 3}})
        artifact += 1
    return out[:total]


def run(root: str, batches: list[list[dict]], plain_fsspec: bool = False) -> dict[str, float]:
    from voice_monitor import storage
    from voice_monitor.lake import Lake
    from voice_monitor.landing import land_records
    from voice_monitor.rollups import run_hourly

    if plain_fsspec:  # DuckDB on the lake's fsspec filesystem itself, as before ReadThrough
        storage.ReadThrough.over = staticmethod(lambda fs: fs)
    lake = Lake.create(root)
    t0 = time.perf_counter()
    for batch in batches:
        land_records(lake, batch, now=NOW)
    t1 = time.perf_counter()
    report = run_hourly(lake, NOW)
    t2 = time.perf_counter()
    return {"ingest_s": round(t1 - t0, 2), "hourly_s": round(t2 - t1, 2),
            "hours_built": len(report.periods)}


def main() -> None:
    args = options(__doc__, events=10_000, hours=4, batches=10,
                   plain={"action": "store_true",
                          "help": "also time DuckDB reading the store through plain fsspec "
                                  "(no storage.ReadThrough), last"})
    data = events(args.events, args.hours)
    random.Random(1).shuffle(data)
    size = -(-len(data) // args.batches)
    batches = [data[i:i + size] for i in range(0, len(data), size)]
    with tempfile.TemporaryDirectory() as tmp, s3_server(Path(tmp)) as endpoint:
        os.environ.update(s3_env(endpoint))
        make_bucket(endpoint, "bench")
        os.environ["VOICE_MONITOR_STATE_DIR"] = str(Path(tmp) / "state")
        os.environ.pop("VOICE_MONITOR_COUNTERS", None)
        run(str(Path(tmp) / "warm-up"), batches[:1])  # imports and first connections
        local = run(str(Path(tmp) / "lake"), batches)
        s3 = run("s3://bench/lake", batches)
        plain = run("s3://bench/plain", batches, plain_fsspec=True) if args.plain else None
    result = {"events": len(data), "hours": args.hours, "batches": len(batches),
              "local": local, "s3_moto": s3,
              "ratio_ingest": round(s3["ingest_s"] / max(local["ingest_s"], 1e-9), 1),
              "ratio_hourly": round(s3["hourly_s"] / max(local["hourly_s"], 1e-9), 1)}
    if plain:
        result.update(s3_plain_fsspec=plain, ratio_hourly_plain=round(
            plain["hourly_s"] / max(local["hourly_s"], 1e-9), 1))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
