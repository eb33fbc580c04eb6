"""Checks over the bytes of many strings at once, before (or instead of) a pattern per string.

A regular expression per string costs ~2 ns a byte in RE2; a numpy comparison over the whole
data buffer of a string array costs ~0.1. So where the usual answer is "none of them", one look
at the buffer gives it, and the pattern runs only when that look finds something. The answers are
exactly the pattern's: in UTF-8 no byte of a multi-byte character is below 0x80, so an ASCII
character is found as its byte.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# what a JSON writer (orjson, DuckDB's) escapes in a string; a string without any is written as
# it stands
ESCAPED = '[\\x00-\\x1f"\\\\]'
CONTROL = "[\\x00-\\x1f]"
# opening brackets in a long record that leave it to the full rules (Arrow's JSON reader crashes
# on thousands of levels); a record shorter than LONG bytes cannot nest a tenth as deep
DEEP = 10
LONG = 1024


def string_bytes(column: pa.Array) -> np.ndarray:
    """The bytes of a string/binary array's values, null slots' included, without a copy."""
    return string_buffers(column)[1]


def string_buffers(column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(where each value ends in `string_bytes`, `string_bytes`)."""
    large = pa.types.is_large_string(column.type) or pa.types.is_large_binary(column.type)
    width = np.int64 if large else np.int32
    offsets = np.frombuffer(column.buffers()[1], width, len(column) + 1,
                            column.offset * width(0).itemsize)
    data = column.buffers()[2]
    ends = offsets[1:] - offsets[0]
    if data is None or offsets[-1] == offsets[0]:
        return ends, np.zeros(0, np.uint8)
    return ends, np.frombuffer(data, np.uint8, int(offsets[-1] - offsets[0]), int(offsets[0]))


def unsure_json(texts: pa.Array) -> np.ndarray:
    """Which JSON texts hold a backslash (an escape may hide anything), a control character,
    or, if `LONG` bytes or more, `DEEP` or more opening brackets (`[`, `{`; in strings too):
    those the typed fast path leaves to the full rules unparsed."""
    ends, text = string_buffers(texts)
    unsure = np.zeros(len(texts), bool)
    if not len(text):
        return unsure
    if text.min() < 0x20:
        unsure[_rows(np.flatnonzero(text < 0x20), ends)] = True
    slashes = positions(text, 0x5C)
    if len(slashes):
        unsure[_rows(slashes, ends)] = True
    long = np.flatnonzero(np.diff(ends, prepend=0) >= LONG)
    if len(long):
        some = texts if len(long) == len(texts) else texts.take(pa.array(long))
        ends, text = string_buffers(some)
        opening = np.flatnonzero((text | 0x20) == 0x7B)  # `[` (0x5B) or `{` (0x7B)
        if len(opening) >= DEEP:
            rows = _rows(opening, ends)
            deep = rows[DEEP - 1:] == rows[:1 - DEEP]  # the tenth bracket from here is in this row
            unsure[long[rows[DEEP - 1:][deep]]] = True
    return unsure


_STEP = 1 << 20


def positions(text: np.ndarray, byte: int) -> np.ndarray:
    """Where `text` holds `byte`, looked for a megabyte at a time: no temporary the size of the
    text (the kernel zeroes each fresh page of one: ~5 ms for a 16 MiB batch)."""
    found = []
    equal = np.empty(min(len(text), _STEP), bool)
    for start in range(0, len(text), _STEP):
        part = text[start:start + _STEP]
        hit = np.equal(part, byte, out=equal[:len(part)])
        if hit.any():
            found.append(np.flatnonzero(hit) + start)
    return np.concatenate(found) if found else np.zeros(0, np.int64)


def _rows(positions: np.ndarray, ends: np.ndarray) -> np.ndarray:
    return np.searchsorted(ends, positions, "right")


def json_escapes(column: pa.Array) -> np.ndarray | None:
    """Which strings (of a string or large_string array) hold a character JSON escapes; None
    when none does, as one look at the column's bytes usually shows."""
    text = string_bytes(column)
    if not len(text) or (text.min() >= 0x20 and not (text == 0x22).any()
                         and not (text == 0x5C).any()):
        return None
    return _matches(column, ESCAPED)


