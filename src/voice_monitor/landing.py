"""Landing: raw records in, validated events into hour partitions, rejects into quarantine.

Nothing is lost: every input record ends up in exactly one of the two. Events are written
before the real-time counters are told about them, so the counters never count an event the
lake does not hold.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from voice_monitor.counters import CounterStore, open_counters
from voice_monitor.lake import Lake, connect, duckdb_path
from voice_monitor.schema import EVENT_SCHEMA, QUARANTINE_SCHEMA
from voice_monitor.validation import validate


class InputFileError(Exception):
    """An input file cannot be read at all (missing, unreadable, not a supported format)."""


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
    lake: Lake,
    lines: list[str] | pa.Array,
    source: str,
    now: datetime | None = None,
    counters: CounterStore | None = None,
) -> LandingResult:
    """Validate raw JSON texts and land them: events by hour, rejects to quarantine."""
    return land_batches(lake, [lines], [source], now, counters)[0]


def land_batches(
    lake: Lake,
    batches: list[list[str] | pa.Array],
    sources: list[str],
    now: datetime | None = None,
    counters: CounterStore | None = None,
) -> list[LandingResult]:
    """Land several batches as one (one validation, one file per hour), with a result per batch.

    The collector's group commit: batches that arrive together cost one landing, and each
    sender still learns its own counts. Duplicates are counted in input order across the
    batches, as if they had been landed one after the other.
    """
    if len(batches) != len(sources):
        raise ValueError(f"{len(batches)} batches but {len(sources)} sources; give one per batch")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    received_at = now  # also ingested_at: an explicit `now` replays landing as of that moment
    results = [LandingResult() for _ in batches]
    lines = _concat(batches)
    if len(lines) == 0:
        return results
    sizes = [len(b) for b in batches]
    starts = np.cumsum([0, *sizes[:-1]])
    con = connect()
    try:
        accepted, rejected = validate(con, lines, now, received_at)
        if rejected.num_rows:
            owners = np.searchsorted(starts, rejected.column("line_no").to_numpy(), "right") - 1
            _quarantine(lake, rejected, pa.array([sources[i] for i in owners], pa.string()),
                        received_at)
            for owner, reason in zip(owners, rejected.column("reason").to_pylist(), strict=True):
                result = results[owner]
                result.quarantined += 1
                rule = reason.split("; ")[0]
                result.reasons[rule] = result.reasons.get(rule, 0) + 1
        if accepted.num_rows:
            events = accepted.cast(EVENT_SCHEMA)
            duplicate = _duplicate_flags(con, lake, events)
            _write_hours(lake, events)
            # accepted rows keep input order: each batch's are the next (size - quarantined)
            hours = pc.floor_temporal(events.column("timestamp").combine_chunks(), unit="hour")
            offset = 0
            for size, result in zip(sizes, results, strict=True):
                result.accepted = size - result.quarantined
                mine = slice(offset, offset + result.accepted)
                result.duplicates = int(duplicate[mine].sum())
                result.partitions = _partitions(lake, pc.unique(hours[mine]).to_pylist())
                offset += result.accepted
            store = counters or open_counters(lake)
            try:
                store.record(events, now)
            finally:
                if counters is None:
                    store.close()
    finally:
        con.close()
    return results


def _concat(batches: list[list[str] | pa.Array]) -> list[str] | pa.Array:
    if len(batches) == 1:
        return batches[0]
    if all(isinstance(b, pa.Array) for b in batches):
        return pa.concat_arrays([b.cast(pa.large_string()) for b in batches])
    return [line for b in batches
            for line in (b.to_pylist() if isinstance(b, pa.Array) else b)]


def land_records(
    lake: Lake,
    records: Iterable[Mapping],
    source: str = "python",
    now: datetime | None = None,
    counters: CounterStore | None = None,
) -> LandingResult:
    """Land Python mappings (snake_case or camelCase) as events."""
    lines = [orjson.dumps(r, option=orjson.OPT_NON_STR_KEYS, default=str).decode() for r in records]
    return land_lines(lake, lines, source, now, counters)


def ingest_file(
    lake: Lake, path: str | os.PathLike[str], now: datetime | None = None,
    counters: CounterStore | None = None,
) -> LandingResult:
    """Land one file: JSON Lines, a JSON array, or Parquet."""
    return land_lines(lake, read_records(Path(path)), str(path), now, counters)


def read_records(path: Path) -> pa.Array | list[str]:
    """The raw records of an input file, one JSON text each.

    A line that is empty or holds only spaces, tabs and carriage returns is not a record.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputFileError(f"cannot read {str(path)!r}: {exc.strerror}; check the path") from exc
    if data[:4] == b"PAR1":
        return _parquet_records(path)
    return parse_records(data)


def parse_records(data: bytes) -> pa.Array | list[str]:
    """The raw records of JSON input (a JSON array, else JSON Lines), one JSON text each."""
    if data.lstrip()[:1] == b"[":
        try:
            items = orjson.loads(data)
        except orjson.JSONDecodeError:
            # a broken array is kept whole, raw, so that nothing is lost
            return [data.decode("utf-8", errors="replace")]
        return [orjson.dumps(item).decode() for item in items]
    return _split_lines(data)


