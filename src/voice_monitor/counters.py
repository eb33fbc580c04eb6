"""Real-time counters for the rolling last hour, read in O(1) without scanning events.

Landing adds each newly seen (event_id, hour) to per-minute counters, once: duplicates are
recognised by the store's record of counted events, keyed like the lake's de-duplication. A
batch's new events are summed per (scope, minute) before the store, one upsert per
bucket. A read sums at most 60 minute buckets, then subtracts the few events of the
current minute stamped after `now` (found by time, so the cost does not grow with the window's
events).

The store is an interface (`CounterStore`); the embedded default is SQLite in WAL mode
(sqlite_counters.py), which needs no server and lets several processes write and read at once. With
VOICE_MONITOR_COUNTERS=redis://host:port/db the counters live in Redis instead, shared by every
host that lands events (redis_counters.py, same semantics).
"""

from __future__ import annotations

import errno
import os
import shlex
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from voice_monitor import arguments, disk_space, read_only
from voice_monitor.lake import open_lake
from voice_monitor.schema import FAILURE_TYPES, UNIX_EPOCH

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
    delta = moment.astimezone(UTC) - UNIX_EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _scope(organization_id: str | None) -> str:
    return PLATFORM if organization_id is None else "o:" + organization_id


class CounterStore(Protocol):
    """Where real-time counters live; landing writes, `realtime_metrics` reads."""

    def record(self, events: pa.Table, now: datetime) -> int: ...

    # `record` in two steps: `prepare` (no lock, nothing counted: a landing does it while its
    # files are written), then `commit`, once the events are durable in the lake, so that the
    # counters never hold an event the lake could still lose
    def prepare(self, events: pa.Table, now: datetime) -> object: ...

    def commit(self, prepared: object) -> int: ...

    def window_counts(self, organization_id: str | None, start: datetime, now: datetime) -> dict[str, int]: ...

    # the earliest moment from which the store's counts are whole (None: no landing yet): each
    # landing counts only the events stamped within STATE_TTL before its own `now`, and state
    # older than that is pruned, so a window starting earlier may hold only part of its events
    def horizon(self) -> datetime | None: ...

    def organizations(self, start: datetime, now: datetime, metrics: tuple[str, ...],
                      minimum: int) -> list[str]: ...

    def prune(self, now: datetime) -> int: ...

    def close(self) -> None: ...


class SharedCounterStore(CounterStore, Protocol):
    """A counter store shared by hosts (Redis, `redis_counters.py`), which can lose its data
    (restarted without it, flushed) and is then filled again from the lake (contract §5,
    `counter_refill.py`). The embedded SQLite store is not one: see `shared`."""

    # whether the last `commit` found the store marked as having lost its data
    needs_refill: bool
    # whether the last `horizon` did (then it answers NOT_WHOLE until refilled)
    lost: bool

    # (lease, mark, present) if the store is marked and no other process is refilling it: this
    # one is, for `seconds`; else None
    def claim_refill(self, lease: str, seconds: int) -> tuple[str, str, datetime | None] | None: ...

    def hold_refill(self, held: tuple[str, str, datetime | None], seconds: int) -> None: ...

    # gives the lease back; `done` (every event counted) also clears the mark it claimed
    def end_refill(self, held: tuple[str, str, datetime | None], done: bool) -> None: ...


def shared(store: CounterStore) -> SharedCounterStore | None:
    """`store` if it is a `SharedCounterStore`, else None (one attribute looked up: an
    isinstance of a runtime-checkable protocol would look up each of its members)."""
    return store if hasattr(store, "claim_refill") else None  # type: ignore[return-value]


# bit i of an event's metric mask = it counts toward METRICS[i]
METRIC_BITS: dict[str, int] = {t: sum(1 << METRICS.index(m) for m in ms) for t, ms in METRIC_OF.items()}


def metrics_of_mask(mask: int) -> list[str]:
    """The metrics a mask (`METRIC_BITS`) stands for."""
    return [m for i, m in enumerate(METRICS) if mask >> i & 1]


