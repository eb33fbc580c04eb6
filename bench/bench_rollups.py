"""Benchmark the hourly rollup against a plain DuckDB query and a pandas implementation.

    uv run python bench/bench_rollups.py 1000000            # events in the measured hour
    uv run python bench/bench_rollups.py 10000000 --lookback-hours 2 --keep /tmp/bench-lake
    uv run python bench/bench_rollups.py 1000000 --before /tmp/old/src   # + an older checkout
    uv run python bench/bench_rollups.py 1000000 --warm   # look-back hours rolled up first
    uv run python bench/bench_rollups.py 1000000 --without-copy-log   # hours de-duplicated in full

Generates one hour of realistic events (plus look-back hours at the same rate, so pairing has
real work) as Parquet, vectorised, then times in separate subprocesses, each reporting its wall
time, CPU time (all threads) and peak RSS (VmHWM):
  ours    the full hourly rollup (de-dup, pairing, sketches, both tables, written)
  duckdb  a plain hand-written DuckDB query: per organization + platform and per (organization,
          stage) event counts, failure rates, cost sum, exact p50/p95/p99 of duration_ms
          (no pairing, no sketches, no de-dup)
  pandas  a straightforward pandas implementation of the same rollup as ours
  daily   the daily rollup over 24 hourly partitions
  before  (with --before SRC) our hourly rollup from another checkout's src/, e.g. a
          `git archive <commit> src sql` unpacked: before and after in one run
By default the look-back hours have no snapshot (a fresh lake: their copies are ranked again);
with --warm they are rolled up first, untimed, as every earlier hour is in production (each
hourly run built its hour), so their manifests record their later copies (docs/rollups.md).
Each hour's files come with the copy log a landing keeps (`copy_log.py`), so no hour's event ids
are grouped again; --without-copy-log removes it (a lake written by other hosts or old versions).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from voice_monitor.lake import Lake, new_file_stem, write_parquet
from voice_monitor.schema import EVENT_SCHEMA, PROCESSING_STAGES

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from pycache import own_cache  # noqa: E402

HOUR = datetime(2026, 2, 16, 13, tzinfo=UTC)
NOW = HOUR + timedelta(hours=1, minutes=30)
# one artifact's life: (event type, mean seconds after the previous event)
LIFE = [
    ("artifact_received", 0), ("transcription_started", 5), ("transcription_completed", 40),
    ("claims_extraction_started", 2), ("claims_extracted", 20),
    ("entity_resolution_started", 2), ("entity_resolution_completed", 10),
    ("draft_generation_started", 2), ("drafts_generated", 30), ("draft_confirmed", 300),
    ("artifact_status_changed", 1), ("artifact_completed", 1),
]
FAILURE_OF = {"transcription_completed": "transcription_failed",
              "claims_extracted": "claims_extraction_failed",
              "entity_resolution_completed": "entity_needs_disambiguation",
              "drafts_generated": "draft_generation_failed",
              "artifact_completed": "artifact_failed"}


# -- data -------------------------------------------------------------------------------------
def generate(lake: Lake, size: int, lookback_hours: int, seed: int = 7) -> None:
    """About `size` events in HOUR, the same rate in the look-back hours, 0.5 % duplicates;
    four files per hour, each with one `ingested_at` and a line in the hour's copy log, as the
    landing writes them."""
    from voice_monitor import copy_log  # here: --before runs an older src/ without it

    rng = np.random.default_rng(seed)
    per_hour = size / len(LIFE)
    start = HOUR - timedelta(hours=lookback_hours)
    n = int(per_hour * (lookback_hours + 1))
    base_us = int(start.timestamp() * 1e6)
    received = base_us + rng.integers(0, (lookback_hours + 1) * 3_600_000_000, n)
    orgs = np.array([f"org-{i:03d}" for i in range(200)] + [None] * 10, dtype=object)
    org = orgs[rng.integers(0, len(orgs), n)]
    artifact = np.char.add("art-", np.arange(n).astype(str)).astype(object)
    columns: dict[str, list] = {k: [] for k in ("type", "ts", "art", "org", "dur", "k")}
    t = received.copy()
    failed = rng.random(n) < 0.05
    for k, (etype, gap) in enumerate(LIFE):
        if gap:
            t = t + (rng.exponential(gap, n) * 1e6).astype(np.int64)
        types = np.full(n, etype, dtype=object)
        if etype in FAILURE_OF:
            types[failed & (rng.random(n) < 0.5)] = FAILURE_OF[etype]
        # 70 % of outcomes carry duration_ms; the rest are paired with their start
        dur = np.where(rng.random(n) < 0.7, rng.gamma(2.0, 400.0, n), np.nan)
        columns["type"].append(types)
        columns["ts"].append(t)
        columns["art"].append(artifact)
        columns["org"].append(org)
        columns["dur"].append(dur)
        columns["k"].append(np.full(n, k))
    ts = np.concatenate(columns["ts"])
    keep = ts < int((HOUR + timedelta(hours=1)).timestamp() * 1e6)
    m = int(keep.sum())
    etype = np.concatenate(columns["type"])[keep]
    table = {
        "event_id": np.char.add("ev-", np.arange(m).astype(str)).astype(object),
        "event_type": etype,
        "timestamp": ts[keep],
        "artifact_id": np.concatenate(columns["art"])[keep],
        "organization_id": np.concatenate(columns["org"])[keep],
        "duration_ms": np.concatenate(columns["dur"])[keep],
    }
    confidence = rng.random(m)
    counts = rng.integers(0, 8, m)
    ai_cost = np.round(rng.random(m) * 0.01, 6)
    is_success = np.isin(etype, ["transcription_completed", "claims_extracted",
                                 "entity_resolution_completed", "entity_needs_disambiguation",
                                 "drafts_generated"])
    hours = (table["timestamp"] - base_us) // 3_600_000_000
    for h in np.unique(hours):
        sel = np.flatnonzero(hours == h)
        dup = sel[rng.random(sel.size) < 0.005]
        hour_start = start + timedelta(hours=int(h))
        folder = lake.event_partition(hour_start)
        written: list[str] = []
        rows = np.concatenate([sel, dup])  # the copies last: each is a later copy
        for part, idx in enumerate(np.array_split(np.arange(rows.size), 4)):
            later = idx[idx >= sel.size] - idx[0]  # its rows that are later copies
            idx = rows[idx]
            # one `ingested_at` per file, as a landing writes it, after the files before it
            landed_us = int((hour_start + timedelta(hours=1, seconds=part + 1)).timestamp() * 1e6)
            arrays = {}
            for field in EVENT_SCHEMA:
                name = field.name
                if name in table:
                    values = table[name][idx]
                    if name == "duration_ms":
                        arrays[name] = pa.array(values, pa.float64(), from_pandas=True)
                    else:
                        arrays[name] = pa.array(values, field.type)
                elif name == "confidence_score":
                    arrays[name] = pa.array(np.where(is_success[idx], confidence[idx], np.nan),
                                            pa.float64(), from_pandas=True)
                elif name in ("claim_count", "entity_count", "auto_resolved_count", "draft_count"):
                    arrays[name] = pa.array(counts[idx], pa.int64(), mask=~is_success[idx])
                elif name == "ai_cost_usd":
                    arrays[name] = pa.array(ai_cost[idx], pa.float64())
                elif name == "ingested_at":
                    arrays[name] = pa.array(np.full(idx.size, landed_us), field.type)
                else:
                    arrays[name] = pa.nulls(idx.size, field.type)
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{new_file_stem()}.parquet"
            write_parquet(pa.table(arrays, schema=EVENT_SCHEMA), path)
            # the hour's copy log, as the landing keeps it (copy_log.py)
            copy_log.append(copy_log.log_path(lake, hour_start), copy_log.line(
                path.name, path.stat().st_size, (landed_us, landed_us),
                [len(written), copy_log.names_digest(written)], later))
            written.append(path.name)


# -- the contenders ---------------------------------------------------------------------------
PLAIN_DUCKDB = """
with e as (select * from read_parquet($files))
select organization_id, count(*) as events,
    count(*) filter (where event_type = 'artifact_failed') / nullif(count(*) filter (
        where event_type in ('artifact_failed', 'artifact_completed')), 0) as failure_rate,
    sum(ai_cost_usd) as cost,
    quantile_cont(duration_ms, [0.5, 0.95, 0.99]) as duration_quantiles
