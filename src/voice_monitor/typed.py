"""The event rules over typed columns: which records surely pass, and their stored rows.

Input is one column per stored field (strings as strings, counts as int64, amounts as double,
times as ISO strings, epoch-millisecond int64 or tz-aware timestamps), from Arrow's JSON reader
(`fastpath`) or straight from a Parquet file. The query answers only "surely accepted": a record
that breaks a rule, or that it cannot judge, goes to the full rule query, which writes the
reasons. The stored values come from the full query's own expressions (`validation._value_sql`,
the kept-metadata SQL), so both paths store the same row for the same record.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from voice_monitor.byte_scans import bools, identifier_controls, rare_matches, valid
from voice_monitor.redaction import GATE, redact_json_sql
from voice_monitor.schema import (
    ANY_STAGE_TYPES,
    EVENT_TYPES,
    FIELDS,
    FUTURE_TOLERANCE_MS,
    MAX_COUNT,
    MAX_ERROR_MESSAGE,
    MAX_EVENT_ID,
    MAX_SHORT_STRING,
    METADATA_FIELDS,
    STAGES,
    STORED_COLUMNS,
    duckdb_type,
)
from voice_monitor.statements import parsed
from voice_monitor.typed_plain import EXACT, TINY, plain_rows
from voice_monitor.typed_values import kept_metadata, redacted
from voice_monitor.validation import (
    _MAX_TIME,
    _MIN_TIME,
    IDENTIFIERS,
    KEPT_METADATA_SQL,
    METADATA_MAP_SQL,
    NON_EMPTY,
    REDACTED_FIELDS,
    _cols,
    _lit,
    _value_sql,
)

# the Arrow type each kind of field is declared as; a time also has an int64 `in_<name>__ms`
TYPES = {"id": pa.string(), "event_type": pa.string(), "string": pa.string(), "stage": pa.string(),
         "message": pa.string(), "number": pa.float64(), "ratio": pa.float64(), "int": pa.int64(),
         "time": pa.string()}
EVENT_FIELDS = tuple(f for f in (*FIELDS, *METADATA_FIELDS) if f.kind != "metadata")
# the fields read from metadata keys too, by name (`f in METADATA_FIELDS` compared the frozen
# dataclasses field by field: ~250 comparisons a landing)
IN_METADATA = frozenset(f.name for f in METADATA_FIELDS)
# the string fields stored redacted: each distinct value is redacted once (`typed_values.redacted`)
_REDACTED = tuple(f for f in EVENT_FIELDS if f.kind == "message" or f.name in REDACTED_FIELDS)
# fields whose rule is their length and whose stored value is their input (or its redaction):
# checked and stored in Arrow, around the rule query (`_around`)
_AROUND = tuple(f for f in EVENT_FIELDS if f.kind in ("id", "string"))
_INSIDE = tuple(f for f in EVENT_FIELDS if f not in _AROUND)  # checked by the query or `plain_rows`
_STORED = [c for c in STORED_COLUMNS if c != "ingested_at"]


def fits(kind: str, arrow_type: pa.DataType) -> bool:
    """Whether a column of `arrow_type` holds a field of `kind` as its declared type (a time:
    as a string or epoch-millisecond int64)."""
    if pa.types.is_null(arrow_type) or arrow_type == TYPES[kind]:
        return True
    return kind == "time" and arrow_type == pa.int64()


def _columns(f) -> str:
    """The t_/x_ columns `_value_sql` reads (the JSON type and text the full query would see)."""
    _, t, x, _ = _cols(f.name)
    c = f'"in_{f.name}"'
    if f.kind == "time":
        ms = f'"in_{f.name}__ms"'
        ts = f'"in_{f.name}__ts"'
        return (f"CASE WHEN {c} IS NOT NULL THEN 'VARCHAR' WHEN {ms} IS NOT NULL THEN 'BIGINT' "
                f"WHEN {ts} IS NOT NULL THEN 'TIMESTAMP' END AS {t}, "
                f"coalesce({c}, {ms}::VARCHAR, {ts}::VARCHAR) AS {x}")
    json_type = {"int": "BIGINT", "number": "DOUBLE", "ratio": "DOUBLE"}.get(f.kind, "VARCHAR")
    return f"CASE WHEN {c} IS NOT NULL THEN '{json_type}' END AS {t}, {c}::VARCHAR AS {x}"


def _sure(f) -> str:
    """True when the field surely passes its rule (absent fields pass, unless required)."""
    _, _, x, value = _cols(f.name)
    raw = f'"in_{f.name}"'
    present = f"{raw} IS NOT NULL"
    if f.kind in ("number", "ratio", "int"):
        bound = ("BETWEEN 0 AND 1" if f.kind == "ratio" else f"BETWEEN 0 AND {MAX_COUNT}"
                 if f.kind == "int" else ">= 0")  # a number is below EXACT, under MAX_NUMBER
        exact = "" if f.kind == "int" else (f" AND abs({raw}) < {EXACT} AND NOT signbit({raw})"
                                            f" AND ({raw} = 0 OR abs({raw}) > {TINY})")
        return f"({raw} IS NULL OR (isfinite({raw}) AND {raw} {bound}{exact}))"
    if f.kind == "time":
        return f"({value} IS NOT NULL)" if f.required else f"({x} IS NULL OR {value} IS NOT NULL)"
    checks = []
    if f.kind == "id":
        checks.append(f"length({x}) BETWEEN 1 AND {MAX_EVENT_ID}")
    elif f.kind == "event_type":
        checks.append(f"{x} IN ({', '.join(_lit(t) for t in EVENT_TYPES)})")
    elif f.kind in ("string", "stage"):
        checks.append(f"length({x}) <= {MAX_SHORT_STRING}")
    ok = " AND ".join(checks) or "true"
    return f"({present} AND {ok})" if f.required else f"({raw} IS NULL OR ({ok}))"


def typed_rules(
    con: duckdb.DuckDBPyConnection, fields: pa.Table, lines: pa.Array | None,
    now: datetime, ingested_at: datetime,
) -> tuple[pa.Table, np.ndarray]:
    """(stored rows of the records that surely pass, with their `line_no`; which rows those are).

    `fields` has `line_no`, `judgeable` (false: not sure, whatever the values; it must be false
    where an identifier holds a control character, which no rule here looks for), `has_meta`
    (a metadata object whose
    unknown keys are kept, read from `lines`), a column `in_<name>` per stored field of its
    declared type (`TYPES`) and `in_<name>__ms` (int64) per time field; it may have
    `meta_kept` and `meta_sql` (`typed_values.kept_metadata`: the kept metadata text, and the
    rows whose text the SQL writes instead). `lines` are the records' JSON texts (None when no
    row has metadata)."""
    src = fields.append_column("line", lines if lines is not None
                               else pa.nulls(fields.num_rows, pa.large_string()))
    for f, column in zip(_REDACTED, redacted(con, [src.column(f"in_{f.name}") for f in _REDACTED]),
                         strict=True):
        src = src.append_column(f"r_{f.name}", column)
    if "meta_sql" not in src.column_names:  # the metadata's kept keys: all written by SQL
        src = src.append_column("meta_sql", src.column("has_meta"))
        src = src.append_column("meta_kept", pa.nulls(src.num_rows, pa.string()))
    # may a secret pattern match the kept metadata? (the string fields are redacted above)
    kept = src.column("meta_kept")
    src = src.append_column("redact", src.column("meta_sql") if kept.null_count == len(kept)
                            else pc.or_(src.column("meta_sql"), pa.array(rare_matches(kept, GATE))))
    src = src.set_column(src.column_names.index("judgeable"), "judgeable",
                         pc.and_(src.column("judgeable"), _around_sure(src)))
    plain, result = plain_rows(src, _INSIDE, now.astimezone(UTC))
    if not plain.all():  # the rows Arrow cannot judge alone: the rule query
        sql = _rules_sql("meta_struct" in fields.column_names)
        con.register("typed_input", src.filter(pa.array(~plain)) if plain.any() else src)
        try:
            rest = con.sql(parsed(con, sql), params={"now": now.astimezone(UTC)}).to_arrow_table()
        finally:
            con.unregister("typed_input")
        result = rest if result is None else pa.concat_tables(
            [result.select(rest.column_names).cast(rest.schema), rest])
    return _around(src, result, ingested_at)


@lru_cache(maxsize=2)
def _rules_sql(from_struct: bool) -> str:
    """The typed rule query over `typed_input`; `from_struct`: the metadata objects are the
    struct column `meta_struct` (Parquet), else they are read from the record's text `line`."""
    derived = "CASE x_event_type " + " ".join(
        f"WHEN {_lit(t)} THEN {_lit(s)}" for t, (s, _) in EVENT_TYPES.items() if s) + " END"
    stage_ok = (f"(x_pipeline_stage IS NULL OR (x_pipeline_stage IN ({', '.join(map(_lit, STAGES))}) "
                f"AND (x_event_type IN ({', '.join(map(_lit, sorted(ANY_STAGE_TYPES)))}) "
                f"OR derived_stage = x_pipeline_stage)))")
    future_ok = f"\"timestamp\" <= $now + INTERVAL {FUTURE_TOLERANCE_MS} MILLISECOND"
    values = [f"{_value_sql(f)} AS {_cols(f.name)[3]}" for f in _INSIDE
              if f.kind not in ("stage", "number", "ratio", "int", "time") and f not in _REDACTED]
    # `_value_sql`'s redaction, done once per distinct value, and the message's cut after it
    values += [f'left("r_{f.name}", {MAX_ERROR_MESSAGE}) AS {_cols(f.name)[3]}' for f in _REDACTED
               if f.kind == "message"]
    # a Parquet timestamp is the instant its to_json text names: in range, it is the value
    values += [f'CASE WHEN "in_{f.name}__ts" IS NOT NULL THEN CASE WHEN "in_{f.name}__ts" '
               f"BETWEEN {_MIN_TIME} AND {_MAX_TIME} THEN \"in_{f.name}__ts\" END "
               f"ELSE {_value_sql(f)} END AS {_cols(f.name)[3]}" for f in EVENT_FIELDS
               if f.kind == "time"]
    values += [f'"in_{f.name}"::{duckdb_type(f.name)} AS "{f.name}"' for f in EVENT_FIELDS
               if f.kind in ("number", "ratio", "int")]
    around = {f.name for f in _AROUND}
    stored = ", ".join(
        "coalesce(x_pipeline_stage, derived_stage) as pipeline_stage" if c == "pipeline_stage"
        else redact_json_sql("metadata_kept", "redact") + " as metadata" if c == "metadata"
        else f'"{c}"' for c in _STORED if c not in around)
    meta_json = ("to_json(meta_struct)" if from_struct
                 else "json_transform(line, '{\"metadata\": \"JSON\"}').metadata")
    return f"""
with src as (select * from typed_input),
meta as (
    select *, {", ".join(_columns(f) for f in _INSIDE)},
        case when has_meta and meta_sql then {meta_json} end as meta_raw
    from src
),
mapped as (select *, {METADATA_MAP_SQL} as m_all from meta),
valued as (
    select *, {", ".join(values)}, {derived} as derived_stage,
        case when meta_sql then {KEPT_METADATA_SQL} else meta_kept end as metadata_kept
    from mapped
),
final as (
    select line_no, {stored},
        coalesce(judgeable AND {" AND ".join(_sure(f) for f in _INSIDE)} AND {stage_ok} AND {future_ok}
                 AND (meta_raw IS NULL OR m_all IS NOT NULL), false) as sure
    from valued
)
select * from final
"""