@dataclass
class CountedRows:
    """The events of a batch that counters count, column by column, in input order."""

    ids: pa.Array  # event_id, as Arrow strings (hashed without leaving Arrow)
    ts_us: np.ndarray  # int64, µs since the epoch
    org: np.ndarray  # int64, position of the event's scope in `scopes`, -1 for none
    scopes: list[str]  # "o:<organization_id>" of each organization in the batch
    mask: np.ndarray  # int64, METRIC_BITS of the event type
    hashes: np.ndarray | None = None  # the ids' stable hashes, where the caller had them

    @property
    def event_id(self) -> list[str]:
        return self.ids.to_pylist()

    @property
    def scope(self) -> list[str]:
        """Per event: "o:<organization_id>", or "" for none (the platform always counts)."""
        return self.scope_array().tolist()

    def scope_array(self) -> np.ndarray:
        """`scope` as a numpy array of str objects."""
        return np.array([*self.scopes, ""], dtype=object)[self.org]  # -1: the last, ""

    @property
    def hour(self) -> np.ndarray:
        return self.ts_us // _HOUR_US


# a column a landing may add to the events it hands a store: their ids' stable hashes
# (`seen_index.stable_hashes`), which it computed for the duplicate index already
HASH_COLUMN = "event_id_hash"


def counted_rows(events: pa.Table, now: datetime) -> CountedRows | None:
    """The events a counter store keeps: every one stamped no earlier than STATE_TTL before
    `now`, with the metrics its type feeds (`mask` 0: none). A store knows even the events that
    count nothing, so that a later copy of one (the same id and hour, another type) is known as
    a copy and counts nothing either: the lake's first-landed event wins (contract §3). None if
    there are no such events. A `HASH_COLUMN` in `events` is kept as `hashes`."""
    stamps = events.column("timestamp")
    if stamps.type.unit != "us":
        stamps = pc.cast(stamps, pa.timestamp("us", tz="UTC"))
    ts_us = _numpy(pc.cast(stamps, pa.int64()))
    which = _numpy(pc.fill_null(pc.index_in(events.column("event_type"), value_set=_COUNTED), -1))
    hashes = _numpy(events.column(HASH_COLUMN)) if HASH_COLUMN in events.schema.names else None
    keep = np.flatnonzero(ts_us >= _us(now - STATE_TTL))
    if not len(keep):
        return None
    everything = len(keep) == events.num_rows
    ids = events.column("event_id")
    orgs = events.column("organization_id")
    if not everything:
        ids, orgs = ids.take(keep), orgs.take(keep)
        ts_us, which = ts_us[keep], which[keep]
        hashes = None if hashes is None else hashes[keep]
    orgs = pc.dictionary_encode(orgs.combine_chunks())
    return CountedRows(
        ids=ids.combine_chunks(),
        ts_us=ts_us,
        org=_numpy(pc.fill_null(orgs.indices, -1)).astype(np.int64),
        scopes=["o:" + o for o in orgs.dictionary.to_pylist()],
        mask=_COUNTED_MASKS[which],  # -1 (a type that feeds no metric): the last, 0
        hashes=hashes,
    )


_COUNTED = pa.array(list(METRIC_BITS))
_COUNTED_MASKS = np.array([*METRIC_BITS.values(), 0], dtype=np.int64)


