"""Real-time counters for the rolling last hour, read in O(1) without scanning events.

Landing adds each newly seen (event_id, hour) to per-minute counters, once: duplicates are
recognised by a `seen` table keyed like the lake's de-duplication. A batch's new events are
summed per (scope, minute, metric) before the store, one upsert per bucket. A read sums at most 60
minute buckets per metric, then subtracts the few events of the current minute stamped after
`now` (found through an index on time, so the cost does not grow with the window's events).

The store is an interface (`CounterStore`); the embedded default is SQLite in WAL mode, which
needs no server and lets several processes write and read at once. With
VOICE_MONITOR_COUNTERS=redis://host:port/db the counters live in Redis instead, shared by every
host that lands events (redis_counters.py, same semantics).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from voice_monitor.lake import open_lake
from voice_monitor.schema import FAILURE_TYPES

METRICS = (
    "artifacts_received",
    "artifacts_completed",
    "artifacts_failed",
    "transcriptions_completed",
    "claims_extracted",
    "entities_resolved",
    "drafts_generated",
    "failures",
)
# event_type -> the metrics it counts toward
METRIC_OF: dict[str, tuple[str, ...]] = {
    "artifact_received": ("artifacts_received",),
    "artifact_completed": ("artifacts_completed",),
    "artifact_failed": ("artifacts_failed", "failures"),
    "transcription_completed": ("transcriptions_completed",),
    "claims_extracted": ("claims_extracted",),
    "entity_resolution_completed": ("entities_resolved",),
    "entity_needs_disambiguation": ("entities_resolved",),
    "drafts_generated": ("drafts_generated",),
}
for _t in FAILURE_TYPES:
    METRIC_OF.setdefault(_t, ("failures",))

STATE_TTL = timedelta(hours=2)
PLATFORM = "p"  # scope key of the platform; an organization's is "o:" + its id
_MINUTE_US = 60_000_000
_HOUR_US = 60 * _MINUTE_US


def _us(moment: datetime) -> int:
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _scope(organization_id: str | None) -> str:
    return PLATFORM if organization_id is None else "o:" + organization_id


def countable(events: pa.Table, now: datetime) -> pa.Table:
    """The events of a landed batch that a counter store counts: types that feed a metric,
    stamped within STATE_TTL before `now`."""
    ts_type = events.schema.field("timestamp").type
    relevant = pc.is_in(events.column("event_type"), pa.array(list(METRIC_OF)))
    recent = pc.greater_equal(events.column("timestamp"), pa.scalar(now - STATE_TTL, ts_type))
    return events.filter(pc.and_(relevant, recent))


class CounterStore(Protocol):
    """Where real-time counters live; landing writes, `realtime_metrics` reads."""

    def record(self, events: pa.Table, now: datetime) -> int: ...

    def window_counts(self, organization_id: str | None, start: datetime, now: datetime) -> dict[str, int]: ...

    def organizations(self, start: datetime, now: datetime, metrics: tuple[str, ...],
                      minimum: int) -> list[str]: ...

    def prune(self, now: datetime) -> int: ...

    def close(self) -> None: ...


# bit i of an event's metric mask = it counts toward METRICS[i]
METRIC_BITS: dict[str, int] = {t: sum(1 << METRICS.index(m) for m in ms) for t, ms in METRIC_OF.items()}


def metrics_of_mask(mask: int) -> list[str]:
    """The metrics a mask (`METRIC_BITS`) stands for."""
    return [m for i, m in enumerate(METRICS) if mask >> i & 1]


@dataclass
class CountedRows:
    """The events of a batch that counters count, column by column, in input order."""

    event_id: list[str]
    ts_us: np.ndarray  # int64, µs since the epoch
    scope: list[str]  # "o:<organization_id>", or "" for none (the platform always counts)
    mask: np.ndarray  # int64, METRIC_BITS of the event type

    @property
    def hour(self) -> np.ndarray:
        return self.ts_us // _HOUR_US


def counted_rows(events: pa.Table, now: datetime) -> CountedRows | None:
    """The events counters count (a counted type, no older than STATE_TTL); None if none."""
    batch = countable(events, now)
    if not batch.num_rows:
        return None
    types = pa.array(list(METRIC_BITS))
    masks = np.array(list(METRIC_BITS.values()), dtype=np.int64)
    which = pc.index_in(batch.column("event_type"), value_set=types).to_numpy(zero_copy_only=False)
    orgs = batch.column("organization_id").to_pylist()
    return CountedRows(
        event_id=batch.column("event_id").to_pylist(),
        ts_us=pc.cast(batch.column("timestamp"), pa.int64()).to_numpy(zero_copy_only=False),
        scope=["" if o is None else "o:" + o for o in orgs],
        mask=masks[which],
    )


def minute_counts(rows) -> dict[tuple[str, int, str], int]:
    """(scope, minute, metric) -> count of `rows` ((ts_us, scope or "", mask) each), the
    platform scope counting every row: a batch's counter updates, summed before the store."""
    grouped = Counter((ts // _MINUTE_US, scope, mask) for ts, scope, mask in rows)
    totals: Counter = Counter()
    for (minute, scope, mask), n in grouped.items():
        for metric in metrics_of_mask(mask):
            totals[PLATFORM, minute, metric] += n
            if scope:
                totals[scope, minute, metric] += n
    return totals


# seen: one row per counted (event_id, hour), the de-duplication key; metrics is its METRIC_BITS
_DDL = """
create table if not exists seen (
    hour integer not null, event_id text not null, ts_us integer not null,
    scope text not null, metrics integer not null,
    primary key (hour, event_id)) without rowid;
create index if not exists seen_ts on seen (ts_us);
create table if not exists counts (
    scope text not null, minute integer not null, metric text not null, n integer not null,
    primary key (scope, minute, metric)) without rowid;
create index if not exists counts_minute on counts (minute)
"""
_SCHEMA_VERSION = 2


class SQLiteCounterStore:
    """The embedded counter store: one SQLite file in WAL mode under the lake's state/."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        self._enable_wal()
        self.db.execute("pragma synchronous = normal")
        self._pruned_minute = 0
        # only the first opener writes the schema: readers never take the write lock
        if self.db.execute("pragma user_version").fetchall()[0][0] != _SCHEMA_VERSION:
            self._transaction(self._create)
        self.db.execute("create temp table if not exists incoming (hour integer, event_id text, "
                        "ts_us integer, scope text, metrics integer)")

    def _enable_wal(self, patience: float = 60.0) -> None:
        # Switching a new file to WAL needs an exclusive lock, and SQLite answers "database is
        # locked" at once (no busy wait) when another process opens it at the same moment.
        deadline = time.monotonic() + patience
        while True:
            try:
                self.db.execute("pragma journal_mode = wal")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _transaction(self, work):
        self.db.execute("begin immediate")
        try:
            result = work()
            self.db.execute("commit")
            return result
        except BaseException:
            self.db.execute("rollback")
            raise

    def _create(self) -> None:
        version = self.db.execute("pragma user_version").fetchall()[0][0]
        if version == _SCHEMA_VERSION:
            return  # another process created it while we waited for the lock
        old = []
        if version == 1:  # seen held the event type: keep its rows (the window's state)
            old = self.db.execute("select hour, event_id, ts_us, scope, event_type from seen").fetchall()
            self.db.execute("drop table seen")
            self.db.execute("drop table if exists metric_of")
        for statement in _DDL.split(";"):
            self.db.execute(statement)
        self.db.executemany("insert or ignore into seen values (?, ?, ?, ?, ?)",
                            [(*row[:4], METRIC_BITS[row[4]]) for row in old])
        self.db.execute(f"pragma user_version = {_SCHEMA_VERSION}")

    def record(self, events: pa.Table, now: datetime) -> int:
        """Count the batch's events that are new and recent enough to matter; returns how many."""
        rows = counted_rows(events, now)
        if rows is None:
            return 0
        batch = zip(rows.hour.tolist(), rows.event_id, rows.ts_us.tolist(), rows.scope,
                    rows.mask.tolist(), strict=True)
        return self._transaction(lambda: self._add(batch, now))

    def _add(self, batch, now: datetime) -> int:
        db = self.db
        # state past the 2-hour horizon can no longer count: drop it as we go (once a minute),
        # so the store stays small between retention runs
        cutoff = _us(now - STATE_TTL)
        if cutoff // _MINUTE_US > self._pruned_minute:
            self._pruned_minute = cutoff // _MINUTE_US
            db.execute("delete from seen where ts_us < ?", (cutoff,))
            db.execute("delete from counts where minute < ?", (cutoff // _MINUTE_US,))
        db.execute("delete from incoming")
        db.executemany("insert into incoming values (?, ?, ?, ?, ?)", batch)
        # one insert per event: the key keeps the first copy of an (event_id, hour), in input
        # order within the batch; only the rows it inserted come back, to be counted
        fresh = db.execute(
            """insert into seen select * from incoming where true order by rowid
               on conflict do nothing returning ts_us, scope, metrics""").fetchall()
        db.executemany(
            """insert into counts values (?, ?, ?, ?)
               on conflict (scope, minute, metric) do update set n = n + excluded.n""",
            [(*key, n) for key, n in minute_counts(fresh).items()])
        return len(fresh)

    def window_counts(self, organization_id: str | None, start: datetime, now: datetime) -> dict[str, int]:
        start_min = _us(start) // _MINUTE_US
        now_us = _us(now)
        now_min = now_us // _MINUTE_US
        scope = _scope(organization_id)
        totals = dict.fromkeys(METRICS, 0)
        for metric, n in self.db.execute(
            "select metric, sum(n) from counts where scope = ? and minute between ? and ? group by metric",
            (scope, start_min, now_min),
        ):
            totals[metric] += n
        # events of the current minute stamped after `now` are not in the window yet
        scope_filter = "" if organization_id is None else "and scope = :scope"
        for mask, n in self.db.execute(
            f"""select metrics, count(*) from seen
                where ts_us > :now and ts_us < :minute_end {scope_filter} group by metrics""",
            {"now": now_us, "minute_end": (now_min + 1) * _MINUTE_US, "scope": scope},
        ):
            for metric in metrics_of_mask(mask):
                totals[metric] -= n
        return totals

    def organizations(self, start: datetime, now: datetime, metrics: tuple[str, ...],
                      minimum: int) -> list[str]:
        """Organizations with at least `minimum` of `metrics` in the minutes from `start` to `now`.

        Reads only the per-minute table; the sum includes the whole current minute, so it is an
        upper bound of the window's count: callers confirm with `window_counts`.
        """
        placeholders = ", ".join("?" * len(metrics))
        rows = self.db.execute(
            f"""select scope from counts
                where scope <> ? and minute between ? and ? and metric in ({placeholders})
                group by scope having sum(n) >= ? order by scope""",
            (PLATFORM, _us(start) // _MINUTE_US, _us(now) // _MINUTE_US, *metrics, minimum),
        ).fetchall()
        return [scope.removeprefix("o:") for (scope,) in rows]

    def prune(self, now: datetime) -> int:
        """Forget state older than the 2-hour horizon; returns rows removed."""
        cutoff = _us(now) - int(STATE_TTL.total_seconds() * 1_000_000)

        def work() -> int:
            removed = self.db.execute("delete from seen where ts_us < ?", (cutoff,)).rowcount
            return removed + self.db.execute(
                "delete from counts where minute < ?", (cutoff // _MINUTE_US,)).rowcount

        return self._transaction(work)

    def close(self) -> None:
        self.db.close()



COUNTERS_ENV = "VOICE_MONITOR_COUNTERS"
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def open_counters(lake, url: str | None = None) -> CounterStore:
    """The counter store: Redis when `url` (else $VOICE_MONITOR_COUNTERS, else the `counters`
    setting of voice-monitor.toml) names one, else the
    lake's embedded SQLite store.

    The setting is read here rather than passed down from each edge because every process that
    lands or reads counters (CLI, flows, server workers, producers in user code) must agree on it.
    """
    if url is None:
        url = os.environ.get(COUNTERS_ENV)
    if url is None:  # not in the environment: the config file's `counters`, if any
        from voice_monitor.settings import load_settings

        url = load_settings().settings.counters
    url = url.strip()
    if not url:
        # an object store cannot hold an SQLite file: a lake there keeps it in a local folder
        return SQLiteCounterStore(lake.local_state_dir / "counters.sqlite")
    if not url.startswith(_REDIS_SCHEMES):
        shown = url.split("@")[-1]  # never echo a password
        raise ValueError(f"unknown counter store {shown!r} in {COUNTERS_ENV}; expected "
                         f"redis://host:port/db, or unset it for the embedded store")
    from voice_monitor.redis_counters import RedisCounterStore

    return RedisCounterStore(url)


def realtime_metrics(lake, organization_id: str | None = None, now: datetime | None = None,
                     store: CounterStore | None = None) -> dict:
    """Counts for the current minute plus the 59 before it, up to `now` (contract §5)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    start = now.replace(second=0, microsecond=0) - timedelta(minutes=59)
    own = store is None
    store = store or open_counters(open_lake(lake))
    try:
        counts = store.window_counts(organization_id, start, now)
    finally:
        if own:
            store.close()
    return {**counts, "window_start": start, "window_end": now}
