"""Landing: raw records in, validated events into hour partitions, rejects into quarantine.

Nothing is lost: every input record ends up in exactly one of the two. Events are durable
(files and their names fsync'd) before the real-time counters count them, so the counters never
count an event the lake does not hold, even after a power loss.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from voice_monitor import arguments, copy_log, dup_index, hour_files, uncounted
from voice_monitor.checked import Checked, distinct, grouped, hour_runs, merge
from voice_monitor.counters import HASH_COLUMN, CounterStore, open_counters, shared
from voice_monitor.fastpath import validate_fast as validate
from voice_monitor.hour_locks import hour_locks
from voice_monitor.lake import (
    Lake,
    NoLakeError,
    as_lake,
    connect,
    missing_remote_message,
    sync_folders,
)
from voice_monitor.mappings import Rejected, dumps
from voice_monitor.records import as_raw, split_file, split_line_arrays, without_leading_boms
from voice_monitor.schema import DICTIONARY_COLUMNS, QUARANTINE_SCHEMA
from voice_monitor.sql import load_sql
from voice_monitor.streaming import BATCH_BYTES, InputFileError, LineBatch, ahead, read_batches  # noqa: F401 (callers catch landing.InputFileError)

log = logging.getLogger(__name__)


@dataclass
class LandingResult:
    """What one landing did: counts, and the partitions it wrote to."""

    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    partitions: list[str] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)

    def add(self, other: LandingResult) -> None:
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.quarantined += other.quarantined
        self.partitions = sorted(set(self.partitions) | set(other.partitions))
        for reason, n in other.reasons.items():
            self.reasons[reason] = self.reasons.get(reason, 0) + n

    def as_dict(self) -> dict:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "partitions": self.partitions,
        }


def land_lines(
    lake: Lake | str | os.PathLike[str],
    lines: list[str] | list[bytes] | pa.Array,
    source: str,
    now: datetime | None = None,
    counters: CounterStore | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> LandingResult:
    """Validate raw records and land them: events by hour, rejects to quarantine.

    Each record is a JSON text (str, or bytes that may not be UTF-8) or a `mappings.Rejected`;
    one that is a JSON array is its elements, each a record (a line of JSON Lines holding an
    array, `records.split_line_arrays`); a byte-order mark at a record's start is ignored, as
    at a line's start in a file. No record can make this raise: one that breaks
    validation itself is quarantined alone. `counters` and `con`: as `land_batches` takes them.
    """
    return land_batches(lake, [split_line_arrays(without_leading_boms(lines))], [source], now,
                        counters, con)[0]


def land_batches(
    lake: Lake | str | os.PathLike[str],
    batches: list[list[str] | pa.Array],
    sources: list[str],
    now: datetime | None = None,
    counters: CounterStore | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> list[LandingResult]:
    """Land several batches as one (one validation, one file per hour), with a result per batch.

    The collector's group commit: batches that arrive together cost one landing, and each
    sender still learns its own counts. Duplicates are counted in input order across the
    batches, as if they had been landed one after the other. A caller that lands often may
    pass its own `counters` and DuckDB connection (from `lake.connect`), kept open between
    landings; one thread at a time.
    """
    if len(batches) != len(sources):
        raise ValueError(f"{len(batches)} batches but {len(sources)} sources; give one per batch")
    lake = as_lake(lake)
    now = arguments.utc_now(now)
    own_con = con is None
    con = connect() if own_con else con
    try:
        return commit(lake, check(con, batches, sources, now), now, counters, con)
    finally:
        if own_con:
            con.close()


def check(con: duckdb.DuckDBPyConnection, batches: list, sources: list[str],
          now: datetime) -> Checked:
    """Validation, which reads nothing of the lake: it may run ahead of earlier landings."""
    sizes = [len(b) for b in batches]
    # the batches' own text of their records each followed by a newline, where each has it
    texts = [b.joined if isinstance(b, LineBatch) else None for b in batches]
    joined = None
    if all(text is not None for text in texts):
        joined = texts[0] if len(texts) == 1 else pa.py_buffer(b"".join(texts))
    lines = _concat([b.records if isinstance(b, LineBatch) else b for b in batches])
    if len(lines) == 0:
        return Checked(sources, sizes, pa.table({}), pa.table({}))
    accepted, rejected = _validate_each(con, lines, now, now, joined)  # received_at is `now`
    return Checked(sources, sizes, accepted, rejected)


def commit(lake: Lake, checked: Checked, now: datetime, counters: CounterStore | None,
           con: duckdb.DuckDBPyConnection) -> list[LandingResult]:
    """Land validated batches: rejects to quarantine, events counted for duplicates and written
    under their hours' locks, then, once durable, counted by the counters."""
    sources, sizes, accepted, rejected = (checked.sources, checked.sizes, checked.accepted,
                                          checked.rejected)
    results = [LandingResult() for _ in sizes]
    if not sum(sizes):
        return results
    lake.check_landing()  # made at the handle's first landing; refused once gone since
    received_at = now  # also ingested_at: an explicit `now` replays landing as of that moment
    lake.clean_tmp()  # what crashed writers left (see Lake.clean_tmp: never a live one's files)
    starts = np.cumsum([0, *sizes[:-1]])
    # the store is opened before anything is written: one that cannot be opened (a damaged
    # file) fails the landing with nothing landed, not even the quarantine its retry writes
    store = (counters or open_counters(lake)) if accepted.num_rows else None
    quarantining = None  # the quarantine file, written beside the events; in place at return
    quarantined: list = []  # its path, once placed
    try:
        if store is not None and (waiting := uncounted.notes(lake)):
            # events an earlier landing placed but could not count (its store's disk full):
            # counted first, before this landing's copies of them (one listing when none wait)
            uncounted.count(lake, store, now, waiting)
        if rejected.num_rows:
            if lake.remote and not lake.exists():
                # the lake's prefix deleted under a running process (the bucket kept): its
                # quarantine/ folder would make a lake there again (Lake.exists, older lakes),
                # without its marker, where the events' own check (dup_index.current) refuses
                # to land. One HEAD of the marker, only for a batch with rejects
                raise NoLakeError(missing_remote_message(lake))
            owners = np.searchsorted(starts, rejected.column("line_no").to_numpy(), "right") - 1
            quarantining = _quarantine(con, lake, rejected, pa.array([sources[i] for i in owners],
                                                                     pa.string()), received_at,
                                       quarantined)
            for owner, reason in zip(owners, rejected.column("reason").to_pylist(), strict=True):
                result = results[owner]
                result.quarantined += 1
                rule = reason.split("; ")[0]
                result.reasons[rule] = result.reasons.get(rule, 0) + 1
        if store is not None:
            _land_events(lake, checked, sizes, results, now, store, con)
    except BaseException:
        # the batch is refused and its sender sends it again: a quarantine file it placed
        # would hold its rejects twice (the events it placed count as duplicates, once)
        _withdraw(quarantining, quarantined)
        raise
    finally:
        if counters is None and store is not None:
            store.close()
    if quarantining is not None:
        quarantining.result()
    if store is not None and (common := shared(store)) is not None and common.needs_refill:
        # a shared store that lost its data (Redis restarted without it): the lake's events of
        # the last 2 hours are counted in it again, each once (contract §5); for a caller that
        # keeps its store (a collector) on a background thread: its senders are not kept waiting
        from voice_monitor import counter_refill

        counter_refill.after_landing(lake, now, wait=counters is None)
    return results