def _split_lines(data: bytes) -> pa.Array:
    # Split in numpy and Arrow rather than in Python: a million lines stay one buffer (the text
    # with its newlines taken out), not a million objects.
    offsets = pa.py_buffer(struct.pack("<2q", 0, len(data)))
    whole = pa.LargeBinaryArray.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(data)])
    try:
        whole.cast(pa.large_string())
    except pa.ArrowInvalid:  # not UTF-8: keep the record, with U+FFFD for the bad bytes
        data = data.decode("utf-8", errors="replace").encode("utf-8")
    raw = np.frombuffer(data, np.uint8)
    newline = raw == 10
    ends = np.flatnonzero(newline)
    # line i is raw[ends[i-1] + 1 : ends[i]]; without the i newlines before it, it starts i earlier
    starts = np.empty(len(ends) + 2, np.int64)
    starts[0], starts[-1] = 0, len(data) - len(ends)
    starts[1:-1] = ends + 1 - np.arange(1, len(ends) + 1)
    text = np.frombuffer(data.replace(b"\n", b""), np.uint8) if len(ends) else raw
    lines = pa.LargeStringArray.from_buffers(len(ends) + 1, pa.py_buffer(starts), pa.py_buffer(text))
    # a blank line is empty or starts with a space, tab or carriage return: check only those
    first = np.zeros(len(lines), np.uint8)
    nonempty = np.flatnonzero(np.diff(starts) > 0)
    first[nonempty] = text[starts[nonempty]]
    suspects = np.flatnonzero(np.isin(first, (0, 9, 13, 32)))
    blank = [int(i) for i in suspects if not lines[int(i)].as_py().strip(" \t\r")]
    if not blank:
        return lines
    keep = np.ones(len(lines), bool)
    keep[blank] = False
    kept = len(lines) - len(blank)
    if keep[:kept].all():
        return lines.slice(0, kept)  # the usual case: blanks only at the end, no copy
    return lines.filter(pa.array(keep))
def _parquet_records(path: Path) -> pa.Array:
    con = connect()
    try:
        table = con.sql("select to_json(t)::VARCHAR as line from read_parquet($path) t",
                        params={"path": duckdb_path(path)}).to_arrow_table()
    except Exception as exc:
        raise InputFileError(f"cannot read Parquet file {str(path)!r}: {exc}") from exc
    finally:
        con.close()
    return table.column("line").combine_chunks()


def _write_hours(lake: Lake, events: pa.Table) -> list[str]:
    # A stable sort by hour keeps input order inside each hour (first landed wins on de-dup).
    hours = pc.floor_temporal(events.column("timestamp").combine_chunks(), unit="hour")
    order = pc.sort_indices(hours)
    events, runs = events.take(order), pc.run_end_encode(hours.take(order))
    ends = runs.run_ends.to_pylist()
    parts = [(hour, events.slice(start, end - start))
             for hour, start, end in zip(runs.values.to_pylist(), [0, *ends[:-1]], ends, strict=True)]

    def write(part: tuple) -> None:
        lake.write_file(part[1], lake.event_partition(part[0]))

    workers = min(len(parts), os.cpu_count() or 1)
    if workers > 1:
        try:
            # Parquet encoding releases the GIL: write the hours side by side.
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(write, parts))
            return _partitions(lake, [hour for hour, _ in parts])
        except RuntimeError as exc:
            # at interpreter exit (a producer flushing from atexit) no thread may start; the
            # refusal comes at the first submit, before any file is written
            if "interpreter shutdown" not in str(exc):
                raise
    for part in parts:
        write(part)
    return _partitions(lake, [hour for hour, _ in parts])


def _partitions(lake: Lake, hours: list[datetime]) -> list[str]:
    return sorted(str(lake.event_partition(hour).relative_to(lake.root)) for hour in hours)


def _duplicate_flags(con, lake: Lake, events: pa.Table) -> np.ndarray:
    """Per accepted event: is its (event_id, hour) already landed, in the lake or earlier in the batch?"""
    hours = pc.unique(pc.floor_temporal(events.column("timestamp"), unit="hour")).to_pylist()
    existing = [duckdb_path(f) for h in hours for f in lake.event_files(h)]
    batch = events.select(["event_id", "timestamp"]).append_column(
        "i", pa.array(np.arange(events.num_rows, dtype=np.int64)))
    con.register("batch", batch)
    try:
        sql = """
            with b as (select i, event_id, date_trunc('hour', "timestamp") as hour from batch),
            prior as ({prior})
            select i from b
            where exists (select 1 from prior p where p.event_id = b.event_id and p.hour = b.hour)
            union
            select i from b qualify row_number() over (partition by event_id, hour order by i) > 1
        """
        if existing:
            prior = ("select distinct event_id, date_trunc('hour', \"timestamp\") as hour "
                     "from read_parquet($files)")
            found = con.execute(sql.format(prior=prior), {"files": existing}).fetchall()
        else:
            prior = "select null::VARCHAR as event_id, null::TIMESTAMPTZ as hour where false"
            found = con.execute(sql.format(prior=prior)).fetchall()
    finally:
        con.unregister("batch")
    flags = np.zeros(events.num_rows, dtype=bool)
    flags[[i for (i,) in found]] = True
    return flags


def _quarantine(lake: Lake, rejected: pa.Table, source: str | pa.Array, received_at: datetime
                ) -> None:
    n = rejected.num_rows
    table = pa.table(
        {
            "raw": rejected.column("raw"),
            "reason": rejected.column("reason"),
            "source": source if isinstance(source, pa.Array) else pa.array([source] * n, pa.string()),
            "received_at": pa.array([received_at] * n, pa.timestamp("us", tz="UTC")),
        },
        schema=QUARANTINE_SCHEMA,
    )
    lake.write_file(table, lake.quarantine_partition(received_at))