def _around_sure(src: pa.Table) -> pa.Array:
    """`_sure` of the `_AROUND` fields (a length in characters, as DuckDB's `length` counts)."""
    ok = np.ones(src.num_rows, bool)
    for f in _AROUND:
        column = src.column(f"in_{f.name}")
        if column.null_count == len(column):  # absent from the batch
            if f.kind == "id":
                ok[:] = False
            continue
        bytes_ = pc.binary_length(column)  # at least the characters: a bound, without a scan
        limit = MAX_EVENT_ID if f.kind == "id" else MAX_SHORT_STRING
        length = bytes_ if pc.max(bytes_).as_py() <= limit else pc.utf8_length(column)
        if f.kind == "id":  # required
            good = pc.fill_null(pc.and_(pc.greater_equal(length, 1), pc.less_equal(length, limit)),
                                False)
        else:
            good = pc.less_equal(length, limit)
            if f.name in NON_EMPTY and pc.min(bytes_).as_py() == 0:  # "": the full query says why
                good = pc.and_(good, pc.greater(bytes_, 0))
            good = pc.fill_null(good, True)
        ok &= good.to_numpy(zero_copy_only=False)
    return pa.array(ok)


def _around(src: pa.Table, result: pa.Table, ingested_at: datetime) -> tuple[pa.Table, np.ndarray]:
    """The query's rows with the `_AROUND` fields put back from `src`, and `sure` in the order of
    `src`'s rows."""
    at = src.column("line_no").to_numpy()
    got = result.column("line_no").to_numpy()
    if not np.array_equal(at, got):
        order = np.argsort(at, kind="stable")
        result = result.take(pa.array(np.argsort(order[np.searchsorted(at, got, sorter=order)])))
    sure = result.column("sure").to_numpy(zero_copy_only=False)
    every = bool(sure.all())  # as usual: no copy of the columns
    keep = None if every else pa.array(sure)
    rows = result if every else result.filter(keep)
    columns = {"line_no": rows.column("line_no")}
    have = set(rows.column_names)  # (each `column_names` builds the list anew: ~20 µs)
    for name in _STORED:
        if name in have:
            columns[name] = rows.column(name)
        else:
            taken = src.column(f"r_{name}" if name in REDACTED_FIELDS else f"in_{name}")
            columns[name] = (taken if every else taken.filter(keep)).cast(pa.string())
    columns["ingested_at"] = pa.repeat(pa.scalar(ingested_at.astimezone(UTC), _UTC), rows.num_rows)
    return pa.table(columns), sure