def _land_events(lake: Lake, checked: Checked, sizes: list[int], results: list[LandingResult],
                 now: datetime, store: CounterStore, con: duckdb.DuckDBPyConnection) -> None:
    """The accepted events: written, counted for duplicates and placed under their hours'
    locks, their new names fsync'd, and only then counted by the store, still under the locks."""
    by_hour = checked.sorted_by_hour()
    events, hours = _positive_zeros(by_hour.events), by_hour.sorted_hours()
    # the hour files are written to .tmp/ meanwhile (None: on an object store, under the locks)
    staged = hour_files.stage(lake, events, hours)
    written: dict[int, str] = {}
    placed: list = []  # folders whose new names are fsync'd before the landing answers
    intent = None  # the note that this landing's events are not counted yet (uncounted.py)
    counted = False
    try:
        # the ids' stable hashes, once: the duplicate index and the counter store both key on them
        hashes = dup_index.hash_ids(events.column("event_id"))
        # the counters' own work while the files are written; nothing is counted yet. Copies
        # too: the store knows every event it was handed, counted or not by its type, so a
        # copy of the lake's first-landed event counts nothing (a copy of a `retry_initiated`
        # is never an `artifact_received`), and events landed again after a crash between
        # their file and their count are counted then
        counting = store.prepare(events.append_column(HASH_COLUMN, pa.array(hashes)), now)
        # noted before the first file is placed (and outside the locks), removed once counted:
        # a process killed between the two leaves the note for the next landing or read
        intent = uncounted.begin(lake, now, int(hours[0]), int(hours[-1]))
        # counted and placed under the hours' locks: each count sees every earlier landing
        with hour_locks(lake, _hour_starts(distinct(hours))) as held:
            duplicate, pending = dup_index.duplicate_flags(con, lake, events, hours, held, hashes)
            # each file named after every file its hour holds: name order is landing order
            # (the copies' ranking, sql/macros/landing_rank.sql), even from a clock behind
            after = {hour: index.newest for hour, (index, _) in pending.items()}
            try:
                if staged is None:
                    _write_hours(lake, events, hours, written, after)
                else:
                    placed = staged.place(written, after)
            finally:  # whatever was written is in the lake: the index may now hold it
                dup_index.landed(lake, pending, written, held)
                # and the hour's copy log its later copies, for the rollup (copy_log.py)
                copy_log.record_landing(lake, pending, written, events, hours, duplicate)
            # the new names made durable (power loss, not only a crash), then counted once the
            # lake holds the events durably: after a power loss the counters never count an
            # event the lake lost (a failed fsync counts nothing; the retry will). Both still
            # under the hours' locks: a later landing of another copy of an event counts (as a
            # copy, nothing) only after this one's count, so the counters count the copy the lake
            # ranks first (contract §3 "the first one landed wins")
            if placed:
                sync_folders(placed)
            store.commit(counting)
            counted = True
    finally:
        # the note removed once counted; files in place that the store did not count (its disk
        # full, Redis gone): kept, so that the next landing or read counts them (contract §5)
        uncounted.settle(lake, intent, now, list(written), counted)
        if staged is not None:
            staged.discard(written)  # what was not placed (a failure): removed
    duplicate = by_hour.in_input_order(duplicate)
    # accepted rows keep input order: each batch's are the next (size - quarantined)
    offset = 0
    folders = {hour: _partition(lake, hour) for hour in pending}  # each hour's, once
    for size, result in zip(sizes, results, strict=True):
        result.accepted = size - result.quarantined
        mine = slice(offset, offset + result.accepted)
        result.duplicates = int(duplicate[mine].sum())
        result.partitions = [folders[hour] for hour in distinct(by_hour.hours[mine])]
        offset += result.accepted


