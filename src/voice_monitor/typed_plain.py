"""The typed rules in Arrow, for the plain rows: no DuckDB query to plan for most landings.

The typed rule query (`typed._rules_sql`) costs ~40 ms to plan whatever the batch size, which
is most of a small landing. Most rows need none of what only SQL does here: their times are
`YYYY-MM-DDTHH:MM:SS[.ffffff]Z` strings, epoch milliseconds or Parquet timestamps; their
metadata text is kept as Arrow wrote it (`meta_sql` false) and holds nothing a secret pattern
matches (`redact` false); their message is at most `MAX_ERROR_MESSAGE` characters. For those
rows, `plain_rows` gives the query's own answer (the same stored values, the same `sure`), and
the query runs only on the others. `tests/test_fastpath.py` checks both paths together against
the full rule query on random mixes of good, twisted and bad records.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from voice_monitor.byte_scans import bools, string_buffers, valid
from voice_monitor.schema import (
    ANY_STAGE_TYPES,
    EVENT_TYPES,
    FUTURE_TOLERANCE_MS,
    MAX_COUNT,
    MAX_ERROR_MESSAGE,
    STAGES,
)
from voice_monitor.validation import MAX_EPOCH_MS, MIN_EPOCH_MS

_UTC = pa.timestamp("us", tz="UTC")
# the one ISO form read here: 'T', seconds, at most microseconds, 'Z' (anything else: the query)
_PLAIN_TIME = (r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d"
               r"(\.\d{1,6})?Z$")
_WIDTHS = {20, *range(22, 28)}  # its lengths: no fraction, or 1 to 6 digits of one
_MIN_US, _MAX_US = MIN_EPOCH_MS * 1000, 253_402_300_799_999_999  # 2000-01-01 to 9999-12-31 23:59:59.999999
# a double the fast path doubts (its text may read back otherwise): 2^53 or more, -0.0, and
# non-zero below TINY; `typed._sure` writes the same bounds in SQL
EXACT = 2.0 ** 53
TINY = 1e-300
_TYPES = pa.array(list(EVENT_TYPES))
_STAGE_OF = pa.array([stage for stage, _ in EVENT_TYPES.values()], pa.string())
_STAGES = pa.array(STAGES)
_ANY_STAGE_TYPES = pa.array(sorted(ANY_STAGE_TYPES))
_ZERO, _MAX_COUNT = pa.scalar(0, pa.int64()), pa.scalar(MAX_COUNT, pa.int64())  # typed: no inference per call


def plain_rows(src: pa.Table, fields, now: datetime) -> tuple[np.ndarray, pa.Table | None]:
    """(which rows of `src` are plain; the rule query's result for those rows: `line_no`, the
    stored columns it computes, `sure`), for `src` as `typed.typed_rules` builds it and the
    query's `fields` (the stored fields not checked around it)."""
    plain = ~_bools(src.column("meta_sql")) & ~_bools(src.column("redact"))
    times = {}
    for f in fields:
        if f.kind == "time":
            value, known, given = _time(src, f.name)
            times[f.name] = (value, given)
            plain &= known
        elif f.kind == "message" and _given(message := src.column(f"r_{f.name}")):
            length = pc.utf8_length(message)
            plain &= pc.fill_null(pc.less_equal(length, MAX_ERROR_MESSAGE), True).to_numpy(
                zero_copy_only=False)
    if not plain.any():
        return plain, None
    if not plain.all():  # (usually all are: no copy of the batch's columns then)
        keep = pa.array(plain)
        src = src.filter(keep)
        times = {name: (value.filter(keep), given[plain]) for name, (value, given) in times.items()}
    rows = src
    sure = _bools(rows.column("judgeable"))
    out = {"line_no": rows.column("line_no")}
    event_type = rows.column("in_event_type")
    for f in fields:
        column = rows.column(f"in_{f.name}")
        if f.kind == "event_type":
            out[f.name] = column
            sure &= _bools(pc.is_in(column, _TYPES))
        elif f.kind == "time":
            value, given = times[f.name]
            out[f.name] = value
            sure &= _valid(value) if f.required else _valid(value) | ~given
        elif f.kind == "stage":
            derived = _STAGE_OF.take(pc.index_in(event_type, _TYPES))  # None: the type implies none
            out[f.name] = pc.coalesce(column, derived)
            if _given(column):
                fits = pc.and_kleene(pc.is_in(column, _STAGES), pc.or_kleene(  # as SQL's AND / OR
                    pc.is_in(event_type, _ANY_STAGE_TYPES), pc.equal(derived, column)))
                sure &= ~_valid(column) | _bools(fits)
        elif f.kind == "message":
            out[f.name] = rows.column(f"r_{f.name}")
        elif f.kind in ("number", "ratio"):
            out[f.name] = column
            if _given(column):
                sure &= _number_sure(column, f.kind == "ratio")
        elif f.kind == "int":
            out[f.name] = column
            if _given(column):
                sure &= _bools(pc.fill_null(pc.and_(pc.greater_equal(column, _ZERO),
                                                    pc.less_equal(column, _MAX_COUNT)), True))
    latest = pa.scalar(now + timedelta(milliseconds=FUTURE_TOLERANCE_MS), _UTC)
    sure &= _bools(pc.less_equal(out["timestamp"], latest))
    out["metadata"] = rows.column("meta_kept")
    out["sure"] = pa.array(sure)
    return plain, pa.table(out)