def _numpy(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A column without nulls as numpy (one copy at most, when it has several chunks)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return values.to_numpy(zero_copy_only=False)


def minute_counts(ts_us: np.ndarray, org: np.ndarray, scopes: list[str],
                  mask: np.ndarray) -> list[tuple]:
    """(scope, minute, then one count per metric of METRICS) of these events (`org` indexes
    `scopes`, -1 for none), the platform scope counting every event: a batch's counter
    updates, summed before the store, in no particular order."""
    if not len(ts_us):
        return []
    # one (event, metric) pair per bit of each mask: most events count toward one metric
    event, bit = np.nonzero((mask[:, None] >> _BITS) & 1)
    minute = ts_us // _MINUTE_US
    first = int(minute.min())
    span = int(minute.max()) - first + 1
    # a cell's code: (scope + 1) * span + minute, scope 0 the platform
    cell = minute[event] - first
    scoped = org[event] >= 0
    codes = np.concatenate([cell, ((org[event] + 1) * span + cell)[scoped]])
    bits = np.concatenate([bit, bit[scoped]])
    cells = (len(scopes) + 1) * span
    if cells <= _DIRECT_CELLS:  # a count per possible cell, then the cells with events
        grid = np.bincount(codes * len(METRICS) + bits, minlength=cells * len(METRICS))
        grid = grid.reshape(cells, len(METRICS))
        codes = np.flatnonzero(grid.any(axis=1))
        grid = grid[codes]
    else:  # many organizations over many minutes: only the cells with events (a sort)
        codes, inverse = np.unique(codes, return_inverse=True)
        grid = np.bincount(inverse * len(METRICS) + bits, minlength=len(codes) * len(METRICS))
    where, minutes = np.divmod(codes, span)
    names = np.array([PLATFORM, *scopes], dtype=object)[where]
    return list(zip(names.tolist(), (minutes + first).tolist(),
                    *grid.reshape(-1, len(METRICS)).T.tolist(), strict=True))


_BITS = np.arange(len(METRICS), dtype=np.int64)
_DIRECT_CELLS = 1 << 16  # (scopes x minutes) counted in a dense grid: 4 MB at most


COUNTERS_ENV = "VOICE_MONITOR_COUNTERS"
# `settings.CONFIG_FILE` and `settings.ENV_PREFIX` (also VOICE_MONITOR_CONFIG's prefix)
CONFIG_FILE, ENV_PREFIX = "voice-monitor.toml", "VOICE_MONITOR_"
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


class CounterStoreError(ValueError):
    """The embedded counter store's file is not a readable SQLite database."""


class CounterStoreReadOnlyError(OSError):
    """The embedded counter store cannot be opened: the lake is not writable by this process
    (SQLite opens the store for writing), or its disk is full (errno ENOSPC).
    `realtime_metrics` then counts from the lake."""


def _open_sqlite(store, path):
    try:
        return store(path)
    except (sqlite3.OperationalError, OSError) as exc:
        code = read_only.unwritable(path)
        if code is None and disk_space.is_full(exc, path):
            # SQLite cannot make its WAL and shared-memory files on a full disk: a reader
            # counts from the lake's files, a writer fails naming the disk (see disk_space)
            raise CounterStoreReadOnlyError(errno.ENOSPC, "cannot open the real-time counter "
                                            f"store: {disk_space.message(path)}",
                                            str(path)) from exc
        if code is None:
            odd = _not_a_file(path)
            if odd is None:
                raise
            # a folder where the store or its WAL/shared-memory file should be: SQLite says
            # only "unable to open database file"
            raise CounterStoreError(
                f"the real-time counter store {path} cannot be opened ({odd} is not a file); "
                f"move it aside (mv {shlex.quote(str(odd))} {shlex.quote(str(odd) + '.corrupt')}):"
                " a new store counts from the next landing, and a collector re-counts the last "
                "2 hours when it starts") from exc
        raise CounterStoreReadOnlyError(code, f"cannot open the real-time counter store for "
                                        f"writing ({exc})", str(path)) from exc
    except sqlite3.DatabaseError as exc:  # not an SQLite file (locked, I/O: raised above)
        raise CounterStoreError(unreadable_store(path, exc)) from exc


def unreadable_store(path, exc: Exception) -> str:
    """One line for the embedded store at `path` that SQLite cannot read (`exc`), and the fix:
    `lake check --move-aside` (counter_repair.py), which counts the lake's last 2 hours into a
    new store. A bare `mv` left a new store that counts from the next landing only and vouches
    for the whole window (1 of 4 landed events, found by h3)."""
    state = Path(path).parent
    lake = f" --lake {shlex.quote(str(state.parent))}" if state.name == "state" else ""
    return (f"the real-time counter store {path} cannot be read ({exc}); move it aside with: "
            f"voice-monitor lake check --move-aside{lake} (it counts the lake's last 2 hours "
            "into a new store; a bare mv would leave the new one short of them)")


def _not_a_file(path) -> Path | None:
    """The store's file, or one of SQLite's files beside it, that exists but is no regular
    file (a folder, say), or None."""
    for odd in (Path(path), *(Path(f"{path}{end}") for end in ("-wal", "-shm", "-journal"))):
        if odd.exists() and not odd.is_file():
            return odd
    return None


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
        url = _configured()
    url = url.strip()
    if not url:
        from voice_monitor.sqlite_counters import SQLiteCounterStore

        # an object store cannot hold an SQLite file: a lake there keeps it in a local folder
        # made on a lake that already holds events (the store removed by hand, or left empty
        # by a crash), a store holds none of them: it vouches only for windows from its
        # creation on (earlier ones are read from the lake's files); without this its first
        # landing vouched for the whole window
        def whole_from() -> datetime | None:
            return datetime.now(UTC) if _has_events(lake) else None

        return _open_sqlite(lambda path: SQLiteCounterStore(path, whole_from),
                            lake.local_state_dir / "counters.sqlite")
    if not url.startswith(_REDIS_SCHEMES):
        shown = url.split("@")[-1]  # never echo a password
        raise ValueError(f"unknown counter store {shown!r} in {COUNTERS_ENV}; expected "
                         f"redis://host:port/db, or unset it for the embedded store")
    from voice_monitor.redis_counters import RedisCounterStore

    return RedisCounterStore(url)


def _has_events(lake) -> bool:
    """Whether the lake holds an event hour partition with a file in it."""
    from voice_monitor.lake import hour_dirs

    return next(hour_dirs(lake.events_dir), None) is not None


def _configured() -> str:
    """The `counters` setting (`settings.one_setting`). With no config file and no
    `VOICE_MONITOR_*` variable set, the settings are the built-in defaults, read without
    importing the settings module (pydantic: ~0.3 s, most of a short-lived producer's first
    landing)."""
    if not Path(CONFIG_FILE).is_file() and not any(
            name.startswith(ENV_PREFIX) and value for name, value in os.environ.items()):
        return ""  # the default: the embedded store
    from voice_monitor.settings import one_setting

    return one_setting("counters")  # alone: another key's bad value never stops a landing


def vouches_for(store: CounterStore, start: datetime) -> bool:
    """Whether `store` holds every landed event of a window starting at `start` (`horizon`):
    a window reaching further back, read at a `now` in the past after later landings, is
    counted from the lake's files instead (lake_window.py)."""
    horizon = store.horizon()
    return horizon is None or start >= horizon


def window_start(now: datetime) -> datetime:
    """The first instant of the real-time window ending at `now`: its minute's start, minus 59
    minutes (contract §5)."""
    return now.replace(second=0, microsecond=0) - timedelta(minutes=59)


def realtime_metrics(lake, organization_id: str | None = None, now: datetime | None = None,
                     store: CounterStore | None = None, refill_waits: bool = True) -> dict:
    """Counts for the current minute plus the 59 before it, up to `now` (contract §5). A shared
    store that lost its data is refilled first; with `refill_waits` False (the server's API) a
    server refills it on a background thread and this read counts from the lake's files."""
    now = arguments.utc_now(now)
    organization_id = arguments.identifier(organization_id, "organization_id")
    start = window_start(now)
    own = store is None
    if own:
        lake = open_lake(lake)
        try:
            store = open_counters(lake)
        except CounterStoreReadOnlyError:
            # a lake this process cannot write to (a read-only mount): its files hold the window
            from voice_monitor import lake_window

            found = lake_window.scope_counts(lake, start, now, organization_id)
            if found is None:  # an unreadable file in the window: say why the store is no help
                raise
            return {**found[None], "window_start": start, "window_end": now}
    try:
        # landed events a failed landing left uncounted are counted now; if that fails too
        # (the store's disk still full), the lake's files answer, below (uncounted.py)
        behind = own and not _count_uncounted(lake, store, now)
        counts = store.window_counts(organization_id, start, now)
        whole = not own or (vouches_for(store, start) and not behind)
        if not whole and (common := shared(store)) is not None and common.lost:
            # a shared store that lost its data, not refilled yet: this read refills it (unless
            # another process is at it: then the lake's files answer, below)
            from voice_monitor import counter_refill

            if refill_waits:
                counter_refill.refill(lake, now)
                counts = store.window_counts(organization_id, start, now)
                whole = vouches_for(store, start)
            else:  # a refill reads the lake's last 2 hours (minutes, with hundreds of millions
                # of events): a request does not wait for it, as a collector's senders do not
                counter_refill.after_landing(lake, now, wait=False)
        # an organization with nothing counted while the platform has counts: the store saw
        # this window, so the zeros are the organization's own (an idle organization polled by
        # a dashboard costs an O(1) read, not a scan of the window's hours)
        idle = (own and whole and organization_id is not None and not any(counts.values())
                and any(store.window_counts(None, start, now).values()))
    finally:
        if own:
            store.close()
    if own and not idle and (not whole or not any(counts.values())):
        # nothing counted: the window's events, if any, landed more than 2 hours after their
        # time (an old file ingested without --now) or before this store existed; or a later
        # landing keeps less than the whole window (a `now` in the past): the lake holds them
        # (lake_window.py)
        from voice_monitor import lake_window

        found = lake_window.scope_counts(lake, start, now, organization_id)
        counts = counts if found is None else found[None]
    return {**counts, "window_start": start, "window_end": now}


def _count_uncounted(lake, store: CounterStore, now: datetime) -> bool:
    """`uncounted.count` (imported here: that module imports this one)."""
    from voice_monitor import uncounted

    return uncounted.count(lake, store, now)
