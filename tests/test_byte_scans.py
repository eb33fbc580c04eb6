"""The byte scans answer as a pattern per string would (Python's `re`, string by string)."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from voice_monitor.byte_scans import (
    LONG,
    bools,
    controls,
    identifier_controls,
    json_escapes,
    positions,
    rare_matches,
    unsure_json,
    valid,
)

TEXTS = st.lists(st.one_of(st.none(), st.text(alphabet=st.sampled_from(
    ['a', 'é', '"', '\\', '\x00', '\n', '\x1f', ' ', '€', '\U0001f600'])),
    st.text(max_size=4)), max_size=30)


def _by_re(values: list, pattern: str) -> list[bool]:
    return [v is not None and re.search(pattern, v) is not None for v in values]


ID_TEXTS = st.lists(st.one_of(st.none(), st.text(alphabet=st.sampled_from(
    ['a', 'é', '\x7f', '\x80', '\x85', '\x9f', '\xa0', '\u2027', '\u2028', '\u2029',
     '\u202a', '—', '\n', '\U0001f600'])), st.text(max_size=4)), max_size=30)


@settings(deadline=None)  # the first example pays for imports
@given(values=ID_TEXTS, large=st.booleans(), start=st.integers(0, 3))
def test_identifier_controls_are_found_as_a_pattern_finds_them(values, large, start):
    array = pa.array(values, pa.large_string() if large else pa.string())[start:]
    pattern = "[\x00-\x1f\x7f-\x9f\u2028\u2029]"
    assert identifier_controls(array).tolist() == _by_re(values[start:], pattern)
    halves = pa.chunked_array([array[:2], array[2:]], array.type)
    assert identifier_controls(halves).tolist() == _by_re(values[start:], pattern)


@settings(deadline=None)  # the first example pays for imports
@given(values=TEXTS, large=st.booleans(), start=st.integers(0, 3))
def test_controls_are_found_as_a_pattern_finds_them(values, large, start):
    array = pa.array(values, pa.large_string() if large else pa.string())[start:]
    assert controls(array).tolist() == _by_re(values[start:], "[\x00-\x1f]")
    halves = pa.chunked_array([array[:2], array[2:]], array.type)  # a Parquet column's chunks
    assert controls(halves).tolist() == _by_re(values[start:], "[\x00-\x1f]")


@settings(deadline=None)  # the first example pays for imports
@given(values=TEXTS, large=st.booleans(), start=st.integers(0, 3))
def test_json_escapes_are_found_as_a_pattern_finds_them(values, large, start):
    array = pa.array(values, pa.large_string() if large else pa.string())[start:]
    expected = _by_re(values[start:], '[\x00-\x1f"\\\\]')
    found = json_escapes(array)
    assert (found.tolist() if found is not None else [False] * len(array)) == expected
    assert found is None or any(expected)


def test_columns_without_bytes():
    assert controls(pa.nulls(3, pa.string())).tolist() == [False] * 3
    assert controls(pa.nulls(2)).tolist() == [False] * 2
    assert controls(pa.array(["", ""])).tolist() == [False, False]
    assert json_escapes(pa.array(["", None])) is None
    # a null slot's bytes are not its value: still False
    masked = pa.Array.from_buffers(pa.string(), 2, [pa.py_buffer(np.packbits([1, 0], bitorder="little")),
                                                    pa.py_buffer(np.array([0, 1, 3], np.int32)),
                                                    pa.py_buffer(b"a\x00b")])
    assert controls(masked).tolist() == [False, False]


@given(values=st.lists(st.text(alphabet=st.sampled_from(['a', '{', '[', ']', '\\', '\t', 'é', ' '])),
                       max_size=20), long=st.lists(st.booleans(), min_size=20, max_size=20),
       start=st.integers(0, 3))
def test_unsure_json_as_a_pattern_finds_it(values, long, start):
    values = [v + "a" * LONG if pad else v for v, pad in zip(values, long, strict=False)]
    array = pa.array(values, pa.large_string())[start:]
    expected = [re.search(r"[\\\x00-\x1f]", v) is not None or (
        len(v.encode()) >= LONG and re.search(r"([\[{][^\[{]*){10}", v) is not None)
        for v in values[start:]]
    assert unsure_json(array).tolist() == expected


@settings(deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.text(alphabet=st.sampled_from(
    ['a', 's', 'k', '-', '@', ':', '/', 'B', 'e', 'r', ' ', 'é']), max_size=8)), max_size=20),
    split=st.integers(0, 20))
def test_rare_matches_as_a_pattern_finds_them(values, split):
    pattern = "(?:(?i:bearer))|(?:sk-)|(?:@)|(?:://)"  # as redaction.GATE: no anchor, no \\b
    array = pa.array(values, pa.string())
    expected = _by_re(values, "(?i:bearer)|sk-|@|://")
    assert rare_matches(array, pattern).tolist() == expected
    chunked = pa.chunked_array([array[:split], array[split:]], pa.string())
    assert rare_matches(chunked, pattern).tolist() == expected


@settings(deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.booleans()), max_size=40),
       start=st.integers(0, 9), cut=st.integers(0, 40), null=st.booleans())
def test_booleans_and_validity_as_numpy_are_the_values_row_by_row(values, start, cut, null):
    """Bits unpacked from the buffers, at any offset (a slice), over chunks: each row's value
    as Python reads it, `null` for a null; valid is whether the row is not null."""
    array = pa.array(values, pa.bool_())[start:]
    rows = values[start:]
    for column in (array, pa.chunked_array([array[:cut], array[cut:]], pa.bool_())):
        got = bools(column, null=null)
        assert got.dtype == bool
        assert got.tolist() == [null if v is None else v for v in rows]
        assert valid(column).tolist() == [v is not None for v in rows]
    assert valid(pa.chunked_array([], pa.bool_())).tolist() == []


def test_validity_of_other_types_is_whether_the_row_is_null():
    for column in (pa.array([1.5, None, 2.0, None])[1:], pa.nulls(3),
                   pa.array([{"a": 1}, None, {"a": None}]), pa.array(["x", None, "y"])):
        assert valid(column).tolist() == [v is not None for v in column.to_pylist()]


@settings(max_examples=30, deadline=None)
@given(size=st.integers(0, 3 * (1 << 20) + 5), at=st.lists(st.integers(0, 3 * (1 << 20) + 4), max_size=8))
def test_positions_of_a_byte_across_the_megabyte_steps(size, at):
    # looked for a megabyte at a time: a byte at either side of a step is found once, in place
    text = np.full(size, ord("a"), np.uint8)
    where = sorted({i for i in at if i < size} | ({(1 << 20) - 1, 1 << 20} & set(range(size))))
    text[where] = 0x5C
    assert positions(text, 0x5C).tolist() == where