def _positive_zeros(events: pa.Table) -> pa.Table:
    """The events with every -0.0 (a valid `duration_ms`, >= 0) stored as 0.0: shown '-0.0' and
    keyed apart from 0.0 by a hash of its bits. Adding 0.0 changes no other double."""
    for i, column in enumerate(events.schema):
        if pa.types.is_floating(column.type):
            events = events.set_column(i, column, pc.add(events.column(i), 0.0))
    return events


def _concat(batches: list[list[str] | pa.Array]) -> list[str] | pa.Array:
    if len(batches) == 1:
        return batches[0]
    if all(isinstance(b, pa.Array) for b in batches):  # records as bytes: they may not be UTF-8
        return pa.concat_arrays([b.cast(pa.large_binary()) for b in batches])
    return [line for b in batches
            for line in (b.to_pylist() if isinstance(b, pa.Array) else b)]


def land_records(
    lake: Lake | str | os.PathLike[str],
    records: Iterable[Mapping],
    source: str = "python",
    now: datetime | None = None,
    counters: CounterStore | None = None,
) -> LandingResult:
    """Land Python mappings (snake_case or camelCase) as events.

    A value JSON cannot hold as it is (NaN, Infinity, bytes, a set...) quarantines its record
    with the reason: the same rules as a file, nothing converted (see `mappings.dumps`).
    """
    return land_lines(lake, [dumps(r) for r in records], source, now, counters)


