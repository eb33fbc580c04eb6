"""Validated batches on their way to the lake: merged into groups, events sorted by hour.

`landing.check` makes a `Checked` (validation reads nothing of the lake, so it may run ahead of
earlier landings, on another thread); `landing.commit` lands it. Consecutive batches of one file
are gathered into a group (`grouped`, on the thread that validates ahead) and merged, sorted by
hour, as the group is landed (`merge`, on the landing thread, which is the less busy one): fewer,
larger hour files.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from voice_monitor.schema import EVENT_SCHEMA


@dataclass
class Checked:
    """Batches validated, not yet landed: what `commit` needs of them."""

    sources: list[str]
    sizes: list[int]
    accepted: pa.Table
    rejected: pa.Table
    by_hour: ByHour | None = None  # `accepted` as stored, sorted by hour (see `sort_by_hour`)

    def sorted_by_hour(self) -> ByHour:
        if self.by_hour is None:
            self.by_hour = sort_by_hour(self.accepted)
            self.accepted = self.by_hour.events  # the same events: one copy in memory, not two
        return self.by_hour


@dataclass
class ByHour:
    """Accepted events as stored, in hour order (input order inside each hour: the first
    landed wins on de-dup), with each event's hour (hours since the epoch) in input order, and
    the permutation that sorted them (None where they came in hour order)."""

    events: pa.Table
    hours: np.ndarray
    order: np.ndarray | None

    def sorted_hours(self) -> np.ndarray:
        return self.hours if self.order is None else self.hours[self.order]

    def in_input_order(self, flags: np.ndarray) -> np.ndarray:
        if self.order is None:
            return flags
        unsorted = np.empty_like(flags)
        unsorted[self.order] = flags
        return unsorted


def sort_by_hour(accepted: pa.Table) -> ByHour:
    events = as_stored(accepted)
    hours = events.column("timestamp").combine_chunks().cast(pa.int64()).to_numpy() // _HOUR_US
    if not (np.diff(hours) < 0).any():
        return ByHour(events, hours, None)
    order = np.argsort(hours, kind="stable")
    return ByHour(_permuted(events, order), hours, order)


def _permuted(table: pa.Table, order: np.ndarray) -> pa.Table:
    """`table.take(order)` for a permutation `order`, a column that is all null kept as it is
    (a producer's batch leaves most of the ~30 columns empty: ~60 % of the take's time)."""
    index = pa.array(order)
    return pa.Table.from_arrays(
        [c if c.null_count == len(c) else c.take(index) for c in table.columns], schema=table.schema)


def as_stored(accepted: pa.Table) -> pa.Table:
    """Accepted events with the stored schema (`EVENT_SCHEMA`). Validation gives its column
    types already, only marked nullable: then the columns are taken as they are (casting each
    costs ~20 µs, a few % of a small landing), after the null check a cast would make."""
    schema = accepted.schema
    if schema.names == EVENT_SCHEMA.names and all(
            have.type == want.type and (want.nullable or not column.null_count)
            for have, want, column in zip(schema, EVENT_SCHEMA, accepted.columns, strict=True)):
        return pa.Table.from_arrays(accepted.columns, schema=EVENT_SCHEMA)
    return accepted.cast(EVENT_SCHEMA)


_HOUR_US = 3_600_000_000


# validated batches of a file are landed together, up to this many batches or events: fewer,
# larger hour files (writing one costs ~1 ms whatever its size, plus ~0.7 µs an event). The
# events of a group take ~280 bytes each in memory, and at most two groups are held (one
# landing, one filling) beside the batch being validated
GROUP_BATCHES = 3
GROUP_ROWS = 200_000


def grouped(checked: Iterable[Checked], batches: int | None = None,
            rows: int | None = None) -> Iterator[list[Checked]]:
    """Consecutive validated batches in groups to land as one (`merge`): `batches` at most,
    and while under `rows` events."""
    batches, rows = batches or GROUP_BATCHES, rows or GROUP_ROWS
    group: list[Checked] = []
    for batch in checked:
        group.append(batch)
        if len(group) >= batches or sum(b.accepted.num_rows for b in group) >= rows:
            yield group
            group = []
    if group:
        yield group


def merge(checked: list[Checked]) -> Checked:
    """Validated batches as one: input order kept, rejects' line numbers counted across all.
    Each batch is sorted by hour in turn (one batch's copy at a time in memory), and the merge
    is too, without a copy of the events: each hour's rows are that hour's slices of each
    batch, in turn."""
    for batch in checked:
        if batch.accepted.num_rows:
            batch.sorted_by_hour()
    if len(checked) == 1:
        return checked[0]
    starts = np.cumsum([0, *[sum(c.sizes) for c in checked]])
    rejected = [c.rejected.set_column(0, "line_no", pc.add(c.rejected.column("line_no"), int(start)))
                for c, start in zip(checked, starts, strict=False) if c.rejected.num_rows]
    with_events = [c for c in checked if c.accepted.num_rows]
    merged = Checked([s for c in checked for s in c.sources], [n for c in checked for n in c.sizes],
                     checked[0].accepted, _concat_same(rejected) if rejected else checked[0].rejected)
    if not with_events:
        return merged
    merged.by_hour = _merge_sorted([c.by_hour for c in with_events])
    merged.accepted = merged.by_hour.events
    return merged


def _merge_sorted(parts: list[ByHour]) -> ByHour:
    hours = np.concatenate([p.hours for p in parts])
    if not (np.diff(hours) < 0).any():
        return ByHour(pa.concat_tables([p.events for p in parts]), hours, None)
    slices = []
    runs = [{hour: (start, end) for hour, start, end in hour_runs(p.sorted_hours())}
            for p in parts]
    for hour in np.unique(hours).tolist():
        for part, part_runs in zip(parts, runs, strict=True):
            if hour in part_runs:
                start, end = part_runs[hour]
                slices.append(part.events.slice(start, end - start))
    # the same order a stable sort of all the events by hour gives
    return ByHour(pa.concat_tables(slices), hours, np.argsort(hours, kind="stable"))


def distinct(values: np.ndarray) -> list[int]:
    """The distinct values (hours) of an integer array, ascending; the usual single one
    without a sort or a hash table, a few close ones by a count per value in the span (numpy's
    `unique` hashes every value: ~6 instructions a value here, against ~600)."""
    if not len(values):
        return []
    low, high = int(values.min()), int(values.max())
    if low == high:
        return [low]
    if high - low < _DENSE_SPAN:
        return (np.flatnonzero(np.bincount(values - low)) + low).tolist()
    return np.unique(values).tolist()


_DENSE_SPAN = 1 << 12  # a count per value of a span this wide costs less than the hash table


def hour_runs(sorted_hours: np.ndarray) -> list[tuple[int, int, int]]:
    """(hour, start, end) of each hour's rows, in hours that are sorted."""
    if not len(sorted_hours):
        return []
    cuts = [0, *(np.flatnonzero(np.diff(sorted_hours)) + 1).tolist(), len(sorted_hours)]
    return [(int(sorted_hours[a]), a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]


def _concat_same(tables: list[pa.Table]) -> pa.Table:
    return pa.concat_tables([t.cast(tables[0].schema) for t in tables])
