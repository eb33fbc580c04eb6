"""`voice-monitor ingest` against DuckDB's plain copy of the same file to Parquet, and its peak memory.

    uv run python bench/bench_ingest.py [N] [--repeat R] [--rss 3000000,10000000] [--keep DIR]

Generates N realistic events (default 1,000,000) as JSON Lines with DuckDB: camelCase fields,
24 hours before a fixed `now`, ~200 organizations, metadata (known keys plus an unknown `trace`)
on completion events, an error code and a message holding a bearer token on failures. Then, in
the same run, alternately: `voice-monitor ingest` of the file into a fresh lake, and a DuckDB
process copying the same file to Parquet (`COPY (FROM read_json(file)) TO ... (FORMAT parquet)`,
no validation) — both as subprocesses, timed from outside with their peak RSS and CPU seconds
(user + system, all threads); the same for the events as typed Parquet (DuckDB's copy, with
`metadata` as a struct). Prints medians and ratios.
`--rss` lists sizes for which only the peak RSS of one `ingest` of JSON Lines is measured.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from voice_monitor.schema import EVENT_TYPES

NOW = "2026-02-16T14:30:00Z"
_TYPES = sorted(EVENT_TYPES)
# roughly the pipeline's mix: stage events dominate, system events are rare
_MIX = [t for t in _TYPES for _ in range(1 if EVENT_TYPES[t][1] == "system" else 6)]

_GENERATE = """
copy (
    with events as (
        select i, $types[(1 + hash(i) % len($types))::BIGINT] as event_type,
               timestamptz '2026-02-15 14:30:00+00' + to_milliseconds((hash(i, 1) % 86400000)::BIGINT) as moment
        from range($n) t(i)
    )
    select 'evt-' || lpad(i::VARCHAR, 10, '0') as eventId, event_type as eventType,
           strftime(moment, '%Y-%m-%dT%H:%M:%S.%gZ') as "timestamp",
           'art-' || lpad((hash(i, 2) % ($n // 6 + 1)::UBIGINT)::VARCHAR, 8, '0') as artifactId,
           'vn-' || lpad((i // 6)::VARCHAR, 8, '0') as voiceNoteId,
           'org-' || lpad((hash(i, 3) % 200)::VARCHAR, 3, '0') as organizationId,
           case when regexp_matches(event_type, '_(completed|extracted|generated)$')
                then round(exp(7 + (hash(i, 4) % 1000) / 500.0), 1) end as durationMs,
           case when regexp_matches(event_type, '_(completed|extracted|generated)$')
                then {'claimCount': hash(i, 5) % 12, 'confidenceScore': (hash(i, 6) % 1000) / 1000.0,
                      'aiCost': (hash(i, 7) % 2000) / 100000.0, 'aiModel': 'gpt-x',
                      'trace': 't-' || i} end as metadata,
           case when event_type like '%_failed' then 'E_TIMEOUT' end as errorCode,
           case when event_type like '%_failed'
                then 'upstream timed out after 30s (Bearer abc123def)' end as errorMessage
    from events
) to '{path}' (format json)
"""
_COPY = "copy (from {reader}('{src}')) to '{dst}' (format parquet)"


def generate(path: Path, n: int) -> None:
    """Write `n` realistic camelCase events as JSON Lines to `path` (DuckDB: seconds per million)."""
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute(_GENERATE.replace("{path}", str(path)), {"types": _MIX, "n": n})
    con.close()


def run(command: list[str]) -> tuple[float, float, float]:
    """(wall seconds, peak RSS in MB, CPU seconds: user + system, all threads) of one subprocess."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"{command[:3]} failed: {proc.stderr.read().decode()[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def ingest(path: Path, work: Path) -> tuple[float, float, float]:
    lake = work / f"lake-{time.time_ns()}"
    script = shutil.which("voice-monitor")
    launcher = [script] if script else [sys.executable, "-c", "from voice_monitor.cli import main; main()"]
    try:
        return run([*launcher, "ingest", str(path), "--lake", str(lake), "--now", NOW, "--json"])
    finally:
        shutil.rmtree(lake, ignore_errors=True)


def duckdb_copy(path: Path, work: Path) -> tuple[float, float, float]:
    out = work / f"copy-{time.time_ns()}.parquet"
    reader = "read_parquet" if path.suffix == ".parquet" else "read_json"
    code = f"import duckdb; duckdb.sql({_COPY.format(reader=reader, src=path, dst=out)!r})"
    try:
        return run([sys.executable, "-c", code])
    finally:
        out.unlink(missing_ok=True)


def compare(label: str, path: Path, work: Path, repeat: int) -> None:
    ours, theirs = [], []
    for _ in range(repeat):  # interleaved, so both see the same load
        ours.append(ingest(path, work))
        theirs.append(duckdb_copy(path, work))
    o, t = statistics.median(r[0] for r in ours), statistics.median(r[0] for r in theirs)
    oc, tc = statistics.median(r[2] for r in ours), statistics.median(r[2] for r in theirs)
    print(f"{label}: ingest median {o:.2f} s (runs {', '.join(f'{r[0]:.2f}' for r in ours)}; "
          f"peak RSS {max(r[1] for r in ours):.0f} MB) vs DuckDB copy median {t:.2f} s "
          f"(runs {', '.join(f'{r[0]:.2f}' for r in theirs)}): {o / t:.2f}x; CPU seconds "
          f"{oc:.1f} vs {tc:.1f}: {oc / tc:.2f}x; load average now {os.getloadavg()[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rss", default="", help="comma-separated sizes: peak RSS of one ingest each")
    parser.add_argument("--keep", type=Path, default=None, help="generate the inputs here and keep them")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    where = args.keep or work
    try:
        print(f"1-min load average at start {os.getloadavg()[0]:.2f}, nproc {os.cpu_count()}, "
              f"DuckDB {duckdb.__version__}, Python {sys.version.split()[0]}")
        jsonl = _input(where / f"events-{args.n}.jsonl", args.n)
        parquet = where / f"events-{args.n}.parquet"
        if not parquet.exists():
            duckdb.sql(_COPY.format(reader="read_json", src=jsonl, dst=parquet))
        if args.repeat:  # --repeat 0: only the --rss runs
            compare(f"{args.n:,} events, JSON Lines ({jsonl.stat().st_size / 1e6:.0f} MB)", jsonl,
                    work, args.repeat)
            compare(f"{args.n:,} events, typed Parquet ({parquet.stat().st_size / 1e6:.0f} MB)",
                    parquet, work, args.repeat)
        for size in [int(s) for s in args.rss.split(",") if s]:
            path = _input(where / f"events-{size}.jsonl", size)
            seconds, rss, cpu = ingest(path, work)
            print(f"{size:,} events, JSON Lines ({path.stat().st_size / 1e6:.0f} MB): ingest "
                  f"{seconds:.1f} s ({cpu:.1f} CPU s), peak RSS {rss:.0f} MB; load average now "
                  f"{os.getloadavg()[0]:.2f}")
            if args.keep is None:
                path.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _input(path: Path, n: int) -> Path:
    if not path.exists():
        started = time.perf_counter()
        generate(path, n)
        print(f"generated {n:,} events ({path.stat().st_size / 1e6:.0f} MB) in "
              f"{time.perf_counter() - started:.1f} s")
    return path


if __name__ == "__main__":
    main()
