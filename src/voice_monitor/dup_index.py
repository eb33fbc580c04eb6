"""The duplicate index: per event hour, hashes of the event ids the lake holds, so a landing
checks its own batch against the hour instead of re-reading every file in it.

An index belongs to one process (a producer, a collector worker, one `ingest`) and lives in its
memory: each hour's index records the files it covers. Under the hour's landing lock
(`hour_locks`), a landing lists the hour's files; files it does not cover yet (landed by another
process, or before this process started) have their `event_id` column read and added; if a
covered file is gone (compaction, retention, `lake check --move-aside`), the hour's index is
dropped and rebuilt from the files. A landing adds its batch only after its file is in place.
So the index never claims an id the lake does not hold, and a crash loses nothing but the
process's memory: the next process rebuilds from the files. A landing then costs its own batch
plus one listing of the hour, not a read of every earlier file — and not even the listing when
the hour's lock still holds the stamp this process left on it (`hour_locks.Held`): then no one
else has landed or compacted there since. Files removed without the lock (retention,
`lake check --move-aside`) are then still covered; a hit is confirmed against the files that are
there, so they count nothing.

Ids are kept as 64-bit hashes (`hash_ids`: the counter store's stable hash, computed over the
Arrow strings without a Python object per id; a landing computes them once for both) in sorted arrays of geometrically growing sizes, merged as they fill
(amortised O(log n) per id, 8 bytes each). A hash hit is only a candidate: it is confirmed
against the actual ids of the hour's files, so "first landed wins" stays exact whatever the
collisions; in the common case (no copies) nothing is read.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from voice_monitor import storage
from voice_monitor.checked import _HOUR_US, hour_runs
from voice_monitor.hour_locks import Held
from voice_monitor.integrity import guard
from voice_monitor.lake import (
    Lake,
    NoLakeError,
    connect,
    duckdb_path,
    folder_blocked,
    missing_remote_message,
    stem_clock,
)
from voice_monitor.seen_index import Sieve, stable_hashes

# what a process keeps: at most this many hours and ids (8 bytes each), the hours least
# recently landed into dropped first (landing into one again reads it once more)
MAX_HOURS = 48
MAX_IDS = 25_000_000
DIRECT_READS = 8  # new files read one by one at most; more (an hour read afresh): one query


def hash_ids(ids: pa.Array | pa.ChunkedArray | Sequence[str]) -> np.ndarray:
    """64-bit hashes (int64) of event ids: `seen_index.stable_hashes`, the ones the counter
    store keeps, so a landing hashes its ids once for the index and the counters."""
    if not isinstance(ids, pa.Array | pa.ChunkedArray):
        ids = pa.array(ids, pa.string())
    return stable_hashes(ids)


class HourIndex:
    """The ids of one event hour: the files covered, and their ids' hashes."""

    def __init__(self) -> None:
        self.files: set[str] = set()
        self.stamp: bytes | None = None  # of the hour's lock when this process last landed here
        # the newest clock the files' names start with (`lake.stem_clock`): a landing names its
        # file after it, so name order is landing order whatever the landing's clock says
        self.newest = -1
        self._levels: list[np.ndarray] = []  # sorted, unique; sizes decrease along the list
        self._sieve = Sieve()  # which hashes the levels surely lack

    def __len__(self) -> int:
        return sum(len(level) for level in self._levels)

    def add(self, hashes: np.ndarray, presorted: bool = False) -> None:
        """Add hashes (already landed ids; `presorted`: in order already); merge levels until
        each is over twice the next."""
        if not len(hashes):  # (an empty level would end every search past its end)
            return
        levels = self._levels
        levels.append(_unique_sorted(hashes, presorted))
        while len(levels) > 1 and len(levels[-2]) <= 2 * len(levels[-1]):
            newer, older = levels.pop(), levels.pop()
            merged = np.concatenate([older, newer])
            merged.sort(kind="stable")  # two sorted runs: a linear merge
            levels.append(_unique_sorted(merged, presorted=True))
        self._sieve.add(hashes, lambda: levels)

    def maybe_contains(self, hashes: np.ndarray, order: np.ndarray | None = None) -> np.ndarray:
        """Per hash: could its id be in the hour (a hit is a candidate, to be confirmed)?
        `order`: the permutation that sorts `hashes`, if the caller has it already."""
        order = np.argsort(hashes) if order is None else order
        # searched: only the hashes the sieve cannot rule out (a few in a hundred, as usual)
        order = order[self._sieve.maybe(hashes[order])]
        ordered = hashes[order]  # sorted keys: the searches walk each level once, in order
        found = np.zeros(len(ordered), dtype=bool)  # in sorted order, put back once at the end
        for level in self._levels if len(ordered) else ():
            at = np.searchsorted(level, ordered)
            np.minimum(at, len(level) - 1, out=at)
            found |= level[at] == ordered
        hit = np.zeros(len(hashes), dtype=bool)
        hit[order] = found
        return hit

    def hashes(self) -> np.ndarray:
        """Every hash in the index, sorted and unique."""
        if not self._levels:
            return np.empty(0, dtype=np.int64)
        return _unique_sorted(np.concatenate(self._levels))


