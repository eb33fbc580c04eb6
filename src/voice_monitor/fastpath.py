"""The typed fast path: well-formed records parsed against the declared schema, the rest left
to the full rule query (`validation.validate`), which alone writes reasons.

A record takes the fast path only when nothing about it is in doubt: its text holds no
backslash (so no escape can hide a control character, a surrogate or a secret), no control
character and, if long, few brackets (`byte_scans.unsure_json`); it is one object; Arrow's JSON
reader parses it against the schema's types without complaint (it refuses "12" for a number,
1.5 or 1.0 for an integer, a boolean for either, a key given twice, a string for an object, and
what DuckDB's lenient reader takes but JSON does not: trailing commas, `nan`, `inf`, numbers
beyond a double); it holds no NaN or infinity (Arrow reads `NaN`, `Infinity`, `Inf`, 2e308) and
nothing nested deeper than metadata may be, under any name; and `typed.typed_rules` finds every
rule surely kept. Anything else goes to the full query, as does a whole piece of records the
reader refuses once halved down to `_SMALLEST`. (So the full query's `records.SUSPECT` scan, the second look
for what the lenient reader lets through, is never needed here: the strict one refuses it.)
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from voice_monitor.byte_scans import (
    bools,
    identifier_controls,
    string_buffers,
    unsure_json,
    valid,
)
from voice_monitor.mapping_rows import MappingRows
from voice_monitor.records import MAX_METADATA_DEPTH, as_text
from voice_monitor.schema import FIELDS, METADATA_FIELDS
from voice_monitor.typed import (
    EVENT_FIELDS,
    IN_METADATA,
    TYPES,
    TypedRows,
    fits,
    parquet_fields,
    typed_rules,
)
from voice_monitor.typed_values import kept_metadata
from voice_monitor.validation import IDENTIFIERS, validate

_SAMPLE = 2_000  # records whose keys decide which names the parse declares
_PIECE = 8_192  # records per parse after a refusal; halved down to _SMALLEST
_SMALLEST = 32
_KNOWN_TOP = frozenset(n for f in FIELDS for n in f.input_names)
_KNOWN_META = frozenset(n for f in METADATA_FIELDS for n in f.input_names)
_LAST: dict[str, pa.Schema] = {}  # the schema of the last batch read whole in one parse
_DECLARED: dict[str, tuple] = {}  # `_declared_all`'s last (schema, table schema, answer)
_TIMES = frozenset(n for f in FIELDS if f.kind == "time" for n in f.input_names)


def validate_fast(
    con: duckdb.DuckDBPyConnection, lines, now: datetime, ingested_at: datetime,
    joined: pa.Buffer | None = None,
) -> tuple[pa.Table, pa.Table]:
    """`validation.validate` (same accepted rows, same rejects and reasons), with the records
    the typed fast path is sure of judged there and only the others by the full query.
    `joined`, if given, is the records (an Arrow array) each followed by a newline, as one
    buffer (`streaming.LineBatch`): what the JSON reader reads when it takes them all."""
    if isinstance(lines, TypedRows):
        fast, sure = typed_rules(con, parquet_fields(lines.table), None, now, ingested_at)
        return _merged(con, fast, np.flatnonzero(sure), lines, now, ingested_at)
    if isinstance(lines, MappingRows):  # a producer's dicts: the plain ones need no JSON text
        table, at = lines.parsed()
        if table is None:
            return validate_fast(con, lines.texts(), now, ingested_at)
        fields = _fields(table, None).append_column("line_no", pa.array(at, pa.int64()))
        fast, sure = typed_rules(con, fields, None, now, ingested_at)
        # the rows the typed rules doubted go to the full query; records that were not plain
        # dicts may still be taken by the fast path as JSON texts
        judge = validate if len(at) == len(lines) else validate_fast
        return _merged(con, fast, at[sure], lines, now, ingested_at, judge)
    texts, positions, _ = as_text(lines)
    candidates = np.flatnonzero(_eligible(texts))
    sure_pos = np.array([], np.int64)
    fast = None
    if len(candidates):
        every = len(candidates) == len(texts)
        some = texts if every else texts.take(pa.array(candidates))
        table, parsed = _parse(some, joined if every and len(texts) == len(lines) else None)
        if parsed.any():
            kept = np.flatnonzero(parsed)
            table = table.append_column("line_no", pa.array(positions[candidates[kept]], pa.int64()))
            some = some if len(kept) == len(some) else some.take(pa.array(kept))
            fast, sure = typed_rules(con, table, some, now, ingested_at)
            sure_pos = positions[candidates[kept[sure]]]
    if fast is None or not fast.num_rows:
        return validate(con, lines, now, ingested_at)
    return _merged(con, fast, sure_pos, lines, now, ingested_at)


def _merged(con, fast: pa.Table, sure_pos: np.ndarray, lines, now: datetime,
            ingested_at: datetime, judge=None) -> tuple[pa.Table, pa.Table]:
    """The fast path's rows with `judge`'s verdicts (the full query's) on every other record, in
    input order."""
    judge = judge or validate
    slow = np.ones(len(lines), bool)
    slow[sure_pos] = False
    slow_at = np.flatnonzero(slow)
    if not len(slow_at):
        return _in_order(fast).drop_columns(["line_no"]), _no_rejects()
    if isinstance(lines, TypedRows):
        subset = TypedRows.json_texts(lines.table.filter(pa.array(slow)))
    elif isinstance(lines, MappingRows):
        subset = lines.texts(slow_at)
    elif isinstance(lines, pa.Array | pa.ChunkedArray):
        subset = lines.filter(pa.array(slow))
    else:
        subset = [lines[i] for i in slow_at]
    accepted, rejected = judge(con, subset, now, ingested_at)
    rejected = rejected.set_column(0, "line_no", pa.array(
        slow_at[rejected.column("line_no").to_numpy()], pa.int64()))
    if not fast.num_rows:
        return accepted, rejected
    taken = np.ones(len(slow_at), bool)
    taken[np.searchsorted(slow_at, rejected.column("line_no").to_numpy())] = False
    accepted = accepted.append_column("line_no", pa.array(slow_at[taken], pa.int64()))
    both = pa.concat_tables([fast, accepted.select(fast.column_names).cast(fast.schema)])
    return both.sort_by("line_no").drop_columns(["line_no"]), rejected  # input order: first wins


def _in_order(table: pa.Table) -> pa.Table:
    line_no = table.column("line_no").to_numpy()
    return table if (np.diff(line_no) > 0).all() else table.sort_by("line_no")


def _no_rejects() -> pa.Table:
    return pa.table({"line_no": pa.array([], pa.int64()), "raw": pa.array([], pa.large_string()),
                     "reason": pa.array([], pa.large_string())})


def _eligible(texts: pa.Array) -> np.ndarray:
    """Records the fast path may try: one object, nothing `unsure_json` flags."""
    shaped = pc.and_(pc.starts_with(texts, "{"), pc.ends_with(texts, "}"))
    return shaped.to_numpy(zero_copy_only=False) & ~unsure_json(texts)


# -- parsing --------------------------------------------------------------------------------

def _schema(sample: pa.Array) -> pa.Schema:
    """The declared types of the known names the sample uses (a narrow schema parses faster;
    a known name first seen later is inferred, and `_fields` doubts it unless its type fits)."""
    top, meta, numbers = set(), set(), set()
    try:
        table = pj.read_json(pa.BufferReader(_joined(sample)))
        top = set(table.column_names)
        if "metadata" in top and pa.types.is_struct(table.schema.field("metadata").type):
            meta = {f.name for f in table.schema.field("metadata").type}
        # times the sample gives as epoch milliseconds only: declared so (a batch that mixes
        # forms is refused, then parsed in groups by `_parse`)
        numbers = {n for n in top & _TIMES if table.schema.field(n).type == pa.int64()}
    except pa.ArrowInvalid:
        top = {n for f in FIELDS for n in f.input_names}  # a refused sample: declare them all
        meta = {n for f in METADATA_FIELDS for n in f.input_names}
    fields = [pa.field(n, pa.int64() if n in numbers else TYPES[f.kind])
              for f in EVENT_FIELDS for n in f.input_names if n in top]
    if "metadata" in top:
        fields.append(pa.field("metadata", pa.struct(
            [pa.field(n, TYPES[f.kind]) for f in METADATA_FIELDS for n in f.input_names if n in meta])))
    return pa.schema(fields)


def _joined(texts: pa.Array) -> pa.Buffer:
    """The records one per line: each with a newline appended, the data buffer as it stands."""
    empty = pa.scalar("", texts.type)
    lines = pc.binary_join_element_wise(texts, pa.scalar("\n", texts.type), empty)
    offsets = np.frombuffer(lines.buffers()[1], np.int64, len(lines) + 1, lines.offset * 8)
    return lines.buffers()[2][offsets[0]:offsets[-1]]


def _read(texts: pa.Array, schema: pa.Schema, joined: pa.Buffer | None = None) -> pa.Table:
    if joined is None or joined.size != _size(texts) + len(texts):
        joined = _joined(texts)
    table = pj.read_json(pa.BufferReader(joined), parse_options=pj.ParseOptions(
        explicit_schema=schema, unexpected_field_behavior="infer"))
    if table.num_rows != len(texts):  # a line held two objects: no row is sure of its line
        raise pa.ArrowInvalid("rows and records differ")
    return table


def _size(texts: pa.Array) -> int:
    ends, _ = string_buffers(texts)
    return int(ends[-1]) if len(ends) else 0


def _parse(texts: pa.Array, joined: pa.Buffer | None = None) -> tuple[pa.Table, np.ndarray]:
    """(the parsed records as `_fields` gives them, in input order; which records those are).
    `joined`: `texts` each followed by a newline, as one buffer, if at hand.

    A time may be an ISO string or epoch milliseconds, and a column has one type: when the
    reader refuses the batch with its times declared as strings, records are parsed in groups
    by which of their times are numbers (read off the text, which holds no escape), each group
    with its times declared accordingly."""
    schema = _LAST.get("schema")
    if schema is not None:  # batches of one source look alike: the last one's schema first
        try:
            table = _read(texts, schema, joined)
        except pa.ArrowInvalid:
            pass
        else:
            if _declared_all(table, schema):
                return _fields(table, texts), np.ones(len(texts), bool)
    schema = _schema(texts.slice(0, _SAMPLE))
    try:  # usually every time has one form in a batch: one parse, no scan for numbers
        table = _read(texts, schema, joined)
        _LAST["schema"] = schema
        return _fields(table, texts), np.ones(len(texts), bool)
    except pa.ArrowInvalid:
        pass
    code = np.zeros(len(texts), np.int64)
    times = [name for name in schema.names if name in _TIMES]
    for bit, name in enumerate(times):
        number = pc.match_substring_regex(texts, f'"{name}"[ \t]*:[ \t]*-?[0-9]')
        code |= number.to_numpy(zero_copy_only=False).astype(np.int64) << bit
    parts, where, ok = [], [], np.zeros(len(texts), bool)
    for group in np.unique(code):
        declared = schema
        for bit, name in enumerate(times):
            declared = declared.set(declared.get_field_index(name), pa.field(
                name, pa.int64() if group >> bit & 1 else TYPES["time"]))
        members = np.flatnonzero(code == group)
        table, parsed = _parse_group(texts if len(members) == len(texts) else
                                     texts.take(pa.array(members)), declared)
        if parsed.any():
            parts.append(table)
            where.append(members[parsed])
            ok[members[parsed]] = True
    if len(parts) < 2:
        return (parts[0] if parts else pa.table({})), ok
    order = np.argsort(np.concatenate(where), kind="stable")
    return pa.concat_tables(parts).take(pa.array(order)), ok


def _declared_all(table: pa.Table, schema: pa.Schema) -> bool:
    """Whether the parse declared every known name the records use (none was inferred)."""
    found = table.schema
    last = _DECLARED.get("last")  # batches of one source parse alike: the last answer first
    if last is not None and last[0] is schema and last[1].equals(found):
        return last[2]
    answer = _declared_in(found, schema)
    _DECLARED["last"] = (schema, found, answer)
    return answer


def _declared_in(found: pa.Schema, schema: pa.Schema) -> bool:
    declared_top = set(schema.names)  # (`names` builds the list anew at each use)
    if any(n in _KNOWN_TOP and n not in declared_top for n in found.names):
        return False
    if "metadata" not in found.names or "metadata" not in declared_top:
        return True
    declared = {f.name for f in schema.field("metadata").type}
    found = found.field("metadata").type
    return not pa.types.is_struct(found) or all(
        f.name in declared for f in found if f.name in _KNOWN_META)


def _parse_group(texts: pa.Array, schema: pa.Schema) -> tuple[pa.Table, np.ndarray]:
    """One parse of all; if the reader refuses, pieces of `_PIECE` halved down to `_SMALLEST`
    records (a refused smallest piece goes to the full query whole)."""
    try:
        return _fields(_read(texts, schema), texts), np.ones(len(texts), bool)
    except pa.ArrowInvalid:
        pass
    parts, ok = [], np.zeros(len(texts), bool)
    stack = [(start, min(_PIECE, len(texts) - start)) for start in range(0, len(texts), _PIECE)]
    while stack:
        start, size = stack.pop(0)
        try:
            table = _read(texts.slice(start, size), schema)
        except pa.ArrowInvalid:
            if size > _SMALLEST:
                half = size // 2
                stack[:0] = [(start, half), (start + half, size - half)]
            continue
        parts.append(_fields(table, texts.slice(start, size)))
        ok[start:start + size] = True
    return (pa.concat_tables(parts) if parts else pa.table({})), ok


def _fields(table: pa.Table, texts: pa.Array) -> pa.Table:
    """The parsed table (of the records `texts`, which hold no control character, so neither
    do their identifiers) as `typed.typed_rules` takes it: for each
    stored field the first non-null of its names (metadata keys before the same names at top
    level). A column whose type does not fit its field makes its non-null rows not `judgeable`,
    as does a field given under two names (the full query checks that they agree)."""
    n = table.num_rows
    doubt = np.zeros(n, bool)
    for column in table.columns:
        # nested deeper than metadata may be (the byte scan left that to the parse), a NaN or
        # an infinity, under any name: the full rules say why
        deep = _depth(column.type) > MAX_METADATA_DEPTH
        doubt |= _valid(column) if deep else _not_finite(column)
    names = set(table.column_names)  # (`column_names` builds the list anew at each use)
    meta = table.column("metadata") if "metadata" in names else None
    if meta is not None and not pa.types.is_struct(meta.type):
        doubt |= _valid(meta)
        meta = None
    out = {}
    for f in EVENT_FIELDS:
        found = []
        if f.name in IN_METADATA and meta is not None:
            found += [pc.struct_field(meta, [meta.type.get_field_index(name)])
                      for name in f.input_names if meta.type.get_field_index(name) >= 0]
        found += [table.column(name) for name in f.input_names if name in names]
        if len(found) > 1:  # given under two names: the full query compares them (or says why)
            doubt |= np.sum([_valid(c) for c in found], axis=0) > 1
        good = []
        for column in found:
            if fits(f.kind, column.type):
                good.append(column)
            else:
                doubt |= _valid(column)
        text = [c for c in good if c.type != pa.int64() or f.kind != "time"]
        out[f"in_{f.name}"] = _first(text, TYPES[f.kind], n)
        if f.kind == "time":
            ms = [c for c in good if c.type == pa.int64()]
            out[f"in_{f.name}__ms"] = _first(ms, pa.int64(), n)
            out[f"in_{f.name}__ts"] = pa.nulls(n, pa.timestamp("us", tz="UTC"))
    for name in IDENTIFIERS:  # DEL, a C1 control, U+2028/9 (JSON lets them stand raw): the
        doubt |= identifier_controls(out[f"in_{name}"])  # full query says why it refuses them
    out["has_meta"] = pc.is_valid(meta) if meta is not None else pa.repeat(pa.scalar(False), n)
    kept, meta_sql = kept_metadata(meta, texts) if meta is not None else (pa.nulls(n, pa.string()),
                                                                           np.zeros(n, bool))
    out["meta_kept"], out["meta_sql"] = kept, pa.array(meta_sql)
    out["judgeable"] = pa.array(~doubt)
    return pa.table(out)


def _not_finite(column) -> np.ndarray:
    """Per row, whether a NaN or an infinity is anywhere in it (in a struct, in a list...)."""
    kind = column.type
    if pa.types.is_floating(kind):
        return ~bools(pc.is_finite(column), null=True)
    found = np.zeros(len(column), bool)
    if pa.types.is_struct(kind):
        for i, child in enumerate(kind):
            if pa.types.is_floating(child.type) or pa.types.is_nested(child.type):
                found |= _not_finite(pc.struct_field(column, [i]))
    elif isinstance(column, pa.ChunkedArray) and pa.types.is_nested(kind):
        return np.concatenate([found[:0], *(_not_finite(c) for c in column.chunks)])
    elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
        offsets = column.offsets.to_numpy()
        inner = _not_finite(column.values.slice(offsets[0], offsets[-1] - offsets[0]))
        if inner.any():
            found[np.searchsorted(offsets[1:] - offsets[0], np.flatnonzero(inner), "right")] = True
    return found


def _depth(kind: pa.DataType) -> int:
    """Levels of structs and lists in a type: the deepest a value of it can be nested."""
    if pa.types.is_struct(kind):
        return 1 + max((_depth(child.type) for child in kind), default=0)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return 1 + _depth(kind.value_type)
    return 0


def _valid(column) -> np.ndarray:
    return valid(column)


def _first(columns: list, arrow_type: pa.DataType, n: int):
    if not columns:
        return pa.nulls(n, arrow_type)
    if len(columns) == 1 and columns[0].type == arrow_type:
        return columns[0]
    return pc.coalesce(*[c.cast(arrow_type) for c in columns])