# -- Parquet rows ---------------------------------------------------------------------------

_UTC = pa.timestamp("us", tz="UTC")
_ROW_LIMIT = 64 * 1024  # records.MAX_RECORD_BYTES: a row whose JSON text might pass it is doubted


class TypedRows:
    """A batch of Parquet rows, as typed columns: `fastpath.validate_fast` judges what it can
    from the columns and writes JSON text (`json_texts`) only for the other rows."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table

    def __len__(self) -> int:
        return self.table.num_rows

    def __getitem__(self, key):
        if isinstance(key, slice):
            return TypedRows(self.table[key])
        return self.json_texts(self.table.slice(key, 1))[0].as_py()

    @staticmethod
    def json_texts(table: pa.Table) -> pa.Array:
        """Each row as DuckDB's `to_json` writes it: what the full rules read for Parquet; a
        timestamp column as ISO-8601 text (`_iso_text`), as a producer would write it."""
        con = duckdb.connect()
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.register("batch", _iso_text(table))
            rows = con.sql("select to_json(t)::VARCHAR as line from batch t").to_arrow_table()
        finally:
            con.close()
        return rows.column("line").combine_chunks()


def _iso_text(table: pa.Table) -> pa.Table:
    """`table` with each top-level timestamp column as ISO-8601 text: UTC with Z (a naive one
    without, refused as naive), its fraction as precise as its unit, none when it is zero.
    DuckDB's own text ('1999-12-31 23:59:59+00') was what a quarantine reason quoted."""
    for i, kind in enumerate(table.schema.types):
        if pa.types.is_timestamp(kind):
            column = table.column(i)
            if kind.tz is not None:
                column = column.cast(pa.timestamp(kind.unit, tz="UTC"))
            text = pc.replace_substring_regex(pc.strftime(column, format="%Y-%m-%dT%H:%M:%S"),
                                              pattern=r"\.0+$", replacement="")
            if kind.tz is not None:
                text = pc.binary_join_element_wise(text, "Z", "")
            table = table.set_column(i, table.field(i).name, text)
    return table


