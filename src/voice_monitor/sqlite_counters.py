"""The embedded counter store: one SQLite file in WAL mode under the lake's state/.

The events a landing hands it are kept in blocks (every one within the 2-hour horizon, also
those whose type counts nothing: metrics 0, so that a later copy of one is known as a copy
and counts nothing either), one row per landing and minute of event time (per second
for the events stamped at or after the landing's second): the events' ids, times, scopes and
metric masks as one JSON text, and their stable 64-bit id hashes
(seen_index.py) as a blob. The `seen` view shows them one row per event, as the store's state
always was. A writer keeps every block's hashes in memory (`HourKeys`, per event hour) and
brings them up to date, under the write lock, with the blocks other processes appended since
(their ids only grow: AUTOINCREMENT); so de-duplicating a batch costs binary searches in memory
and a few block inserts, not one B-tree insert per event. A hash hit is confirmed against the
ids of the blocks that hold it, so the counts stay exact (a collision costs a read, never a
count).

A read sums at most 60 minute rows (one per scope and minute, a column per metric) from
`counts`, then subtracts the events of
the current minute stamped after `now`: the blocks whose latest second is from `now` to the end
of its minute (an index on `second`), so its cost does not grow with the window's events.
"""

from __future__ import annotations

import errno
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa

from voice_monitor.checked import distinct
from voice_monitor.counters import (
    _MINUTE_US,
    METRIC_BITS,
    METRICS,
    PLATFORM,
    STATE_TTL,
    CountedRows,
    _scope,
    _us,
    counted_rows,
    metrics_of_mask,
    minute_counts,
)
from voice_monitor.schema import UNIX_EPOCH
from voice_monitor.seen_index import HourKeys, first_copies, stable_hashes

_SECOND_US = 1_000_000
_HOUR_S = 3600
_DDL = """
create table if not exists seen_blocks (
    id integer primary key autoincrement,
    second integer not null,  -- its latest event's second since the epoch (all in one minute)
    n integer not null,
    hashes blob not null,     -- stable_hashes of the ids, int64 little-endian, in row order
    events text not null);    -- JSON [[event_id, ts_us, scope or "", METRIC_BITS], ...]
create index if not exists seen_blocks_second on seen_blocks (second);
create view if not exists seen (hour, event_id, ts_us, scope, metrics) as
    select b.second / 3600, e.value ->> 0, e.value ->> 1, e.value ->> 2, e.value ->> 3
    from seen_blocks b, json_each(b.events) e;
create table if not exists counts (
    scope text not null, minute integer not null,
    {metrics},
    primary key (scope, minute)) without rowid;
create index if not exists counts_minute on counts (minute)
""".format(metrics=",\n    ".join(f"{m} integer not null" for m in METRICS))
_SCHEMA_VERSION = 4  # 3 had one counts row per (scope, minute, metric)
_WINDOW = "select {} from counts where scope = ? and minute between ? and ?".format(
    ", ".join(f"sum({m})" for m in METRICS))
# one row: the latest cut-off (µs) a landing or prune applied (`horizon`)
_HORIZON_TABLE = ("create table if not exists horizon "
                  "(one integer primary key check (one = 1), us integer not null)")
_RAISE_HORIZON = ("insert into horizon values (1, ?1) "
                  "on conflict (one) do update set us = max(us, excluded.us)")
# one row, while it lasts: when a store made on a lake that already held events was made (µs,
# `whole_from`); `horizon` is the later of the two, and a complete count of the lake's
# events within the horizon (`counted_lake`) removes it
_MADE_TABLE = ("create table if not exists made "
               "(one integer primary key check (one = 1), us integer not null)")
_UPSERT = "insert into counts values (?, ?, {}) on conflict (scope, minute) do update set {}".format(
    ", ".join("?" * len(METRICS)), ", ".join(f"{m} = {m} + excluded.{m}" for m in METRICS))