# errors of the machine, not of a record: landing fails (and is retried) rather than quarantining
_ENVIRONMENT = (OSError, MemoryError, duckdb.IOException, duckdb.OutOfMemoryException)


def _validate_each(con, lines, now: datetime, received_at: datetime,
                   joined: pa.Buffer | None = None) -> tuple[pa.Table, pa.Table]:
    """`validate`, except that a record on which validation itself fails is rejected alone:
    the batch is halved until the failing record stands by itself."""
    try:
        if joined is not None:  # (a file's batch; `validate` may be the full rules alone)
            return validate(con, lines, now, received_at, joined=joined)
        return validate(con, lines, now, received_at)
    except _ENVIRONMENT:
        raise
    except Exception as exc:
        if len(lines) == 1:
            line = lines[0].as_py() if isinstance(lines, pa.Array) else lines[0]
            raw = line.raw if isinstance(line, Rejected) else as_raw(line)
            return validate(con, [Rejected(raw, f"record could not be validated ({type(exc).__name__}: "
                                                f"{exc}); please report it")], now, received_at)
    half = len(lines) // 2
    parts = [_validate_each(con, lines[:half], now, received_at),
             _validate_each(con, lines[half:], now, received_at)]
    shifted = parts[1][1].set_column(0, "line_no", pc.add(parts[1][1].column("line_no"), half))
    return (pa.concat_tables([parts[0][0], parts[1][0]]),
            pa.concat_tables([parts[0][1], shifted]))


def ingest_file(
    lake: Lake | str | os.PathLike[str], path: str | os.PathLike[str], now: datetime | None = None,
    counters: CounterStore | None = None, batch_bytes: int = BATCH_BYTES,
    source: str | None = None, into: LandingResult | None = None,
) -> LandingResult:
    """Land one file (JSON Lines, a JSON array, or Parquet) batch by batch: memory is bounded
    by the batch, not the file (see `streaming.read_batches`). Consecutive batches land
    together as a group (`checked.grouped`); a copy of an event in a later batch or group counts
    as a duplicate as it would in one landing. `source`: what quarantine records as the input
    (default: the path). `into`: a result each group is added to as it lands, and returned, so
    that a caller knows what landed of the file before an error (a damaged Parquet row group)."""
    lake = as_lake(lake)
    now = arguments.utc_now(now)  # one ingested_at for the whole file
    total = LandingResult() if into is None else into
    con, ahead_con = connect(), connect()  # one for landing, one for the thread validating ahead
    store = counters
    try:
        # the next batches are read, validated and grouped on a thread of their own while
        # this group is sorted by hour and landed (both cores): two groups in memory at most
        groups = ahead(grouped(check(ahead_con, [records], [source or str(path)], now)
                               for records in read_batches(Path(path), batch_bytes)))
        try:
            for group in groups:
                if store is None:  # one store for the file: it reads the counters' state once
                    lake.check_landing()  # before the store makes state/ in a lake gone since
                    store = open_counters(lake)
                for result in commit(lake, merge(group), now, store, con):
                    total.add(result)
        finally:
            groups.close()  # the thread ahead has stopped before its connection closes
    finally:
        con.close()
        ahead_con.close()
        if counters is None and store is not None:
            store.close()
    return total


def parse_records(data: bytes) -> pa.Array:
    """The raw records of JSON input (a JSON array, else JSON Lines), one JSON text (bytes)
    each: see `records.split_file` (BOM, \\r\\n, each array element its own record)."""
    return split_file(data)


def _write_hours(lake: Lake, events: pa.Table, hours: np.ndarray, written: dict[int, str],
                 after: dict[int, int]) -> None:
    # `events` in hour order, `hours` each one's hour (hours since the epoch), `after` each
    # hour's newest name clock
    parts = [(hour, events.slice(start, end - start)) for hour, start, end in hour_runs(hours)]

    def write(part: tuple) -> None:
        # `written`: hours since the epoch -> the file's name, once it is in place
        written[part[0]] = lake.write_file(part[1], lake.event_partition(_hour_start(part[0])),
                                           after=after.get(int(part[0]), -1),
                                           use_dictionary=DICTIONARY_COLUMNS).name

    workers = min(len(parts), os.cpu_count() or 1)
    if workers > 1 and events.num_rows >= hour_files.PARALLEL_WRITE_ROWS:
        try:
            # Parquet encoding releases the GIL: write the hours side by side.
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(write, parts))
            return
        except RuntimeError as exc:
            # at interpreter exit (a producer flushing from atexit) no thread may start; the
            # refusal comes at the first submit, before any file is written
            if "interpreter shutdown" not in str(exc):
                raise
    for part in parts:
        write(part)