from e group by grouping sets ((), (organization_id))
"""
PLAIN_DUCKDB_STAGE = """
with e as (select * from read_parquet($files)),
stage_of as (select unnest($stage_types) as event_type, unnest($stages) as stage,
                    unnest($kinds) as kind)
select organization_id, stage, count(*) as events,
    count(*) filter (where kind = 'failure') / nullif(count(*) filter (
        where kind in ('failure', 'success')), 0) as failure_rate,
    sum(ai_cost_usd) as cost,
    quantile_cont(duration_ms, [0.5, 0.95, 0.99]) as duration_quantiles
from e join stage_of using (event_type)
group by grouping sets ((stage), (organization_id, stage))
"""


def run_ours(lake: Lake) -> dict:
    from voice_monitor.rollups import run_hourly

    report = run_hourly(lake, NOW, hour=HOUR)
    return report.rows


def run_plain_duckdb(lake: Lake) -> dict:
    from voice_monitor.lake import connect
    from voice_monitor.schema import EVENT_TYPES

    con = connect()
    files = [str(f) for f in lake.event_files(HOUR)]
    typed = [(t, s, k) for t, (s, k) in EVENT_TYPES.items() if s in PROCESSING_STAGES]
    params = {"files": files, "stage_types": [t for t, _, _ in typed],
              "stages": [s for _, s, _ in typed], "kinds": [k for _, _, k in typed]}
    a = con.sql(PLAIN_DUCKDB, params={"files": files}).to_arrow_table()
    b = con.sql(PLAIN_DUCKDB_STAGE, params=params).to_arrow_table()
    return {"pipeline": a.num_rows, "stage": b.num_rows}


def run_pandas(lake: Lake) -> dict:
    pipeline, stage = pandas_hourly(lake, HOUR)
    return {"pipeline": len(pipeline), "stage": len(stage)}


def _read_pandas(files: list[Path], columns: list[str] | None = None):
    import pandas as pd
    import pyarrow.parquet as pq

    frames = []
    for f in files:
        df = pq.read_table(f, columns=columns).to_pandas()
        df["filename"], df["row"] = f.name, np.arange(len(df))
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else None


def pandas_hourly(lake: Lake, hour: datetime):
    """The same hourly rollup as ours, written the straightforward pandas way."""
    import pandas as pd

    from voice_monitor.schema import EVENT_TYPES
    from voice_monitor.sketch import keys as sketch_keys

    ev = _read_pandas(lake.event_files(hour))
    ev = ev.sort_values(["ingested_at", "filename", "row"]).drop_duplicates("event_id")
    types = pd.DataFrame([
        {"event_type": t, "stage": s, "kind": k,
         "latency_kind": "stage" if s in PROCESSING_STAGES and k == "success"
         else "e2e" if t == "artifact_completed" else None,
         "anchor": s if s in PROCESSING_STAGES and k == "started"
         else "e2e" if t == "artifact_received" else None}
        for t, (s, k) in EVENT_TYPES.items()])
    ev = ev.merge(types, on="event_type", how="left")
    both = (ev.latency_kind == "stage") & ev.stage_started_at.notna() & ev.stage_completed_at.notna()
    diff = (ev.stage_completed_at - ev.stage_started_at).dt.total_seconds() * 1000
    ev["latency_ms"] = np.where(ev.latency_kind.isna(), np.nan, ev.duration_ms.where(
        ev.duration_ms.notna(), diff.where(both & (diff >= 0))))
    needs = ev.latency_kind.notna() & ev.duration_ms.isna() & ~both & ev.artifact_id.notna()
    pending = set(ev.artifact_id[needs])
    anchors = [ev[ev.anchor.notna() & ev.artifact_id.isin(pending)]]
    if pending:
        files = [f for k in range(1, 25) for f in lake.event_files(hour - k * timedelta(hours=1))]
        lb = _read_pandas(files, ["event_id", "event_type", "artifact_id", "timestamp",
                                  "ingested_at"])
        if lb is not None:
            lb["hour"] = lb.timestamp.dt.floor("h")
            lb = lb.sort_values(["ingested_at", "filename", "row"]).drop_duplicates(
                ["event_id", "hour"]).merge(types, on="event_type")
            anchors.append(lb[lb.anchor.notna() & lb.artifact_id.isin(pending)])
    anchors = pd.concat(anchors)[["artifact_id", "anchor", "timestamp"]]
    need = ev[needs][["event_id", "artifact_id", "stage", "latency_kind", "timestamp"]]
    day = pd.Timedelta(hours=24)
    starts = anchors[anchors.anchor != "e2e"].rename(columns={"anchor": "stage",
                                                               "timestamp": "started"})
    st = pd.merge_asof(need[need.latency_kind == "stage"].sort_values("timestamp"),
                       starts.sort_values("started"), left_on="timestamp", right_on="started",
                       by=["artifact_id", "stage"])
    st = st[(st.timestamp - st.started) <= day]
    rec = need[need.latency_kind == "e2e"].merge(
        anchors[anchors.anchor == "e2e"].rename(columns={"timestamp": "received"}), on="artifact_id")
    rec = rec[(rec.received <= rec.timestamp) & (rec.received >= rec.timestamp - day)]
    rec = rec.groupby(["event_id", "timestamp"], as_index=False).received.min()
    paired = pd.concat([
        pd.Series(((st.timestamp - st.started).dt.total_seconds() * 1000).values, st.event_id),
        pd.Series(((rec.timestamp - rec.received).dt.total_seconds() * 1000).values,
                  rec.event_id)])
    ev["latency_ms"] = ev.latency_ms.fillna(ev.event_id.map(paired))
    ev["sketch_key"] = np.where(ev.latency_ms.notna(), sketch_keys(ev.latency_ms.fillna(0)), 0)

    def pipeline(df):
        e2e = df[(df.latency_kind == "e2e") & df.latency_ms.notna()]
        out = {f: (df.event_type == t).sum() for f, t in (
            ("artifacts_received", "artifact_received"), ("artifacts_completed",
             "artifact_completed"), ("artifacts_failed", "artifact_failed"),
            ("drafts_confirmed", "draft_confirmed"), ("drafts_rejected", "draft_rejected"),
            ("retries_initiated", "retry_initiated"), ("retries_succeeded", "retry_succeeded"),
            ("retries_failed", "retry_failed"))}
        tc = df[df.event_type == "transcription_completed"].confidence_score
        ce = df[df.event_type == "claims_extracted"]
        er = df[(df.stage == "entity_resolution") & (df.kind == "success")]
        out.update(event_count=len(df), e2e_count=len(e2e), e2e_sum=e2e.latency_ms.sum(),
                   e2e_q=e2e.latency_ms.quantile([0.5, 0.95, 0.99]).tolist(),
                   e2e_sketch=e2e.sketch_key.value_counts().sort_index().to_dict(),
                   conf=tc.mean(), claims=ce.claim_count.sum(),
                   claim_w=(ce.confidence_score * ce.claim_count).sum(),
                   entities=er.entity_count.sum(), auto=er.auto_resolved_count.sum(),
                   drafts=df[df.event_type == "drafts_generated"].draft_count.sum(),
                   cost=df.ai_cost_usd.sum())
        return out

    def stage(df):
        ok = df[(df.kind == "success") & df.latency_ms.notna()]
        return {"started": (df.kind == "started").sum(), "succeeded": (df.kind == "success").sum(),
                "failed": (df.kind == "failure").sum(), "latency_count": len(ok),
                "latency_sum": ok.latency_ms.sum(),
                "q": ok.latency_ms.quantile([0.5, 0.95, 0.99]).tolist(),
                "sketch": ok.sketch_key.value_counts().sort_index().to_dict()}

    pipe_rows = [{"organization_id": None, **pipeline(ev)}]
    pipe_rows += [{"organization_id": o, **pipeline(g)} for o, g in ev.groupby("organization_id")]
    staged = ev[ev.stage.isin(PROCESSING_STAGES)]
    stage_rows = [{"organization_id": None, "stage": s, **stage(staged[staged.stage == s])}
                  for s in PROCESSING_STAGES]
    for o, g in staged.groupby("organization_id"):
        stage_rows += [{"organization_id": o, "stage": s, **stage(g[g.stage == s])}
                       for s in PROCESSING_STAGES]
    return pd.DataFrame(pipe_rows), pd.DataFrame(stage_rows)


def run_daily(lake: Lake) -> dict:
    from voice_monitor.rollups import run_daily as daily

    # the day is over at this `now`, and no hour is stale (spread_hourly): only the day is built
    return daily(lake, NOW + timedelta(days=1), day=HOUR.replace(hour=0)).rows


def prepare_look_back(lake: Lake, hours: int, warm: bool) -> None:
    """Warm: roll up the look-back hours (their manifests record their later copies); cold:
    remove their manifests, so a kept lake is measured fresh either way."""
    from voice_monitor.rollup_plan import manifest_path
    from voice_monitor.rollups import run_hourly

    for k in range(1, hours + 1):
        if warm:
            run_hourly(lake, NOW, hour=HOUR - timedelta(hours=k))
        else:
            manifest_path(lake, "hourly", HOUR - timedelta(hours=k)).unlink(missing_ok=True)


def spread_hourly(lake: Lake) -> None:
    """Copy the built hour's snapshot files to all 24 hours of its day (daily input), each with
    a manifest naming the hour's own event files, so the daily run rebuilds no hour first."""
    from voice_monitor.rollup_plan import describe, key, manifest_path, write_manifest

    for h in range(24):
        hour = HOUR.replace(hour=h)
        for table in ("pipeline_hourly", "stage_hourly"):
            src = lake.snapshot_partition(table, HOUR) / "part-0.parquet"
            dest = lake.snapshot_partition(table, hour)
            dest.mkdir(parents=True, exist_ok=True)
            if dest / "part-0.parquet" != src:
                shutil.copy(src, dest / "part-0.parquet")
        if hour != HOUR:
            write_manifest(manifest_path(lake, "hourly", hour),
                           {"sources": {key(hour): describe(lake.event_files(hour))}})