def _time(src: pa.Table, name: str) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """(the stored time, or null where it is out of range or absent; where that is known here;
    where the record gives the time in any form)."""
    text, ms, ts = (src.column(f"in_{name}{suffix}") for suffix in ("", "__ms", "__ts"))
    if not (_given(text) or _given(ms) or _given(ts)):  # (an optional time no record gives)
        return pa.nulls(src.num_rows, _UTC), np.ones(src.num_rows, bool), np.zeros(src.num_rows, bool)
    given = [_valid(c) for c in (text, ms, ts)]
    known = sum(g.astype(np.int8) for g in given) <= 1  # two forms of one time: the query decides
    value = pa.nulls(src.num_rows, _UTC)
    if given[1].any():  # epoch milliseconds, in range
        in_range = pc.and_(pc.greater_equal(ms, MIN_EPOCH_MS), pc.less_equal(ms, MAX_EPOCH_MS))
        micros = pc.if_else(in_range, pc.multiply(ms, 1000), pa.scalar(None, pa.int64()))
        value = pc.if_else(given[1], micros.cast(_UTC), value)
    if given[2].any():  # a Parquet timestamp: the instant itself, in range
        in_range = pc.and_(pc.greater_equal(ts, pa.scalar(_MIN_US, _UTC)),
                           pc.less_equal(ts, pa.scalar(_MAX_US, _UTC)))
        value = pc.if_else(given[2], pc.if_else(in_range, ts, pa.scalar(None, _UTC)), value)
    if given[0].any():
        plain = _plain_times(text)
        parsed = _parsed(text, plain)
        if parsed is None:  # a day the month lacks (02-30) makes the cast refuse: such rows
            day = pc.utf8_slice_codeunits(text, 0, 10)  # are the query's
            read = pc.strptime(day, format="%Y-%m-%d", unit="s", error_is_null=True)
            plain &= _bools(pc.equal(pc.strftime(read, format="%Y-%m-%d"), day))
            parsed = _parsed(text, plain)
            if parsed is None:  # should the cast still refuse a value, the query decides all
                plain[:] = False
        known &= ~given[0] | plain
        if plain.any():
            in_range = pc.greater_equal(parsed, pa.scalar(_MIN_US, _UTC))
            value = pc.if_else(pa.array(given[0] & plain),
                               pc.if_else(in_range, parsed, pa.scalar(None, _UTC)), value)
    value = value.combine_chunks() if isinstance(value, pa.ChunkedArray) else value
    return value, known, given[0] | given[1] | given[2]


def _plain_times(text) -> np.ndarray:
    """Which strings are times of the one form `_PLAIN_TIME` reads, as the pattern says; when
    they all have one length (a producer's usual) they are read as a table of characters,
    position by position, instead of a pattern per string."""
    chunk = text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text
    ends, data = string_buffers(chunk)
    valid = _valid(chunk)
    width = np.diff(ends, prepend=0)[valid]
    if (not len(width) or width.min() != width.max() or int(width[0]) not in _WIDTHS
            or len(data) != width.sum()):
        return _bools(pc.match_substring_regex(chunk, _PLAIN_TIME))
    w = int(width[0])
    d = np.ascontiguousarray(data.reshape(-1, w).T) - np.uint8(0x30)  # a row per position
    digit = d < 10  # (bytes below '0' wrap around)

    def two(at: int, low: int, high: int) -> np.ndarray:  # two digits from `at`, in [low, high]
        value = d[at].astype(np.uint16) * 10 + d[at + 1]
        return digit[at] & digit[at + 1] & (value >= low) & (value <= high)

    ok = digit[:4].all(axis=0) & two(5, 1, 12) & two(8, 1, 31) & two(11, 0, 23)
    ok &= two(14, 0, 59) & two(17, 0, 59) & (d[w - 1] == 0x5A - 0x30)  # Z
    for at, char in ((4, 0x2D), (7, 0x2D), (10, 0x54), (13, 0x3A), (16, 0x3A)):  # - - T : :
        ok &= d[at] == np.uint8((char - 0x30) % 256)
    if w > 20:  # .ffffff
        ok &= (d[19] == np.uint8((0x2E - 0x30) % 256)) & digit[20:w - 1].all(axis=0)
    out = np.zeros(len(chunk), bool)
    out[valid] = ok
    return out


def _parsed(text, plain: np.ndarray) -> pa.Array | None:
    """The plain rows' ISO times as instants (others null), or None if the cast refuses one."""
    if not plain.any():
        return pa.nulls(len(text), _UTC)
    try:
        return pc.if_else(pa.array(plain), text, pa.scalar(None, pa.string())).cast(_UTC)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _number_sure(column, ratio: bool) -> np.ndarray:
    """`typed._sure` of a double: finite, in bounds, and written back as the same number."""
    values = column.to_numpy(zero_copy_only=False)
    present = _valid(column)
    x = np.where(present, values, 0.0)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(x) & (x >= 0) & (np.abs(x) < EXACT) & ~np.signbit(x)
        ok &= (x == 0) | (np.abs(x) > TINY)
        if ratio:
            ok &= x <= 1
    return ~present | ok


def _valid(column) -> np.ndarray:
    return valid(column)


def _given(column) -> bool:
    """Whether any row has a value: a field no record gives (most optional ones, in most
    batches) passes every check here, so its Arrow calls are skipped."""
    return column.null_count < len(column)


def _bools(column) -> np.ndarray:
    if pa.types.is_boolean(column.type):
        return bools(column)
    return pc.fill_null(column, False).to_numpy(zero_copy_only=False)