def _plain(column):
    if pa.types.is_dictionary(column.type):
        return column.cast(column.type.value_type)
    return column


def _fitted(kind: str, column) -> tuple[object | None, object | None]:
    """(the column as its field's declared type, or None; for a time, a second form: epoch-ms
    int64 or a UTC timestamp). (None, None): its type is judged only through JSON."""
    t = column.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return (column.cast(pa.string()), None) if TYPES[kind] == pa.string() else (None, None)
    if pa.types.is_integer(t) and not pa.types.is_uint64(t):
        if kind == "int":
            return column.cast(pa.int64()), None
        if kind == "time":
            return None, column.cast(pa.int64())
        if kind in ("number", "ratio"):  # beyond 2^53 rounded: doubted, the full rules judge it
            return column.cast(pa.float64(), safe=False), None
    if pa.types.is_float64(t) and kind in ("number", "ratio"):
        return column, None
    if pa.types.is_timestamp(t) and t.tz is not None and t.unit != "ns" and kind == "time":
        return None, column.cast(pa.timestamp("us", tz="UTC"))
    return None, None


def parquet_fields(table: pa.Table) -> pa.Table:
    """Parquet rows as `typed_rules` takes them (`line_no` is the row number). Not `judgeable`:
    a row with an identifier that holds a control character, a known column of a type judged
    only through JSON, a `metadata` value (a JSON string to parse), a NaN/Infinity or nested
    value in another column, or a JSON text that may pass 64 KiB."""
    n = table.num_rows
    names = table.column_names
    doubt = np.zeros(n, bool)
    if len(set(names)) != len(names):
        doubt[:] = True
    size = np.zeros(n, np.int64)
    known = {name for f in (*FIELDS, *METADATA_FIELDS) for name in f.input_names}
    for i, name in enumerate(names):
        column = _plain(table.column(i))
        t = column.type
        size += 64 + 6 * len(name.encode())
        if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t):
            size += 6 * pc.fill_null(pc.binary_length(column), 0).to_numpy(zero_copy_only=False)
        if pa.types.is_floating(t):  # NaN anywhere is a reject, under any name
            doubt |= _not_finite(column)
        if name == "metadata" and pa.types.is_struct(t) and _flat(t):
            for i, child in enumerate(t):
                value = pc.struct_field(column, [i])
                if pa.types.is_string(child.type) or pa.types.is_large_string(child.type):
                    size += 6 * pc.fill_null(pc.binary_length(value), 0).to_numpy(zero_copy_only=False)
                elif pa.types.is_floating(child.type):
                    doubt |= _not_finite(value)
            continue
        if name in known and name != "metadata":
            continue
        if pa.types.is_nested(t) or pa.types.is_binary(t) or name == "metadata":
            doubt |= valid(column)
    doubt |= size > _ROW_LIMIT
    meta = _plain(table.column("metadata")) if "metadata" in names and not doubt.all() else None
    meta = meta if meta is not None and pa.types.is_struct(meta.type) and _flat(meta.type) else None
    out = {}
    for f in EVENT_FIELDS:
        text, ms = [], []
        columns = [pc.struct_field(meta, [meta.type.get_field_index(name)]) for name in f.input_names
                   if f.name in IN_METADATA and meta is not None
                   and meta.type.get_field_index(name) >= 0]
        columns += [_plain(table.column(name)) for name in f.input_names
                    if name in names and not doubt.all()]
        for column in columns:
            value, epoch = _fitted(f.kind, column)
            if value is None and epoch is None:
                doubt |= valid(column)
            text += [value] if value is not None else []
            ms += [epoch] if epoch is not None else []
        if len(columns) > 1:  # given under two names: the full query compares them (or says why)
            doubt |= np.sum([valid(c) for c in columns], axis=0) > 1
        out[f"in_{f.name}"] = _coalesced(text, TYPES[f.kind], n)
        if f.kind == "time":
            out[f"in_{f.name}__ms"] = _coalesced([c for c in ms if c.type == pa.int64()], pa.int64(), n)
            out[f"in_{f.name}__ts"] = _coalesced([c for c in ms if c.type != pa.int64()], _UTC, n)
    if meta is not None:  # its unknown keys are kept: typed_rules writes it as JSON
        out["has_meta"], out["meta_struct"] = pc.is_valid(meta), meta
        out["meta_kept"], meta_sql = kept_metadata(meta, None)
        out["meta_sql"] = pa.array(meta_sql)
    else:
        out["has_meta"] = pa.repeat(pa.scalar(False), n)
    for name in IDENTIFIERS:  # a control character in one: the full query says why
        doubt |= identifier_controls(out[f"in_{name}"])
    out["judgeable"] = pa.array(~doubt)
    out["line_no"] = pa.array(np.arange(n), pa.int64())
    return pa.table(out)


def _coalesced(columns: list, arrow_type: pa.DataType, n: int):
    """The first non-null of `columns` (of `arrow_type`), row by row; one column as it is."""
    if not columns:
        return pa.nulls(n, arrow_type)
    return columns[0] if len(columns) == 1 else pc.coalesce(*columns)


def _not_finite(column) -> np.ndarray:
    return ~bools(pc.is_finite(column), null=True)


def _flat(struct: pa.StructType) -> bool:
    """A metadata struct judged here: scalar children only (no nesting depth to measure)."""
    return not any(pa.types.is_nested(c.type) for c in struct)
