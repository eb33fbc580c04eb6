"""Ingest and hourly rollup on a lake in an S3-protocol store against a local lake, same run.

    uv run python bench/bench_s3.py                      # 10,000 events over 4 hours, 10 batches
    uv run python bench/bench_s3.py --events 100000 --hours 12 --batches 20

Starts `moto_server` (an S3-protocol server, in-memory) on 127.0.0.1, creates a bucket, then for
each lake — a temporary folder and `s3://bench/lake` — times, in this one process:
  ingest   landing the same batches of JSON Lines (`land_records`, counters included)
  hourly   the automatic hourly rollup at `now` (every hour with events)
and prints seconds and the S3/local ratio. moto runs on the same machine, so a request costs a
local HTTP round trip plus moto's Python; a real store adds network latency per request (see
docs/scaling.md). Results vary with machine load: say whether the machine was shared.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import options

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


def start_moto() -> tuple[subprocess.Popen, str]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([str(Path(sys.executable).with_name("moto_server")), "-H",
                             "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=2).close()
            return proc, endpoint
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("moto_server did not start")


def run(root: str, batches: list[list[dict]]) -> dict[str, float]:
    from voice_monitor.lake import Lake
    from voice_monitor.landing import land_records
    from voice_monitor.rollups import run_hourly

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
    args = options(__doc__, events=10_000, hours=4, batches=10)
    data = events(args.events, args.hours)
    random.Random(1).shuffle(data)
    size = -(-len(data) // args.batches)
    batches = [data[i:i + size] for i in range(0, len(data), size)]
    proc, endpoint = start_moto()
    try:
        os.environ.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="bench",
                          AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
        import s3fs

        s3fs.S3FileSystem().mkdir("bench")
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["VOICE_MONITOR_STATE_DIR"] = str(Path(tmp) / "state")
            os.environ.pop("VOICE_MONITOR_COUNTERS", None)
            local = run(str(Path(tmp) / "lake"), batches)
            s3 = run("s3://bench/lake", batches)
    finally:
        proc.terminate()
        proc.wait()
    result = {"events": len(data), "hours": args.hours, "batches": len(batches),
              "local": local, "s3_moto": s3,
              "ratio_ingest": round(s3["ingest_s"] / max(local["ingest_s"], 1e-9), 1),
              "ratio_hourly": round(s3["hourly_s"] / max(local["hourly_s"], 1e-9), 1)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
