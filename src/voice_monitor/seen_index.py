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
_INVERSE = np.uint64(pow(0x100000001B3, -1, 2**64))  # _PRIME is odd: invertible modulo 2^64
_CHUNK_BYTES = 1 << 18  # bytes of ids hashed together: the powers kept stay at a few MB
_powers = np.ones(1, dtype=np.uint64)  # _PRIME ** i
_inverses = np.ones(1, dtype=np.uint64)  # _INVERSE ** i


def _powers_to(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(_PRIME ** i, _INVERSE ** i) for i < n at least, grown by doubling."""
    global _powers, _inverses
    if len(_powers) < n:
        size = max(n, 2 * len(_powers))
        powers, inverses = np.ones(size, np.uint64), np.ones(size, np.uint64)
        with np.errstate(over="ignore"):
            filled = 1
            while filled < size:  # [filled, filled + m) from [0, m): times base ** filled
                m = min(filled, size - filled)
                powers[filled:filled + m] = powers[:m] * powers[filled - 1] * _PRIME
                inverses[filled:filled + m] = inverses[:m] * inverses[filled - 1] * _INVERSE
                filled += m
        _powers, _inverses = powers, inverses
    return _powers, _inverses


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
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.empty(0, np.uint8)
    lengths = np.diff(offsets)
    h = np.empty(n, dtype=np.uint64)
    start = 0
    while start < n:  # rows of at most _CHUNK_BYTES together (a longer id alone)
        end = max(start + 1, int(np.searchsorted(offsets, offsets[start] + _CHUNK_BYTES, "right")) - 1)
        end = min(end, n)
        h[start:end] = _polynomial(data, offsets[start:end + 1])
        start = end
    with np.errstate(over="ignore"):
        h ^= lengths.astype(np.uint64) * _GOLDEN
        h ^= h >> _S33
        h *= _MIX1
        h ^= h >> _S33
        h *= _MIX2
        h ^= h >> _S33
    return h.view(np.int64)


def _polynomial(data: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Per id (the bytes from offsets[i] to offsets[i + 1]): the sum over its bytes b_j of
    (b_j + 1) * _PRIME ** (L - 1 - j), modulo 2^64. As _PRIME is invertible, that is
    _PRIME ** (end - 1) * (C[end] - C[start]) with C the running sum of
    (b_k + 1) * _INVERSE ** k over the ids' bytes: one pass over the bytes, no loop per id."""
    first = int(offsets[0])
    relative = offsets - first
    total = int(relative[-1])
    powers, inverses = _powers_to(total + 1)
    with np.errstate(over="ignore"):
        running = np.empty(total + 1, dtype=np.uint64)
        running[0] = 0
        terms = running[1:]  # computed in place: one buffer, no temporaries
        np.add(data[first:first + total], np.uint64(1), out=terms, dtype=np.uint64,
               casting="unsafe")
        np.multiply(terms, inverses[:total], out=terms)
        np.cumsum(terms, out=terms)
        ends = relative[1:]
        # an empty id sums nothing (its factor, whatever it is, multiplies zero)
        return (running[ends] - running[relative[:-1]]) * powers[np.maximum(ends - 1, 0)]


_SIEVE_BITS = (16, 24)  # log2 of a sieve's bits, least and most: 8 KiB to 2 MiB
_SIEVE_BITS_PER_HASH = 16


class Sieve:
    """The hashes an index surely lacks, for a few µs: a bitmap of the top bits of every hash it
    holds, ~16 bits per hash (2 bytes, beside the index's 8; at most 2 MiB). A hash the index
    lacks finds its bit set by chance ~1 time in 16 (more once an index is over ~1M hashes), so
    the index's binary searches (100-250 µs per level for a landing's 2,000 hashes) run on those
    few only. The bitmap doubles, made again from every hash held, as the index grows."""

    def __init__(self) -> None:
        self._bits = 0
        self._map = np.zeros(0, np.uint8)
        self._count = 0  # hashes added (copies too: an upper bound of those held)

    def add(self, hashes: np.ndarray, held) -> None:
        """Note `hashes`, just added to the index; `held()`: every hash it holds now (arrays)."""
        self._count += len(hashes)
        bits = min(max(int(self._count * _SIEVE_BITS_PER_HASH - 1).bit_length(), _SIEVE_BITS[0]),
                   _SIEVE_BITS[1])
        if bits != self._bits:
            self._bits, self._map = bits, np.zeros(1 << (bits - 3), np.uint8)
            for part in held():
                self._set(part)
        else:
            self._set(hashes)

    def _top(self, hashes: np.ndarray) -> np.ndarray:
        return (hashes.view(np.uint64) >> np.uint64(64 - self._bits)).astype(np.int64)

    def _set(self, hashes: np.ndarray) -> None:
        if not len(hashes):
            return
        top = self._top(hashes)
        np.bitwise_or.at(self._map, top >> 3, np.left_shift(1, top & 7).astype(np.uint8))

    def maybe(self, hashes: np.ndarray) -> np.ndarray:
        """Per hash: could the index hold it (False: surely not)?"""
        if not self._bits:
            return np.zeros(len(hashes), bool)
        top = self._top(hashes)
        return (self._map[top >> 3] >> (top & 7).astype(np.uint8)) & 1 == 1


class HourKeys:
    """One hour's counted events: sorted hashes with the block of each, in levels of
    geometrically growing sizes merged as they fill (amortised O(log n) per event)."""

    def __init__(self) -> None:
        self._levels: list[tuple[np.ndarray, np.ndarray]] = []  # (hashes, blocks), sorted
        self._sieve = Sieve()

    def __len__(self) -> int:
        return sum(len(h) for h, _ in self._levels)

    def add(self, hashes: np.ndarray, blocks: np.ndarray) -> None:
        # the order among equal hashes does not matter (`candidates` takes every block of a
        # hash): an unstable sort, 3-5x faster; merging two sorted runs, a stable one (linear)
        if not len(hashes):  # (an empty level would end every search past its end)
            return
        order = np.argsort(hashes)
        levels = self._levels
        levels.append((hashes[order], blocks[order]))
        while len(levels) > 1 and len(levels[-2][0]) <= 2 * len(levels[-1][0]):
            (h2, b2), (h1, b1) = levels.pop(), levels.pop()
            h, b = np.concatenate([h1, h2]), np.concatenate([b1, b2])
            order = np.argsort(h, kind="stable")
            levels.append((h[order], b[order]))
        self._sieve.add(hashes, lambda: [h for h, _ in levels])

    def candidates(self, hashes: np.ndarray,
                   order: np.ndarray | None = None) -> tuple[np.ndarray, set[int]]:
        """Per hash, could its id be counted already; and the blocks that could hold it.
        `order`: the permutation that sorts `hashes`, if the caller has it."""
        hit = np.zeros(len(hashes), dtype=bool)
        blocks: set[int] = set()
        order = np.argsort(hashes) if order is None else order
        # only the hashes the sieve cannot rule out are searched (rare: copies of counted
        # events, or a top-bits match by chance); sorted: each search starts where the last ended
        order = order[self._sieve.maybe(hashes[order])]
        needles = hashes[order]
        for level, owners in self._levels if len(needles) else ():
            at = np.searchsorted(level, needles, "left")
            found = level[np.minimum(at, len(level) - 1)] == needles  # (past the end: no match)
            if found.any():  # rare: copies of counted events, or a hash collision
                hit[order[found]] = True
                ends = np.searchsorted(level, needles[found], "right")
                for a, b in zip(at[found].tolist(), ends.tolist(), strict=True):
                    blocks.update(owners[a:b].tolist())
        return hit, blocks


def first_copies(ids: pa.Array, hashes: np.ndarray, order: np.ndarray | None = None) -> np.ndarray:
    """Positions of the first copy of each distinct id, in input order (hash ties compared by
    id, so two ids sharing a hash both stay). `order`: the permutation that sorts `hashes`,
    if the caller has it."""
    ordered = np.sort(hashes) if order is None else hashes[order]
    if not (ordered[1:] == ordered[:-1]).any():  # as usual: no hash twice, every row a first
        return np.arange(len(hashes))
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
