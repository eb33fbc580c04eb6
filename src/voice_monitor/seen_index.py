"""The counter store's memory of counted events: stable 64-bit hashes of event ids, per hour.

A writer of the embedded counter store keeps, per event hour, the hashes of the ids counted so
far and, beside each, the store row (block) that holds the event, so a landing checks its batch
with a few binary searches instead of one SQLite insert per event. A hash hit is only a
candidate: it is confirmed against the ids held in those blocks, so two ids with the same hash
are both counted and the counts stay exact.

The hash must be the same in every process and every version (other writers read the blocks'
hashes back), so it is computed here from the UTF-8 bytes, vectorised over the Arrow string
buffers: a polynomial hash modulo 2^64 (multiplier the FNV prime, bytes offset by one so that
zero bytes matter), mixed with the id's length and then the MurmurHash3 finaliser. Python's
`hash` is salted per process and DuckDB's may change between versions: neither would do.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

_PRIME = np.uint64(0x100000001B3)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1, _MIX2 = np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53)
_S33 = np.uint64(33)
_powers = np.ones(1, dtype=np.uint64)  # _PRIME ** i, grown on demand


def _powers_to(n: int) -> np.ndarray:
    global _powers
    if len(_powers) < n:
        grown = np.ones(max(n, 2 * len(_powers)), dtype=np.uint64)
        with np.errstate(over="ignore"):
            for i in range(1, len(grown)):
                grown[i] = grown[i - 1] * _PRIME
        _powers = grown
    return _powers


def stable_hashes(ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """int64 hashes of non-null strings, identical in every process and on every platform."""
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    if ids.null_count:
        raise ValueError("stable_hashes needs ids without nulls")
    if ids.type not in (pa.string(), pa.large_string()):
        ids = ids.cast(pa.large_string())
    n = len(ids)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    _, offsets_buf, data_buf = ids.buffers()
    width = np.int64 if ids.type == pa.large_string() else np.int32
    offsets = np.frombuffer(offsets_buf, dtype=width)[ids.offset:ids.offset + n + 1].astype(np.int64)
    first = int(offsets[0])
    lengths = np.diff(offsets)
    total = int(offsets[-1]) - first
    data = np.frombuffer(data_buf, dtype=np.uint8, count=total, offset=first) if total else \
        np.empty(0, dtype=np.uint8)
    with np.errstate(over="ignore"):
        # byte j of an id of length L weighs _PRIME ** (L - 1 - j): Horner's rule, unrolled
        ends = np.repeat(offsets[1:] - first, lengths)
        weights = _powers_to(int(lengths.max()) + 1)[ends - 1 - np.arange(total)]
        products = (data.astype(np.uint64) + np.uint64(1)) * weights
        starts = (offsets[:-1] - first)[lengths > 0]
        h = np.zeros(n, dtype=np.uint64)
        if len(starts):
            h[lengths > 0] = np.add.reduceat(products, starts)
        h ^= lengths.astype(np.uint64) * _GOLDEN
        h ^= h >> _S33
        h *= _MIX1
        h ^= h >> _S33
        h *= _MIX2
        h ^= h >> _S33
    return h.view(np.int64)


class HourKeys:
    """One hour's counted events: sorted hashes with the block of each, in levels of
    geometrically growing sizes merged as they fill (amortised O(log n) per event)."""

    def __init__(self) -> None:
        self._levels: list[tuple[np.ndarray, np.ndarray]] = []  # (hashes, blocks), sorted

    def __len__(self) -> int:
        return sum(len(h) for h, _ in self._levels)

    def add(self, hashes: np.ndarray, blocks: np.ndarray) -> None:
        order = np.argsort(hashes, kind="stable")
        levels = self._levels
        levels.append((hashes[order], blocks[order]))
        while len(levels) > 1 and len(levels[-2][0]) <= 2 * len(levels[-1][0]):
            (h2, b2), (h1, b1) = levels.pop(), levels.pop()
            h, b = np.concatenate([h1, h2]), np.concatenate([b1, b2])
            order = np.argsort(h, kind="stable")
            levels.append((h[order], b[order]))

    def candidates(self, hashes: np.ndarray) -> tuple[np.ndarray, set[int]]:
        """Per hash, could its id be counted already; and the blocks that could hold it."""
        hit = np.zeros(len(hashes), dtype=bool)
        blocks: set[int] = set()
        order = np.argsort(hashes)
        needles = hashes[order]  # sorted: each search starts where the last one ended
        for level, owners in self._levels:
            at = np.searchsorted(level, needles, "left")
            found = at < len(level)
            found[found] = level[at[found]] == needles[found]
            if found.any():  # rare: copies of counted events, or a hash collision
                hit[order[found]] = True
                ends = np.searchsorted(level, needles[found], "right")
                for a, b in zip(at[found].tolist(), ends.tolist(), strict=True):
                    blocks.update(owners[a:b].tolist())
        return hit, blocks


def first_copies(ids: pa.Array, hashes: np.ndarray) -> np.ndarray:
    """Positions of the first copy of each distinct id, in input order (hash ties compared by
    id, so two ids sharing a hash both stay)."""
    _, first, inverse, counts = np.unique(hashes, return_index=True, return_inverse=True,
                                          return_counts=True)
    keep = np.zeros(len(hashes), dtype=bool)
    keep[first] = True
    shared = np.flatnonzero(counts[inverse] > 1)
    seen: set[str] = set()
    for position in shared.tolist():  # rare: copies in the batch, or a hash collision
        event_id = ids[position].as_py()
        keep[position] = event_id not in seen
        seen.add(event_id)
    return np.flatnonzero(keep)