CONTENDERS = {"ours": run_ours, "duckdb": run_plain_duckdb, "pandas": run_pandas,
              "daily": run_daily}


def child(which: str, root: str) -> None:
    lake = Lake(root)
    start, cpu_start = time.perf_counter(), time.process_time()
    rows = CONTENDERS[which](lake)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    peak_mb = _peak_rss_mb()
    print(json.dumps({"which": which, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
                      "peak_rss_mb": round(peak_mb), "rows": rows}))


def _peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a
    child would report the parent's (data-generating) peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(which: str, root: Path, src: Path | None = None) -> dict:
    """Run one contender in a child process; `src` puts another checkout's src/ first."""
    env = {**_child_env(), "PYTHONPATH": str(src)} if src else _child_env()
    contender = "ours" if which == "before" else which
    out = subprocess.run([sys.executable, __file__, "--child", contender, str(root)],
                         capture_output=True, text=True, env=env)
    if out.returncode:
        raise SystemExit(f"{which} failed:\n{out.stderr}")
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "which": which}


def _child_env() -> dict[str, str]:
    """The children's environment. Where Python may not write bytecode
    (PYTHONDONTWRITEBYTECODE=1, as on the CI machine) each child compiled the project's modules
    that its clock covers, from source: ~25-45 ms for the rollup's, none for the plain query,
    whose modules are imported before its clock starts. An installed package has its bytecode
    (uv's compile-bytecode), so the children keep theirs in one cache outside the checkout, as
    the test session does (tests/conftest.py); what each contender runs is unchanged."""
    env = dict(os.environ)
    if not env.get("PYTHONDONTWRITEBYTECODE") or env.get("PYTHONPYCACHEPREFIX"):
        return env
    cache = own_cache("voice-monitor-bench-pycache")
    if cache is None:  # another user's, or unusable: bytecode compiled in each child, as before
        return env
    del env["PYTHONDONTWRITEBYTECODE"]
    return {**env, "PYTHONPYCACHEPREFIX": str(cache)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("size", type=int, nargs="?", default=100_000,
                        help="events in the measured hour, e.g. 1000000")
    parser.add_argument("--lookback-hours", type=int, default=2,
                        help="earlier hours generated at the same rate (default 2)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of each contender, alternating; medians are reported")
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--keep", type=Path, help="generate into (or reuse) this lake folder")
    parser.add_argument("--before", type=Path, metavar="SRC",
                        help="also time our rollup from this src/ folder (another checkout)")
    parser.add_argument("--warm", action="store_true",
                        help="roll up the look-back hours first, untimed, as in production")
    parser.add_argument("--without-copy-log", action="store_true",
                        help="remove the hours' copy logs first, as for files landed by other "
                             "hosts or older versions: each hour is de-duplicated in full (and "
                             "the measured hour's manifest before each run: no rebuild record)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-rollups-")) / "lake"
    lake = Lake(root)
    if not lake.event_files(HOUR):
        t = time.perf_counter()
        generate(lake, args.size, args.lookback_hours)
        print(f"generated in {time.perf_counter() - t:.1f} s under {root}", file=sys.stderr)
    if args.without_copy_log:
        from voice_monitor import copy_log

        for k in range(args.lookback_hours + 1):
            copy_log.log_path(lake, HOUR - timedelta(hours=k)).unlink(missing_ok=True)
    prepare_look_back(lake, args.lookback_hours, args.warm)
    order = (["duckdb"] + (["before"] if args.before else []) + ["ours"]
             + ([] if args.skip_pandas else ["pandas"]))
    results = []
    for _ in range(args.repeat):
        for which in order:
            if args.without_copy_log:  # a first build: not the copies an earlier run recorded
                from voice_monitor.rollup_plan import manifest_path

                manifest_path(lake, "hourly", HOUR).unlink(missing_ok=True)
            results.append(measure(which, root, args.before if which == "before" else None))
            print(json.dumps(results[-1]), file=sys.stderr)
    spread_hourly(lake)
    results.append(measure("daily", root))
    med = {w: {k: statistics.median(r[k] for r in results if r["which"] == w)
               for k in ("wall_s", "cpu_s", "peak_rss_mb")} for w in order + ["daily"]}
    print(f"\nhourly rollup of {args.size:,} events (+{args.lookback_hours} look-back hours, "
          f"{'rolled up first' if args.warm else 'not rolled up'}), "
          f"medians of {args.repeat}; load average at the end {os.getloadavg()[0]:.1f}")
    print(f"{'contender':<10} {'wall s':>8} {'CPU s':>8} {'peak RSS MB':>12}")
    for w, r in med.items():
        print(f"{w:<10} {r['wall_s']:>8.3f} {r['cpu_s']:>8.3f} {r['peak_rss_mb']:>12.0f}")
    print(f"ours / plain duckdb = {med['ours']['wall_s'] / med['duckdb']['wall_s']:.2f} wall, "
          f"{med['ours']['cpu_s'] / med['duckdb']['cpu_s']:.2f} CPU (target <= 3); "
          f"peak RSS {med['ours']['peak_rss_mb']:.0f} MB (target < 1536); "
          f"daily {med['daily']['wall_s']:.3f} s (target < 1)")
    if args.before:
        print(f"before / plain duckdb = {med['before']['wall_s'] / med['duckdb']['wall_s']:.2f} "
              f"wall, {med['before']['cpu_s'] / med['duckdb']['cpu_s']:.2f} CPU")
    if not args.keep:
        shutil.rmtree(root.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