def _unique_sorted(values: np.ndarray, presorted: bool = False) -> np.ndarray:
    if not presorted:
        values = np.sort(values)
    if len(values) < 2:
        return values
    return values[np.concatenate(([True], values[1:] != values[:-1]))]


_indexes: OrderedDict[tuple[str, int], HourIndex] = OrderedDict()
_guard = threading.Lock()  # the dictionary only; an hour's index is used under its hour lock


def _key(lake: Lake, hour_us: int) -> tuple[str, int]:
    root = storage.url(lake.root) if lake.remote else os.path.realpath(lake.root)
    return root, hour_us


def _hour_start(hour_us: int) -> datetime:
    return datetime.fromtimestamp(hour_us // 1_000_000, UTC)


def _read_ids(con, files: list) -> pa.ChunkedArray:
    if not files:
        return pa.chunked_array([], pa.string())
    if len(files) <= DIRECT_READS and not any(storage.is_remote(f) for f in files):
        return pa.chunked_array([_file_ids(f) for f in files], pa.string())
    rows = con.sql("select event_id from read_parquet($files)",
                   params={"files": [duckdb_path(f) for f in files]}).to_arrow_table()
    return rows.column("event_id")


def _file_ids(path) -> pa.Array:
    """The `event_id` column of one local file, read directly: another process's few landings
    since this one's last (~0.2 ms a file of 1,000 ids, against ~1.7 ms for a DuckDB query)."""
    with pq.ParquetFile(path) as file:
        table = file.read(columns=["event_id"])
    if table.num_columns != 1:  # (a file without the column reads as no column at all)
        raise pa.ArrowInvalid(f"'{path}' has no event_id column")
    return table.column(0).cast(pa.string()).combine_chunks()


def _listing(lake: Lake, hour_us: int) -> tuple:
    """(folder, names of its event files): plain strings from one directory read (or one
    LIST), unsorted, because thousands of `Path`s would cost more than the landing's batch."""
    folder = lake.event_partition(_hour_start(hour_us))
    if lake.remote:
        names = [n for n in storage.find(folder) if "/" not in n]
    else:
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            names = []
        except NotADirectoryError as exc:  # the hour's folder, or its day's, is a file
            raise folder_blocked(folder) from exc
    return folder, {n for n in names if n.endswith(".parquet")}


def current(lake: Lake, hour_us: int, con=None, held: Held | None = None) -> HourIndex:
    """The hour's index, brought up to date with its files (the caller holds the hour's lock;
    `held`, the locks held: where the hour's lock holds the stamp this process left there when
    it last landed in the hour, no one else has landed or compacted there since, and the index
    is used without listing the hour's folder; see `hour_locks.Held`)."""
    key = _key(lake, hour_us)
    found = held.found(_hour_start(hour_us)) if held is not None else None
    if found:
        with _guard:
            index = _indexes.get(key)
            if index is not None and index.stamp == found:
                _indexes.move_to_end(key)
                return index
    folder, names = _listing(lake, hour_us)
    if lake.remote and not names and not lake.exists():
        # the hour's prefix is empty: a new hour, or the lake deleted under a running process
        # (its prefix, the bucket kept). Landing would make a lake there without its marker,
        # answered 200 for events nobody finds: refused as a missing local folder is (one HEAD
        # of the marker, only when an hour holds nothing yet)
        raise NoLakeError(missing_remote_message(lake))
    with _guard:
        index = _indexes.get(key)
        if index is None or not index.files <= names:  # new, or a covered file is gone
            index = _indexes[key] = HourIndex()
        _indexes.move_to_end(key)
        while len(_indexes) > 1 and (len(_indexes) > MAX_HOURS
                                     or sum(map(len, _indexes.values())) > MAX_IDS):
            _indexes.popitem(last=False)
    uncovered = [folder / n for n in sorted(names - index.files)]
    if uncovered:
        own = con is None
        con = con or connect()
        try:
            with guard(lake, lambda: uncovered):  # a corrupt or foreign file: named, with the fix
                index.add(hash_ids(_read_ids(con, uncovered)))
        finally:
            if own:
                con.close()
        index.files.update(f.name for f in uncovered)
        index.newest = max(index.newest, *(stem_clock(f.name) for f in uncovered))
    return index


def read_index(lake: Lake, hour: datetime) -> HourIndex:
    """The duplicate index of one event hour, up to date with the lake (takes the hour's lock).

    For readers that want the hour's ids without scanning it again (`maybe_contains`,
    `hashes`; hashes are only comparable within this process, see `hash_ids`).
    """
    from voice_monitor.hour_locks import hour_locks

    hour_us = int(hour.astimezone(UTC).timestamp()) // 3600 * _HOUR_US
    with hour_locks(lake, [_hour_start(hour_us)]):
        return current(lake, hour_us)


def duplicate_flags(con, lake: Lake, events: pa.Table, hours: np.ndarray, held: Held,
                    hashes: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """Per event: is its (event_id, hour) already in the lake, or earlier in the batch?

    `events` come in hour order (`checked.sort_by_hour`), `hours` holds each one's hour (hours
    since the epoch), `held` the hour locks the caller holds, `hashes` the events' `hash_ids`
    if the caller has them. Returns the flags and, per hour, the batch's hashes, to hand to
    `landed` once the hour's file is written.
    """
    ids = events.column("event_id")
    hashes = hash_ids(ids) if hashes is None else hashes
    flags = np.zeros(len(hashes), dtype=bool)
    pending = {}
    for hour, start, end in hour_runs(hours):
        mine = hashes[start:end]
        order = np.argsort(mine)  # one sort for the index's searches, the repeats, the adding
        ordered = mine[order]
        index = current(lake, int(hour) * _HOUR_US, con, held)
        candidates = start + np.flatnonzero(index.maybe_contains(mine, order))
        if len(candidates):  # confirm against the hour's actual ids
            folder, names = _listing(lake, int(hour) * _HOUR_US)
            covered = [folder / n for n in sorted(names & index.files)]
            with guard(lake, lambda c=covered: c):
                landed_ids = set(_read_ids(con, covered).to_pylist())
            flags[candidates] = [i in landed_ids for i in _ids_at(ids, candidates)]
        flags[start + _repeats(ids.slice(start, end - start), mine, ordered)] = True
        pending[int(hour)] = (index, ordered)
    return flags, pending


def _ids_at(ids: pa.ChunkedArray, positions: np.ndarray) -> list[str]:
    return ids.take(pa.array(positions)).to_pylist()


def _repeats(ids: pa.ChunkedArray, hashes: np.ndarray, ordered: np.ndarray) -> np.ndarray:
    """Positions whose id already occurred at an earlier position (`ordered`: `hashes` sorted)."""
    if not (ordered[1:] == ordered[:-1]).any():  # no hash twice: no id twice (the usual case)
        return np.empty(0, dtype=np.int64)
    _, inverse, counts = np.unique(hashes, return_inverse=True, return_counts=True)
    shared = np.flatnonzero(counts[inverse] > 1)  # hash shared with another row: compare ids
    seen: set[str] = set()
    repeated = []
    for position, event_id in zip(shared.tolist(), _ids_at(ids, shared), strict=True):
        if event_id in seen:
            repeated.append(position)
        seen.add(event_id)
    return np.array(repeated, dtype=np.int64)


def landed(lake: Lake, pending: dict, written: dict[int, str], held: Held) -> None:
    """Add the batch to the index of each hour whose file is now in place (`written`: hour µs
    // 1 h -> file name), with the stamp this landing left on the hour's lock. An hour whose
    write failed is left out: the next landing finds its file, if any, uncovered and reads it."""
    for hour, (index, hashes) in pending.items():
        name = written.get(hour)
        if name is not None:
            index.add(hashes, presorted=True)
            index.files.add(name)
            index.newest = max(index.newest, stem_clock(name))
            index.stamp = held.mine(_hour_start(hour * _HOUR_US))
