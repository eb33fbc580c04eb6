"""Per-hour digests of the event lake for the health checks, cached for closed hours.

The four event-window checks need, per artifact, the latest receipt, terminal event,
disambiguation request and resolution, plus each hour's latest receipt and circuit breaker
event (`sql/health/hour_digest.sql`). A closed hour's digest is computed once and cached
under `state/check_digests/`, named by the hour and a signature of that partition's file names
and sizes: files are immutable and only ever added (or compacted into new names), so a late
event or a compaction changes the signature and the hour is digested again. The hour containing
`now` is digested afresh on every run. A 5-minute check over 48 hours thus reads ~1 hour of events.
"""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import datetime, timedelta

import duckdb
import pyarrow as pa

from voice_monitor import disk_space, storage
from voice_monitor.lake import Lake, duckdb_path
from voice_monitor.sql import run_sql

log = logging.getLogger(__name__)
STALE_AFTER_S = 600  # a superseded digest may still be read by a concurrent run for a moment


def digest_dir(lake: Lake):
    return lake.state_dir / "check_digests"


# a digest's name holds its rule: digests cached when copies were ranked by ingested_at first
# are not used (nor kept) by this version
_RULE = "first landed = file name, row\n"


def _signature(files) -> str:
    text = _RULE + "\n".join(f"{f.name}:{size}" for f, (size, _)
                             in zip(files, storage.sizes_and_versions(files), strict=True))
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def digests(lake: Lake, con: duckdb.DuckDBPyConnection, hours: list[datetime],
            now: datetime, skip: frozenset[str] = frozenset()) -> duckdb.DuckDBPyRelation:
    """A relation over the digests of `hours` (cached ones read, missing ones computed), read
    around the event files in `skip` (unreadable ones, as `str` of their paths): an hour's
    digest is then of its other files, cached under their signature, which is the hour's own
    once the skipped file is moved aside."""
    folder = digest_dir(lake)
    cached, fresh = [], []
    wanted = set()
    for hour in hours:
        files = [f for f in lake.event_files(hour) if str(f) not in skip]
        if not files:
            continue
        closed = hour + timedelta(hours=1) <= now
        name = f"{hour:%Y-%m-%dT%H}-{_signature(files)}.parquet"
        wanted.add(name)
        if closed and (folder / name).exists() and _readable(folder / name):
            cached.append(folder / name)
            continue
        table = run_sql(con, "health/hour_digest", files=[duckdb_path(f) for f in files],
                        now=now).to_arrow_table()
        if closed:
            try:
                lake.publish(table, folder / name)
                cached.append(folder / name)
                continue
            except OSError as exc:  # only a cache: neither a full disk nor a folder where
                # the digest should be (which lake check does not look for) stops the checks
                if not disk_space.is_full(exc):
                    log.warning("health-check digest %s not cached (%s); the hour is digested "
                                "on every run until it is removed", folder / name, exc)
            except Exception as exc:
                if not disk_space.is_full(exc):
                    raise
        fresh.append(table)
    _forget(folder, hours, wanted)
    parts = [con.read_parquet([duckdb_path(p) for p in cached])] if cached else []
    if fresh:
        con.register("fresh_digests", pa.concat_tables(fresh))
        parts.append(con.table("fresh_digests"))
    if not parts:
        return con.sql("""select null::varchar as artifact_id, null::timestamptz as received_at,
            null::timestamptz as terminal_at, null::timestamptz as needs_at,
            null::timestamptz as resolved_at, null::varchar as breaker_event,
            null::timestamptz as breaker_at where false""")
    relation = parts[0]
    for part in parts[1:]:
        relation = relation.union(part)
    return relation


def _readable(path) -> bool:
    """Whether a cached digest's footer reads; a damaged one (a full disk, a crash) is only a
    cache entry: it is digested again and replaced, never failing the checks."""
    try:
        storage.parquet_file(path)
        return True
    except (pa.ArrowException, OSError):  # OSError: also one deleted meanwhile
        return False


def _forget(folder, hours: list[datetime], wanted: set[str]) -> None:
    """Delete digests of hours before the window, and superseded ones once no run reads them."""
    if not folder.is_dir() or not hours:
        return
    first = f"{min(hours):%Y-%m-%dT%H}"
    cutoff = time.time() - STALE_AFTER_S
    for path in folder.glob("*.parquet"):
        if not path.is_file():
            continue  # (a folder made there by hand: not one of ours to delete)
        hour = path.name[:13]
        if hour < first or (path.name not in wanted and hour <= f"{max(hours):%Y-%m-%dT%H}"
                            and path.stat().st_mtime < cutoff):
            path.unlink(missing_ok=True)
