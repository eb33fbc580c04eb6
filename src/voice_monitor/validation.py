"""Vectorised validation of raw event records, derived from the schema in `schema.py`.

Every record arrives as one JSON text. One DuckDB query parses the whole batch at once, maps
camelCase to snake_case, types each field, derives the stage, promotes known metadata keys,
redacts and truncates `error_message`, and collects every broken rule into a reason. The SQL
is generated here from the schema tables only; record values are data, never SQL text.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from voice_monitor.schema import (
    ANY_STAGE_TYPES,
    EVENT_TYPES,
    FIELDS,
    FUTURE_TOLERANCE_MS,
    MAX_ERROR_MESSAGE,
    MAX_EVENT_ID,
    MAX_SHORT_STRING,
    METADATA_FIELDS,
    STAGES,
    STORED_COLUMNS,
    Field,
)

# Secrets that must never be stored: bearer tokens, then API-key-like strings
# (sk-/pk-/rk- keys, AWS access key ids, key=value pairs named like credentials).
REDACTIONS: tuple[tuple[str, str], ...] = (
    (r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+", r"\1[REDACTED]"),
    (r"\b(sk|pk|rk)-[A-Za-z0-9_-]{16,}", "[REDACTED]"),
    (r"\bAKIA[0-9A-Z]{16}\b", "[REDACTED]"),
    (r"(?i)\b((api[_-]?key|access[_-]?token|secret|password|token)\s*[=:]\s*)[^\s,;&\"']+",
     r"\1[REDACTED]"),
)

_ISO = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?"
_OFFSET = r"(Z|z|[+-]([01]\d|2[0-3])(:?[0-5]\d)?)$"
_INTEGER_TYPES = "('UBIGINT', 'BIGINT')"
MIN_EPOCH_MS = -62_135_596_800_000  # 0001-01-01T00:00:00Z
MAX_EPOCH_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
_NUMBER_TYPES = "('UBIGINT', 'BIGINT', 'DOUBLE')"


def _lit(text: str) -> str:
    """A SQL string literal for a constant of ours (never for a record's value)."""
    return "'" + text.replace("'", "''") + "'"


def _shown(v: str) -> str:
    # The offending value as it was written (JSON text), cut short enough for a one-line reason.
    text = f"(({v})::VARCHAR)"
    return f"(CASE WHEN length({text}) > 80 THEN left({text}, 77) || '...' ELSE {text} END)"


def _pick(names: tuple[str, ...], source: str) -> str:
    # JSON null counts as absent; the first name present wins (snake_case before camelCase).
    parts = [f"nullif({source}.\"{n}\", 'null'::JSON)" for n in names]
    return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"


def _epoch_ms(v: str) -> str:
    # the epoch-ms integer, or NULL outside years 0001-9999 (the guard keeps the multiplication
    # below from overflowing, which would fail the whole batch instead of one record)
    return (f"CASE WHEN try_cast({v} AS BIGINT) BETWEEN {MIN_EPOCH_MS} AND {MAX_EPOCH_MS} "
            f"THEN try_cast({v} AS BIGINT) END")


def _time_value(v: str) -> str:
    return (
        f"CASE WHEN json_type({v}) IN {_INTEGER_TYPES} "
        f"THEN make_timestamp({_epoch_ms(v)} * 1000)::TIMESTAMPTZ "
        f"WHEN json_type({v}) = 'VARCHAR' AND regexp_matches({v}->>'$', {_lit(_ISO + _OFFSET)}) "
        f"THEN try_cast({v}->>'$' AS TIMESTAMPTZ) END"
    )


def _time_error(name: str, v: str) -> str:
    return (
        f"CASE WHEN json_type({v}) = 'VARCHAR' AND regexp_matches({v}->>'$', {_lit(_ISO + '$')}) "
        f"THEN '{name} ' || {_shown(v)} || ' has no UTC offset; add ''Z'' or ''+HH:MM''' "
        f"WHEN json_type({v}) IN {_INTEGER_TYPES} AND {_epoch_ms(v)} IS NULL "
        f"THEN '{name} ' || {_shown(v)} || ' is out of range for epoch milliseconds "
        f"(years 0001 to 9999)' "
        f"WHEN {_time_value(v)} IS NULL "
        f"THEN '{name} ' || {_shown(v)} || ' is not epoch milliseconds or an ISO-8601 date-time "
        f"with ''Z'' or an offset' END"
    )


def _field_sql(f: Field, v: str) -> tuple[str, str | None]:
    """(typed value expression, error expression or None) for one field's JSON value `v`."""
    name = f.name
    is_str = f"json_type({v}) = 'VARCHAR'"
    not_str = f"'{name} ' || {_shown(v)} || ' must be a string'"
    if f.kind == "id":
        value = f"{v}->>'$'"
        error = (
            f"CASE WHEN {v} IS NULL THEN '{name} is required' "
            f"WHEN NOT {is_str} THEN {not_str} "
            f"WHEN length({value}) NOT BETWEEN 1 AND {MAX_EVENT_ID} "
            f"THEN '{name} ' || {_shown(v)} || ' must be 1 to {MAX_EVENT_ID} characters long "
            f"(got ' || length({value}) || ')' END"
        )
        return value, error
    if f.kind == "event_type":
        allowed = ", ".join(_lit(t) for t in EVENT_TYPES)
        value = f"{v}->>'$'"
        error = (
            f"CASE WHEN {v} IS NULL THEN '{name} is required' "
            f"WHEN NOT {is_str} OR {value} NOT IN ({allowed}) "
            f"THEN '{name} ' || {_shown(v)} || ' is not a known event type; expected one of "
            f"{', '.join(EVENT_TYPES)}' END"
        )
        return value, error
    if f.kind == "time":
        value = _time_value(v)
        error = f"CASE WHEN {v} IS NOT NULL THEN {_time_error(name, v)} END"
        if f.required:
            error = f"CASE WHEN {v} IS NULL THEN '{name} is required' ELSE {_time_error(name, v)} END"
        return value, error
    if f.kind in ("string", "stage"):
        value = f"{v}->>'$'"
        error = (
            f"CASE WHEN {v} IS NULL THEN NULL WHEN NOT {is_str} THEN {not_str} "
            f"WHEN length({value}) > {MAX_SHORT_STRING} "
            f"THEN '{name} ' || {_shown(v)} || ' is longer than {MAX_SHORT_STRING} characters "
            f"(got ' || length({value}) || ')' END"
        )
        return value, error
    if f.kind == "message":
        redacted = f"{v}->>'$'"
        for pattern, replacement in REDACTIONS:
            redacted = f"regexp_replace({redacted}, {_lit(pattern)}, {_lit(replacement)}, 'g')"
        value = f"left({redacted}, {MAX_ERROR_MESSAGE})"
        error = f"CASE WHEN {v} IS NOT NULL AND NOT {is_str} THEN {not_str} END"
        return value, error
    if f.kind in ("number", "ratio", "int"):
        value = f"try_cast({v} AS DOUBLE)"
        kinds = _INTEGER_TYPES if f.kind == "int" else _NUMBER_TYPES
        rule = {
            "number": "must be a finite number >= 0",
            "ratio": "must be a number between 0 and 1",
            "int": "must be a whole number >= 0",
        }[f.kind]
        bad_range = f"NOT isfinite({value}) OR {value} < 0"
        if f.kind == "ratio":
            bad_range += f" OR {value} > 1"
        if f.kind == "int":  # beyond BIGINT would otherwise be stored as NULL without a word
            bad_range += f" OR try_cast({v} AS BIGINT) IS NULL"
        error = (
            f"CASE WHEN {v} IS NULL THEN NULL "
            f"WHEN json_type({v}) NOT IN {kinds} OR {value} IS NULL OR {bad_range} "
            f"THEN '{name} ' || {_shown(v)} || ' {rule}' END"
        )
        if f.kind == "int":
            value = f"try_cast({v} AS BIGINT)"
        return value, error
    raise AssertionError(f"no rule for field kind {f.kind!r}")


def _structure(names: list[str]) -> str:
    return json.dumps({n: "JSON" for n in names})


def _validation_sql() -> str:
    top = [n for f in FIELDS for n in f.input_names] + [n for f in METADATA_FIELDS for n in f.input_names]
    meta_names = [n for f in METADATA_FIELDS for n in f.input_names]
    known_meta = ", ".join(_lit(n) for n in meta_names)

    columns, errors = [], []
    for f in FIELDS:
        if f.kind == "metadata":
            continue
        value, error = _field_sql(f, _pick(f.input_names, "s"))
        errors.append(error)
        if f.kind != "stage":  # the stored stage is derived below
            columns.append(f"{value} AS {f.name}")
    for f in METADATA_FIELDS:
        # a known key inside metadata wins; the same key at top level (Parquet round trips) also counts
        v = f"coalesce({_pick(f.input_names, 'm')}, {_pick(f.input_names, 's')})"
        value, error = _field_sql(f, v)
        columns.append(f"{value} AS {f.name}")
        errors.append(error.replace(f"'{f.name} ", f"'metadata.{f.name} ", 1))

    stage_of = " ".join(f"WHEN {_lit(t)} THEN {_lit(s)}" for t, (s, _) in EVENT_TYPES.items() if s)
    derived = f"CASE event_type_raw {stage_of} END"
    any_stage = ", ".join(_lit(t) for t in ANY_STAGE_TYPES)
    stages = ", ".join(_lit(s) for s in STAGES)
    stage_error = (
        f"CASE WHEN stage_raw IS NULL OR json_type(stage_raw) <> 'VARCHAR' THEN NULL "
        f"WHEN stage_raw->>'$' NOT IN ({stages}) "
        f"THEN 'pipeline_stage ' || {_shown('stage_raw')} || ' is not a known stage; expected one of "
        f"{', '.join(STAGES)}' "
        f"WHEN event_type_raw IN ({any_stage}) THEN NULL "
        f"WHEN {derived} IS DISTINCT FROM stage_raw->>'$' "
        f"THEN 'pipeline_stage ' || {_shown('stage_raw')} || ' disagrees with event_type ' || "
        f"event_type_raw || ', which implies ' || coalesce({derived}, 'no stage') END"
    )
    metadata_error = (
        "CASE WHEN meta_raw IS NOT NULL AND json_type(meta_raw) <> 'OBJECT' "
        f"THEN 'metadata ' || {_shown('meta_raw')} || ' must be a JSON object' END"
    )
    future_error = (
        f"CASE WHEN \"timestamp\" > $now + INTERVAL {FUTURE_TOLERANCE_MS} MILLISECOND "
        "THEN 'timestamp ' || strftime(\"timestamp\", '%Y-%m-%dT%H:%M:%S.%gZ') || ' is more than 5 minutes "
        "after now (' || strftime($now::TIMESTAMPTZ, '%Y-%m-%dT%H:%M:%SZ') || ')' END"
    )
    stored = ", ".join(c for c in STORED_COLUMNS if c not in ("pipeline_stage", "metadata", "ingested_at"))
    return f"""
with parsed as (
    select line_no, line,
        coalesce(case when json_valid(line) then json_type(line::JSON) = 'OBJECT' end, false)
            as is_object
    from raw_input
),
objects as (
    select line_no, line, json_transform(line, {_lit(_structure(top))}) as s
    from parsed where is_object
),
unpacked as (
    select line_no, line, s,
        -- metadata may come as an object or (from Parquet) as a JSON string holding one
        case when json_type(s.metadata) = 'VARCHAR' and json_valid(s.metadata->>'$')
             then (s.metadata->>'$')::JSON else nullif(s.metadata, 'null'::JSON) end as meta_raw,
        {_pick(("pipeline_stage", "pipelineStage"), "s")} as stage_raw,
        {_pick(("event_type", "eventType"), "s")}->>'$' as event_type_raw
    from objects
),
typed as (
    select line_no, line, stage_raw, event_type_raw, meta_raw,
        case when json_type(meta_raw) = 'OBJECT'
             then json_transform(meta_raw, {_lit(_structure(meta_names))}) end as m,
        s
    from unpacked
),
checked as (
    select line_no, line,
        {", ".join(columns)},
        coalesce(stage_raw->>'$', {derived}) as pipeline_stage,
        nullif(to_json(map_from_entries(list_transform(
            list_filter(json_keys(meta_raw), lambda k: k NOT IN ({known_meta})),
            lambda k: struct_pack(k := k, v := meta_raw->k))))::VARCHAR, '{{}}') as metadata,
        concat_ws('; ', {", ".join(errors)}, {stage_error}, {metadata_error}) as reason
    from typed
)
select line_no, line, {stored}, pipeline_stage, metadata,
    nullif(concat_ws('; ', nullif(reason, ''), {future_error}), '') as reason
from checked
union all by name
select line_no, line,
    case when json_valid(line) then 'record is JSON but not an object; expected one event object per record'
         else 'record is not valid JSON' end as reason
from parsed where not is_object
"""


VALIDATION_SQL = _validation_sql()


def validate(
    con: duckdb.DuckDBPyConnection, lines: list[str], now: datetime, ingested_at: datetime
) -> tuple[pa.Table, pa.Table]:
    """Split raw JSON texts into (accepted events, rejected records with reasons).

    Accepted rows keep input order and carry the stored event columns plus `line_no`;
    rejected rows are (line_no, raw, reason).
    """
    raw = pa.table({"line_no": pa.array(range(len(lines)), pa.int64()), "line": pa.array(lines, pa.string())})
    con.register("raw_input", raw)
    try:
        con.execute(
            f"create or replace temp table validated as {VALIDATION_SQL}",
            {"now": now.astimezone(UTC)},
        )
    finally:
        con.unregister("raw_input")
    accepted = con.sql(
        f"select {', '.join(c for c in STORED_COLUMNS if c != 'ingested_at')}, "
        "$ingested_at::TIMESTAMPTZ as ingested_at from validated where reason is null order by line_no",
        params={"ingested_at": ingested_at.astimezone(UTC)},
    ).to_arrow_table()
    rejected = con.sql(
        "select line_no, line as raw, reason from validated where reason is not null order by line_no"
    ).to_arrow_table()
    con.execute("drop table validated")
    return accepted, rejected