def _hour_start(hour: int) -> datetime:
    return datetime.fromtimestamp(hour * 3600, UTC)


def _hour_starts(hours: Iterable[int]) -> list[datetime]:
    return [_hour_start(int(hour)) for hour in hours]


def _partition(lake: Lake, hour: int) -> str:
    """The event partition of an hour (hours since the epoch), relative to the lake's root."""
    return str(lake.event_partition(_hour_start(hour)).relative_to(lake.root))


def _quarantine(con: duckdb.DuckDBPyConnection, lake: Lake, rejected: pa.Table,
                source: str | pa.Array, received_at: datetime,
                placed: list | None = None) -> Future | None:
    """Start writing the rejects' quarantine file on a writer thread (its encoding and fsync
    beside the events' own); None where it was written at once (see `hour_files.beside`).
    `placed` gets the file's path once it is in place."""
    n = rejected.num_rows
    reasons = rejected.column("reason").cast(pa.string())
    table = pa.table(
        {
            "raw": rejected.column("raw").cast(pa.string()),
            "reason": reasons,
            "reason_category": reason_categories(con, reasons.to_pylist()),
            "source": source if isinstance(source, pa.Array) else pa.array([source] * n, pa.string()),
            "received_at": pa.array([received_at] * n, pa.timestamp("us", tz="UTC")),
        },
        schema=QUARANTINE_SCHEMA,
    )
    placed = [] if placed is None else placed

    def write(table: pa.Table, folder: Path) -> None:
        placed.append(lake.write_file(table, folder))

    return hour_files.beside(write, table, lake.quarantine_partition(received_at))


def _withdraw(quarantining: Future | None, placed: list) -> None:
    """Remove a failed landing's quarantine file, once its writer is done (it may place the
    file after the landing failed); best effort: the landing's own error is the one to raise."""
    if quarantining is not None:
        with contextlib.suppress(Exception):  # (not placed: nothing to remove)
            quarantining.result()
    for path in placed:
        try:
            path.unlink(missing_ok=True)
        except Exception as e:  # any: an object store's client raises more than OSError
            log.error("a refused batch's quarantine file %s could not be removed (%s: %s); its "
                      "rejects are quarantined again when the batch is sent again: remove that "
                      "file", path, type(e).__name__, e)


# reason -> category, as the one rule table (sql/macros/reason_category.sql) says; a landing
# asks DuckDB only about reasons no landing of this process has met (a bind costs ~50 ms)
_categories: OrderedDict[str | None, str | None] = OrderedDict()
_categories_guard = threading.Lock()
MAX_CATEGORIES = 4096
_with_macro: weakref.WeakSet = weakref.WeakSet()  # connections that hold the macros


def reason_categories(con: duckdb.DuckDBPyConnection, reasons: list[str | None]) -> pa.Array:
    """The category code of each quarantine reason (`reason_category_of`), reasons met before
    looked up in this process's memory, the others asked of DuckDB in one query."""
    with _categories_guard:
        known = {r: _categories[r] for r in set(reasons) if r in _categories}
    new = [r for r in dict.fromkeys(reasons) if r not in known]
    if new:
        if con not in _with_macro:
            con.execute(load_sql("macros/reason_category"))
            _with_macro.add(con)
        [(found,)] = con.execute("select list_transform($reasons, lambda r: reason_category_of(r))",
                                 {"reasons": new}).fetchall()
        known.update(zip(new, found, strict=True))
        with _categories_guard:
            _categories.update(zip(new, found, strict=True))
            while len(_categories) > MAX_CATEGORIES:
                _categories.popitem(last=False)
    return pa.array([known[r] for r in reasons], pa.string())