class SQLiteCounterStore:
    """The embedded counter store: one SQLite file in WAL mode under the lake's state/."""

    def __init__(self, path: str | Path,
                 whole_from: Callable[[], datetime | None] | None = None):
        """`whole_from()`, asked only when this open makes the store (no file, or an empty
        one), is the moment its counts are whole from, recorded as its horizon in the
        transaction that makes it (None: whole from the start; see `counters.open_counters`)."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        self._pruned_minute = 0
        self._hours: dict[int, HourKeys] = {}  # the blocks' hashes, per event hour
        self._last_block = 0  # the newest block in self._hours
        self._whole_from = whole_from
        try:
            self._enable_wal()
            self.db.execute("pragma synchronous = normal")
            # only the first opener writes the schema: readers never take the write lock
            if self.db.execute("pragma user_version").fetchall()[0][0] != _SCHEMA_VERSION:
                self._transaction(self._create)
        except BaseException:
            # a store that fails to open (its disk full, a read-only mount, not SQLite) is
            # closed here: the error's traceback holds it, and its descriptors (the file, its
            # -wal and -shm) stayed open until the garbage collector found that cycle
            self.db.close()
            raise

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
        try:
            self.db.execute("begin immediate")
            try:
                result = work()
                self.db.execute("commit")
                return result
            except BaseException:
                # SQLite rolls back by itself on some errors (SQLITE_FULL at commit): a second
                # rollback then fails and hid the error that mattered ("no transaction is active")
                if self.db.in_transaction:
                    self.db.execute("rollback")
                raise
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", None) != sqlite3.SQLITE_READONLY:
                raise
            # the store file not writable by this user (opened fine: reads need no write)
            from voice_monitor.counters import CounterStoreReadOnlyError

            raise CounterStoreReadOnlyError(errno.EACCES, "cannot write the real-time counter "
                                            f"store ({exc})", str(self.path)) from exc

    def _create(self) -> None:
        version = self.db.execute("pragma user_version").fetchall()[0][0]
        if version == _SCHEMA_VERSION:
            return  # another process created it while we waited for the lock
        created = version == 0 and not self.db.execute(
            "select 1 from sqlite_master limit 1").fetchall()
        old = []
        if version in (1, 2):  # a `seen` table, one row per event: keep its rows in blocks
            metrics = "event_type" if version == 1 else "metrics"
            old = self.db.execute(
                f"select event_id, ts_us, scope, {metrics} from seen").fetchall()
            if version == 1:
                old = [(*row[:3], METRIC_BITS[row[3]]) for row in old]
            self.db.execute("drop table seen")
            self.db.execute("drop table if exists metric_of")
        counts = []
        columns = [row[1] for row in self.db.execute("pragma table_info(counts)")]
        if "metric" in columns:  # schemas 1-3: a row per (scope, minute, metric), now per minute
            counts = self.db.execute("select scope, minute, metric, n from counts").fetchall()
            self.db.execute("drop table counts")
        for statement in _DDL.split(";"):
            self.db.execute(statement)
        cells: dict[tuple[str, int], list[int]] = {}
        for scope, minute, metric, n in counts:
            cells.setdefault((scope, minute), [0] * len(METRICS))[METRICS.index(metric)] += n
        self.db.executemany(_UPSERT, [(*cell, *n) for cell, n in cells.items()])
        if old:
            ids, ts, scopes, masks = (list(column) for column in zip(*old, strict=True))
            self._append(pa.array(ids, pa.string()), np.array(ts, np.int64),
                         np.array(scopes, dtype=object), np.array(masks, np.int64))
        self.db.execute(_HORIZON_TABLE)
        self.db.execute(_MADE_TABLE)
        if created and self._whole_from is not None:
            moment = self._whole_from()
            if moment is not None:  # in this transaction: a kill never leaves it without one
                self.db.execute("insert into made values (1, ?)", (_us(moment),))
        self.db.execute(f"pragma user_version = {_SCHEMA_VERSION}")

    def record(self, events: pa.Table, now: datetime) -> int:
        """Count the batch's events that are new and recent enough to matter; returns how many
        (of the new ones, those whose type feeds a metric): `commit(prepare(events, now))`."""
        return self.commit(self.prepare(events, now))

    def prepare(self, events: pa.Table, now: datetime) -> Prepared:
        """The work of counting a batch that needs no write lock, done before its events are
        durable in the lake (a landing does it while its files are written): the ids' hashes
        (taken from the events' `HASH_COLUMN` where a landing added it), the first copy of each
        id, which ids the blocks known now already hold, the new blocks and minute sums. Nothing
        is counted until `commit`, which also records `now`'s horizon (see `horizon`)."""
        rows = counted_rows(events, now)
        if rows is None:  # nothing to count; `commit` still moves the horizon to this `now`
            return Prepared(None, np.empty(0, np.int64), now, 0, np.empty(0, np.int64), [], [])
        hashes = stable_hashes(rows.ids) if rows.hashes is None else rows.hashes
        self._catch_up()  # a read: the blocks committed up to now (ids only grow)
        known = self._last_block
        fresh = self._unknown(rows, hashes, np.arange(len(hashes)), firsts=True)
        return Prepared(rows, hashes, now, known, fresh, *self._layout(rows, hashes, fresh, now))

    def commit(self, prepared: Prepared | None) -> int:
        """Count a prepared batch, in one transaction: its events no writer counted meanwhile
        (blocks appended since `prepare` are checked too). Returns how many of the new ones
        feed a metric."""
        if prepared is None:
            return 0
        added, counted = self._transaction(lambda: self._commit(prepared))
        # only once committed: what a rolled-back transaction wrote is not in the store
        self._remember(added)
        return counted

    def _commit(self, p: Prepared) -> tuple[list, int]:
        # state past the 2-hour horizon can no longer count: drop it as we go (once a minute),
        # so the store stays small between retention runs
        cutoff = _us(p.now - STATE_TTL)
        if cutoff // _MINUTE_US > self._pruned_minute:
            self._pruned_minute = cutoff // _MINUTE_US
            self._forget(cutoff)
        else:  # (`_forget` moves it too)
            self._raise_horizon(cutoff)
        if p.rows is None:
            return [], 0
        self._catch_up()
        fresh, blocks, counts = p.fresh, p.blocks, p.counts
        if self._last_block > p.known and len(fresh):  # another writer counted since: check again
            again = self._unknown(p.rows, p.hashes, fresh, firsts=False)
            if len(again) < len(fresh):
                fresh = again
                blocks, counts = self._layout(p.rows, p.hashes, fresh, p.now)
        if not len(fresh):
            return [], 0
        added = self._insert(blocks)
        self.db.executemany(_UPSERT, counts)
        return added, int(np.count_nonzero(p.rows.mask[fresh]))  # new events feeding a metric

    def _unknown(self, rows: CountedRows, hashes: np.ndarray, candidates: np.ndarray,
                 firsts: bool) -> np.ndarray:
        """Of the rows `candidates` (ascending), those no known block holds (and, with
        `firsts`, only the first copy of each id among them), ascending."""
        hours = rows.ts_us[candidates] // (_HOUR_S * _SECOND_US)
        every = len(hashes)
        fresh = []
        for hour, at in _hour_rows(hours):
            mine = candidates if len(at) == len(candidates) else candidates[at]
            order = np.argsort(hashes[mine])  # one sort for the repeats and the searches
            if firsts:
                ids = rows.ids if len(mine) == every else rows.ids.take(mine)
                kept = first_copies(ids, hashes[mine], order)
                if len(kept) < len(mine):  # copies in the batch (rare): the order changes
                    mine, order = mine[kept], None
            known = self._hours.get(hour)
            if known is not None and len(known):
                hit, blocks = known.candidates(hashes[mine], order)
                if hit.any():  # confirm against the ids the blocks hold
                    counted = self._ids_in(blocks)
                    ids = rows.ids.take(mine[hit]).to_pylist()
                    hit[np.flatnonzero(hit)] = [i in counted for i in ids]
                    mine = mine[~hit]
            fresh.append(mine)
        # each hour's rows ascending; several hours interleave
        if not fresh:
            return candidates
        return fresh[0] if len(fresh) == 1 else np.sort(np.concatenate(fresh))

    def _layout(self, rows: CountedRows, hashes: np.ndarray, fresh: np.ndarray,
                now: datetime) -> tuple[list, list]:
        """The seen_blocks rows and the minute sums of the rows `fresh`."""
        if not len(fresh):
            return [], []
        ids, ts, org, masks, scopes = rows.ids, rows.ts_us, rows.org, rows.mask, rows.scope_array()
        if len(fresh) < len(hashes):
            ids, ts, org, masks = ids.take(fresh), ts[fresh], org[fresh], masks[fresh]
            hashes, scopes = hashes[fresh], scopes[fresh]
        return (_blocks(ids, ts, scopes, masks, hashes, _us(now) // _SECOND_US),
                minute_counts(ts, org, rows.scopes, masks))

    def _append(self, ids: pa.Array, ts: np.ndarray, scopes: np.ndarray,
                masks: np.ndarray) -> list:
        """Insert the events as blocks (one per second); returns what `_remember` takes."""
        return self._insert(_blocks(ids, ts, scopes, masks, stable_hashes(ids), None))

    def _insert(self, blocks: list) -> list:
        """Insert `_blocks`' rows; returns (block ids, seconds, hashes) for `_remember`."""
        self.db.executemany(
            "insert into seen_blocks (second, n, hashes, events) values (?, ?, ?, ?)",
            [(key, len(hashes), hashes.astype("<i8").tobytes(), text)
             for key, hashes, text in blocks])
        # AUTOINCREMENT ids only grow, we hold the write lock and have caught up with every
        # block there was: ours are the ones above the newest we know
        ids = [r[0] for r in self.db.execute(
            "select id from seen_blocks where id > ? order by id", (self._last_block,))]
        return [(block, key, hashes) for block, (key, hashes, _) in zip(ids, blocks, strict=True)]

    def _remember(self, added: list) -> None:
        if not added:
            return
        blocks = np.array([b for b, _, _ in added], np.int64)
        sizes = [len(h) for _, _, h in added]
        owners = np.repeat(blocks, sizes)
        hours = np.repeat(np.array([s // _HOUR_S for _, s, _ in added], np.int64), sizes)
        hashes = np.concatenate([h for _, _, h in added])
        for hour in distinct(hours):
            at = hours == hour
            self._hours.setdefault(hour, HourKeys()).add(hashes[at], owners[at])
        self._last_block = max(self._last_block, int(blocks.max()))

    def _catch_up(self) -> None:
        """Add the blocks other processes appended since our last look (under the lock)."""
        found = self.db.execute("select id, second, hashes from seen_blocks where id > ? order by id",
                                (self._last_block,)).fetchall()
        self._remember([(b, s, np.frombuffer(h, "<i8").astype(np.int64)) for b, s, h in found])

    def _ids_in(self, blocks: set[int]) -> set[str]:
        ids: set[str] = set()
        listed = sorted(blocks)
        for start in range(0, len(listed), 500):
            chunk = listed[start:start + 500]
            marks = ", ".join("?" * len(chunk))
            for (events,) in self.db.execute(f"select events from seen_blocks where id in ({marks})",
                                             chunk):
                ids.update(e[0] for e in orjson.loads(events))
        return ids

    def _raise_horizon(self, cutoff_us: int) -> None:
        """Note that a landing (or prune) left out what is stamped before `cutoff_us`: the
        counts of a window starting earlier are not whole (`horizon`). The table is made by
        the first writer that needs it (a store of schema 4 made before it has none)."""
        self.db.execute(_HORIZON_TABLE)
        self.db.execute(_RAISE_HORIZON, (cutoff_us,))

    def horizon(self) -> datetime | None:
        """The earliest moment from which the counts are whole (`CounterStore.horizon`): the
        latest landing's cut-off, or the store's making while it is `made`'s."""
        try:
            [(us,)] = self.db.execute("select max(us) from (select us from horizon "
                                      "union all select us from made)").fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                raise
            try:  # a store of schema 4 made before `made` (or before `horizon`)
                found = self.db.execute("select us from horizon").fetchall()
            except sqlite3.OperationalError as again:
                if "no such table" not in str(again):
                    raise
                return None  # no landing since the store was made by a version without it
            us = found[0][0] if found else None
        return None if us is None else UNIX_EPOCH + timedelta(microseconds=us)

    def counted_lake(self, read_at: datetime, now: datetime) -> None:
        """Every event the lake held at `read_at` stamped within STATE_TTL before `now` was
        handed to this store (a collector's catch-up, complete): its counts are whole from
        that cut-off on, so a mark of its making (`made`) no later than `read_at` goes and
        the horizon is the cut-off (or a later landing's). Without this a store made anew on
        a lake with events sent every real-time read to the lake's files for its first hour."""
        def lower() -> None:
            self._raise_horizon(_us(now - STATE_TTL))
            self.db.execute(_MADE_TABLE)
            self.db.execute("delete from made where us <= ?", (_us(read_at),))

        self._transaction(lower)

    def _forget(self, cutoff_us: int) -> int:
        """Drop blocks and minute counts wholly before `cutoff_us`; returns events + rows dropped."""
        self._raise_horizon(cutoff_us)
        second = cutoff_us // _SECOND_US
        events = self.db.execute("select coalesce(sum(n), 0) from seen_blocks where second < ?",
                                 (second,)).fetchall()[0][0]
        self.db.execute("delete from seen_blocks where second < ?", (second,))
        for hour in [h for h in self._hours if (h + 1) * _HOUR_S <= second]:
            del self._hours[hour]
        return events + self.db.execute("delete from counts where minute < ?",
                                        (cutoff_us // _MINUTE_US,)).rowcount

    def window_counts(self, organization_id: str | None, start: datetime, now: datetime) -> dict[str, int]:
        start_min = _us(start) // _MINUTE_US
        now_us = _us(now)
        now_min = now_us // _MINUTE_US
        minute_end = (now_min + 1) * _MINUTE_US
        scope = _scope(organization_id)
        # both statements read one snapshot: a batch committed between them would be
        # subtracted below without having been summed
        self.db.execute("begin")
        try:
            [sums] = self.db.execute(_WINDOW, (scope, start_min, now_min)).fetchall()
            # events of the current minute stamped after `now` are not in the window yet
            blocks = self.db.execute(
                "select events from seen_blocks where second >= ? and second < ?",
                (now_us // _SECOND_US, minute_end // _SECOND_US)).fetchall()
        finally:
            self.db.execute("commit")
        totals = {metric: n or 0 for metric, n in zip(METRICS, sums, strict=True)}
        after: dict[int, int] = {}
        for (events,) in blocks:
            for _, ts, event_scope, mask in orjson.loads(events):
                if now_us < ts < minute_end and (organization_id is None or event_scope == scope):
                    after[mask] = after.get(mask, 0) + 1
        for mask, n in after.items():
            for metric in metrics_of_mask(mask):
                totals[metric] -= n
        return totals

    def organizations(self, start: datetime, now: datetime, metrics: tuple[str, ...],
                      minimum: int) -> list[str]:
        """Organizations with at least `minimum` of `metrics` in the minutes from `start` to `now`.

        Reads only the per-minute table; the sum includes the whole current minute, so it is an
        upper bound of the window's count: callers confirm with `window_counts`.
        """
        # column names from METRICS only; a name it does not know counts nothing
        total = " + ".join(m for m in METRICS if m in metrics) or "0"
        rows = self.db.execute(
            f"""select scope from counts where scope <> ? and minute between ? and ?
                group by scope having sum({total}) > 0 and sum({total}) >= ? order by scope""",
            (PLATFORM, _us(start) // _MINUTE_US, _us(now) // _MINUTE_US, minimum),
        ).fetchall()
        return [scope.removeprefix("o:") for (scope,) in rows]

    def prune(self, now: datetime) -> int:
        """Forget state older than the 2-hour horizon; returns events and count rows removed."""
        return self._transaction(lambda: self._forget(_us(now - STATE_TTL)))

    def close(self) -> None:
        self.db.close()


@dataclass
class Prepared:
    """A batch ready to be counted (`SQLiteCounterStore.prepare`): its counted rows (None:
    none to count), their hashes, the rows new as of the newest block known then (`known`),
    and their blocks (`_blocks`) and minute sums (`minute_counts`)."""

    rows: CountedRows | None
    hashes: np.ndarray
    now: datetime
    known: int
    fresh: np.ndarray
    blocks: list
    counts: list


def _blocks(ids: pa.Array, ts: np.ndarray, scopes: np.ndarray, masks: np.ndarray,
            hashes: np.ndarray, now_s: int | None) -> list[tuple[int, np.ndarray, bytes]]:
    """The events as blocks: (latest second, hashes, `events` text) each.

    A block's `second` is the latest second of its events, all of them in that second's
    minute. Events stamped at or after `now_s` (the landing's second) get a block per
    second; earlier ones, which no later read subtracts, one per minute (all of them per
    second when `now_s` is None)."""
    seconds = ts // _SECOND_US
    group = seconds if now_s is None else \
        np.where(seconds < now_s, seconds // 60 * 60, seconds)  # a minute's first second
    order = _by_block(group, seconds)
    seconds, group, hashes = seconds[order], group[order], hashes[order]
    cuts = np.flatnonzero(np.diff(group)) + 1
    starts, ends = [0, *cuts.tolist()], [*cuts.tolist(), len(seconds)]
    keys = seconds[np.array(ends) - 1].tolist()  # each block's latest second
    texts = _block_texts(ids.take(pa.array(order)).to_pylist(), ts[order], scopes[order],
                         masks[order], starts)
    return [(key, hashes[a:b], text)
            for key, a, b, text in zip(keys, starts, ends, texts, strict=True)]


def _by_block(group: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """The order of rows by (group, second), input order among equals: what
    `np.lexsort((seconds, group))` gives, by one unstable sort of a key that holds the row's
    position (4-5x faster), where the key fits in 63 bits."""
    n = len(seconds)
    if not n:
        return np.empty(0, dtype=np.int64)
    low = int(min(group.min(), seconds.min()))
    span = int(max(group.max(), seconds.max())) - low + 1
    if span * span * n >= 1 << 62:
        return np.lexsort((seconds, group))
    return np.argsort(((group - low) * span + (seconds - low)) * n + np.arange(n))


def _hour_rows(hours: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """(hour, its rows ascending) per distinct hour; one hour (a landing's usual case) without
    a sort."""
    hours_in = distinct(hours)
    if len(hours_in) == 1:
        return [(hours_in[0], np.arange(len(hours)))]
    return [(hour, np.flatnonzero(hours == hour)) for hour in hours_in]


def _block_texts(ids: list[str], ts: np.ndarray, scopes: np.ndarray, masks: np.ndarray,
                 starts: list[int]) -> list[bytes]:
    """The `events` text of each block (blocks start at `starts`, in row order): the JSON
    `[[event_id, ts_us, scope, mask], ...]`, by orjson (which escapes what JSON needs), from
    Python lists: faster than Arrow's string kernels. A block's event tuples are made as its
    text is written, not all at once: 50,000 live tuples cost more in the garbage collector's
    passes (and in the later ones over everything they outlived) than the tuples themselves."""
    ts, scopes, masks = ts.tolist(), scopes.tolist(), masks.tolist()
    return [orjson.dumps(list(zip(ids[a:b], ts[a:b], scopes[a:b], masks[a:b], strict=True)))
            for a, b in zip(starts, [*starts[1:], len(ids)], strict=True)]