def controls(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Which strings hold a control character (below U+0020); null: False."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    found = [np.zeros(len(c), bool) if _min_byte(c) >= 0x20 else _matches(c, CONTROL)
             for c in chunks]
    return np.concatenate(found) if found else np.zeros(0, bool)


def identifier_controls(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Which strings hold what an identifier must not: a control character (below U+0020,
    DEL, U+0080 to U+009F) or a line or paragraph separator (U+2028, U+2029); null: False."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    found = [_other_controls(c) for c in chunks]
    return controls(column) | (np.concatenate(found) if found else np.zeros(0, bool))


def _other_controls(column: pa.Array) -> np.ndarray:
    """Which strings hold DEL, a C1 control (NEL, CSI...) or U+2028/U+2029: characters JSON
    lets stand raw, found as their UTF-8 bytes (7F; C2 80-9F; E2 80 A8-A9)."""
    rows = np.zeros(len(column), bool)
    if pa.types.is_null(column.type) or not len(column):
        return rows
    ends, text = string_buffers(column)
    if not len(text) or text.max() < 0x7F:  # plain ASCII, as identifiers nearly always are
        return rows
    hits = [np.flatnonzero(text == 0x7F)]
    lead = np.flatnonzero(text[:-1] == 0xC2)
    if len(lead):
        hits.append(lead[(text[lead + 1] >= 0x80) & (text[lead + 1] <= 0x9F)])
    lead = np.flatnonzero(text[:-2] == 0xE2)
    if len(lead):
        hits.append(lead[(text[lead + 1] == 0x80) & ((text[lead + 2] == 0xA8)
                                                     | (text[lead + 2] == 0xA9))])
    found = np.concatenate(hits)
    if len(found):
        rows[_rows(found, ends)] = True
    return rows


def rare_matches(column: pa.Array | pa.ChunkedArray, pattern: str) -> pa.Array | np.ndarray:
    """`pc.match_substring_regex(column, pattern)` (null: False) for a `pattern` that seldom
    matches and has no anchor or word boundary: first one pass over all the strings' bytes as
    one text (a string that matches makes that text match), which spares the cost of a pattern
    per string (most of it, for short strings) when nothing matches."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    found = [np.zeros(len(c), bool) if not _anywhere(c, pattern) else _matches(c, pattern)
             for c in chunks]
    return np.concatenate(found) if found else np.zeros(0, bool)


def _anywhere(column: pa.Array, pattern: str) -> bool:
    if pa.types.is_null(column.type):
        return False
    text = string_bytes(column)
    whole = pa.LargeStringArray.from_buffers(1, pa.py_buffer(np.array([0, len(text)], np.int64)),
                                             pa.py_buffer(text))
    return bool(pc.match_substring_regex(whole, pattern)[0].as_py())


def _min_byte(column: pa.Array) -> int:
    if pa.types.is_null(column.type):
        return 0xFF
    text = string_bytes(column)
    return int(text.min()) if len(text) else 0xFF


def _matches(column: pa.Array, pattern: str) -> np.ndarray:
    return bools(pc.match_substring_regex(column, pattern))


def bools(column: pa.Array | pa.ChunkedArray, null: bool = False) -> np.ndarray:
    """A boolean array as numpy, `null` where it is null: its bits unpacked (~15x cheaper than
    `to_numpy(zero_copy_only=False)`, which goes through pandas' conversion)."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    parts = []
    for chunk in chunks:
        values = _bits(chunk.buffers()[1], chunk.offset, len(chunk))
        if chunk.null_count:
            values = np.where(valid(chunk), values, null)
        parts.append(values)
    return _joined(parts)


def valid(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """`pc.is_valid(column)` as numpy, from the validity bitmap (none: every row valid)."""
    if isinstance(column, pa.ChunkedArray):
        return _joined([valid(chunk) for chunk in column.chunks])
    n = len(column)
    if not column.null_count or column.null_count == n:
        return np.full(n, not column.null_count)
    return _bits(column.buffers()[0], column.offset, n)


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    return parts[0] if len(parts) == 1 else np.concatenate([np.zeros(0, bool), *parts])


def _bits(buffer: pa.Buffer | None, offset: int, n: int) -> np.ndarray:
    if not n:
        return np.zeros(0, bool)
    packed = np.frombuffer(buffer, np.uint8, (offset + n + 7) // 8)
    return np.unpackbits(packed, count=offset + n, bitorder="little")[offset:].view(bool)
