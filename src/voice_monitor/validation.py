"""Vectorised validation of raw event records, derived from the schema in `schema.py`.

Every record arrives as one JSON text. One DuckDB query parses the whole batch at once, maps
camelCase to snake_case, types each field, derives the stage, promotes known metadata keys,
redacts and truncates `error_message`, and collects every broken rule into a reason. The SQL
is generated here from the schema tables only; record values are data, never SQL text.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from functools import lru_cache

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from voice_monitor.records import as_text, lone_surrogate, look_again, merged, second_looks
from voice_monitor.redaction import GATE, redact_json_sql, redact_sql
from voice_monitor.schema import (
    ANY_STAGE_TYPES,
    EVENT_TYPES,
    FIELDS,
    FUTURE_TOLERANCE_MS,
    ISO_DATE_TIME,
    ISO_LEAP_SECOND,
    ISO_OFFSET,
    MAX_COUNT,
    MAX_ERROR_MESSAGE,
    MAX_EVENT_ID,
    MAX_NUMBER,
    MAX_SHORT_STRING,
    METADATA_FIELDS,
    STAGES,
    STORED_COLUMNS,
    Field,
    duckdb_type,
)
from voice_monitor.statements import parsed, run_prepared

# 't' and 'z' as well (DuckDB's cast takes upper case only: `_iso_cast` upper-cases the rare
# text that needs it)
_ISO, _OFFSET = ISO_DATE_TIME, ISO_OFFSET
_INTEGER_TYPES = "('UBIGINT', 'BIGINT')"
_LEAP = ISO_LEAP_SECOND  # a leap second: the last microsecond of the minute before it
# Times before 2000 are out of range: so epoch seconds (1.7e9 is January 1970 in milliseconds)
# and years 1-999 (which no partition listing would find) are rejected, never stored.
MIN_EPOCH_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
MAX_EPOCH_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
_MIN_TIME, _MAX_TIME = "'2000-01-01 00:00:00+00'::TIMESTAMPTZ", "'9999-12-31 23:59:59.999999+00'::TIMESTAMPTZ"
_EARLY, _LATE = "before 2000-01-01T00:00:00Z", "after 9999-12-31T23:59:59.999Z"
_LATE_TEXT = "after 9999-12-31T23:59:59.999999Z"  # the last instant an ISO text may name
# identifiers are looked up by exact value: a control character (NUL, newline...) in one is refused
IDENTIFIERS = frozenset({"event_id", "artifact_id", "voice_note_id", "organization_id", "coach_user_id"})
# an optional identifier is named or absent (null): "" would be one no read can name (reads
# refuse '' as an id, arguments.identifier); each with what its absence means
NON_EMPTY = {"artifact_id": "artifact", "voice_note_id": "voice note",
             "organization_id": "organization", "coach_user_id": "coach user"}
# string fields stored with their secrets redacted (identifiers are stored exactly as sent)
REDACTED_FIELDS = frozenset({"previous_status", "new_status", "error_code", "ai_model", "source_channel"})
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
    if not names:
        return "NULL::JSON"  # no record of the batch uses any of them
    parts = [f"nullif({source}.\"{n}\", 'null'::JSON)" for n in names]
    return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"


def _time_shown(t: str, fraction: str) -> str:
    """SQL: the UTC time `t` as ISO-8601 with Z, its seconds' `fraction` ('.%g' or none) widened
    to what `t` holds, so a time 1 us past a limit is never shown as the limit itself."""
    def form(f: str) -> str:
        return f"strftime({t}, '%Y-%m-%dT%H:%M:%S{f}Z')"
    return (f"CASE WHEN microsecond({t}) % 1000 <> 0 THEN {form('.%f')} "
            f"WHEN microsecond({t}) % 1000000 <> 0 THEN {form('.%g')} ELSE {form(fraction)} END")


def _iso_cast(x: str) -> str:
    """`x` (an ISO-8601 text) as a TIMESTAMPTZ, NULL if it is none; a leap second as above."""
    text = (f"CASE WHEN contains({x}, ':60') THEN regexp_replace({x}, {_lit(_LEAP)}, "
            f"'\\1:59.999999') ELSE {x} END")
    # lower-case 't'/'z' only when the text as written does not cast: no cost to the usual form
    return f"coalesce(try_cast({text} AS TIMESTAMPTZ), try_cast(upper({text}) AS TIMESTAMPTZ))"


def _cols(name: str) -> tuple[str, str, str, str]:
    """Column names of one field: (JSON value, JSON type, text, typed value)."""
    return f'"v_{name}"', f'"t_{name}"', f'"x_{name}"', f'"{name}"'


def _value_sql(f: Field, t: str | None = None, x: str | None = None) -> str:
    """The typed value of one field, from its JSON type and text columns (or the expressions
    `t` and `x` for another value of it)."""
    _, t0, x0, _ = _cols(f.name)
    t, x = t or t0, x or x0
    if f.kind == "time":
        # the range guard keeps the multiplication from overflowing, which would fail the batch
        epoch = (f"CASE WHEN try_cast({x} AS BIGINT) BETWEEN {MIN_EPOCH_MS} AND {MAX_EPOCH_MS} "
                 f"THEN try_cast({x} AS BIGINT) END")
        iso = _iso_cast(x)
        return (f"CASE WHEN {t} IN {_INTEGER_TYPES} THEN make_timestamp({epoch} * 1000)::TIMESTAMPTZ "
                f"WHEN {t} = 'VARCHAR' AND regexp_matches({x}, {_lit(_ISO + _OFFSET)}) "
                f"AND {iso} BETWEEN {_MIN_TIME} AND {_MAX_TIME} THEN {iso} END")
    if f.kind == "message":  # redacted first, so a secret straddling the cut is never half kept
        return f"CASE WHEN {t} = 'VARCHAR' THEN left({redact_sql(x, 'redact')}, {MAX_ERROR_MESSAGE}) END"
    if f.name in REDACTED_FIELDS:
        return redact_sql(x, "redact")
    if f.kind == "int":
        return f"CASE WHEN {t} IN {_INTEGER_TYPES} THEN try_cast({x} AS BIGINT) END"
    if f.kind in ("number", "ratio"):
        return f"CASE WHEN {t} IN {_NUMBER_TYPES} THEN try_cast({x} AS DOUBLE) END"
    return x


def _error_sql(f: Field, label: str) -> str:
    """Why one field breaks its rule (NULL when it does not); the reason starts with `label`."""
    v, t, x, value = _cols(f.name)
    shown = f"'{label} ' || {_shown(v)} || "
    absent = f"'{label} is required'" if f.required else "NULL"
    # raw control characters are not JSON: in a parsed string they can only come from an escape
    control = (f"WHEN contains({v}::VARCHAR, '\\') AND regexp_matches({x}, '[\\x00-\\x1f]') "
               f"THEN {shown}' contains a control character (U+0000 to U+001F); identifiers "
               "must not' "
               # these JSON lets stand raw: DEL, the C1 controls (NEL, CSI...), U+2028/U+2029
               # (the pattern runs only on a value holding DEL or a non-ASCII character: strlen
               # counts bytes, length characters)
               f"WHEN (strlen({x}) > length({x}) OR contains({x}, chr(127))) AND "
               f"regexp_matches({x}, '[\\x{{7f}}-\\x{{9f}}\\x{{2028}}\\x{{2029}}]') "
               f"THEN {shown}' contains a control character or line separator (U+007F to "
               "U+009F, U+2028, U+2029); identifiers must not' "
               if f.name in IDENTIFIERS else "")
    if f.kind == "id":
        return (f"CASE WHEN {v} IS NULL THEN {absent} "
                f"WHEN {t} <> 'VARCHAR' THEN {shown}' must be a string' "
                f"WHEN length({x}) NOT BETWEEN 1 AND {MAX_EVENT_ID} THEN {shown}' must be 1 to "
                f"{MAX_EVENT_ID} characters long (got ' || length({x}) || ')' {control}END")
    if f.kind == "event_type":
        allowed = ", ".join(_lit(t) for t in EVENT_TYPES)
        return (f"CASE WHEN {v} IS NULL THEN {absent} "
                f"WHEN {t} <> 'VARCHAR' OR {x} NOT IN ({allowed}) THEN {shown}' is not a known "
                f"event type; expected one of {', '.join(EVENT_TYPES)}' END")
    if f.kind == "time":
        return (f"CASE WHEN {v} IS NULL THEN {absent} WHEN {value} IS NOT NULL THEN NULL "
                f"WHEN {t} = 'VARCHAR' AND regexp_matches({x}, {_lit(_ISO + '$')}) "
                f"THEN {shown}' has no UTC offset (add ''Z'' or ''+HH:MM'')' "
                # a whole number beyond 64 bits (typed DOUBLE) is out of range as those below
                # it are, not "not epoch milliseconds"
                f"WHEN {t} IN {_INTEGER_TYPES} OR ({t} = 'DOUBLE' "
                f"AND regexp_full_match({x}, '-?[0-9]+')) "
                f"THEN {shown}' is out of range: ' || CASE WHEN try_cast({x} AS DOUBLE) < 0 "
                f"THEN {_lit(_EARLY)} WHEN try_cast({x} AS DOUBLE) < {MIN_EPOCH_MS} "
                f"THEN {_lit(_EARLY + ' as epoch milliseconds (epoch seconds? multiply by 1000)')} "
                f"ELSE {_lit(_LATE + ' as epoch milliseconds')} END "
                f"WHEN {t} = 'VARCHAR' AND regexp_matches({x}, {_lit(_ISO + _OFFSET)}) "
                f"AND {_iso_cast(x)} IS NOT NULL THEN {shown}' is out of range: ' "
                f"|| CASE WHEN {_iso_cast(x)} < {_MIN_TIME} THEN {_lit(_EARLY)} "
                f"ELSE {_lit(_LATE_TEXT)} END "
                f"ELSE {shown}' is not epoch milliseconds or an ISO-8601 date-time with ''Z'' "
                f"or an offset' END")
    if f.kind in ("string", "stage", "message"):
        too_long = "" if f.kind == "message" else (
            f"WHEN length({x}) > {MAX_SHORT_STRING} THEN {shown}' is longer than "
            f"{MAX_SHORT_STRING} characters (got ' || length({x}) || ')' ")
        empty = (f"WHEN {x} = '' THEN {shown}' is empty; leave it out (or send null) for no "
                 f"{NON_EMPTY[f.name]}' " if f.name in NON_EMPTY else "")
        return (f"CASE WHEN {v} IS NULL THEN NULL "
                f"WHEN {t} <> 'VARCHAR' THEN {shown}' must be a string' {too_long}{empty}{control}END")
    rule, bad = {
        "number": ("must be a finite number >= 0", f"NOT isfinite({value}) OR {value} < 0"),
        "ratio": ("must be a number between 0 and 1", f"NOT {value} BETWEEN 0 AND 1"),
        # beyond BIGINT the typed value is NULL: rejected, never stored as NULL without a word
        "int": ("must be a whole number >= 0", f"{value} < 0"),
    }[f.kind]
    # over what one event may carry (schema.MAX_COUNT, MAX_NUMBER): the sums of many would not
    # fit (a BIGINT overflow failed the hour's rollup; doubles summed to infinity)
    most = {"number": (repr(MAX_NUMBER), repr(MAX_NUMBER).replace("e+", "e")),
            "int": (str(MAX_COUNT), f"{MAX_COUNT:,}")}.get(f.kind)
    over = (f"WHEN {value} > {most[0]} THEN {shown}' is over {most[1]}, more than one event may "
            "carry' " if most else "")
    # a whole number written beyond BIGINT (typed NULL) is over the bound too, not "not whole"
    huge = (f"WHEN {value} IS NULL AND {t} <> 'VARCHAR' AND regexp_full_match({x}, '[0-9]+') "
            f"THEN {shown}' is over {most[1]}, more than one event may carry' "
            if f.kind == "int" else "")
    return (f"CASE WHEN {v} IS NULL THEN NULL {huge}WHEN {value} IS NULL OR {bad} "
            f"THEN {shown}' {rule}' {over}END")


def _type_sql(v: str) -> str:
    """json_type of a JSON value, without parsing it again when it is a string (most are)."""
    return f"CASE WHEN starts_with({v}::VARCHAR, '\"') THEN 'VARCHAR' ELSE json_type({v}) END"


def _text_sql(v: str) -> str:
    """`v->>'$'` of a JSON value: a string without a backslash has no escapes, so it is its
    text between the quotes, which is a slice rather than another parse."""
    return (f"CASE WHEN starts_with({v}::VARCHAR, '\"') AND NOT contains({v}::VARCHAR, '\\') "
            f"THEN ({v}::VARCHAR)[2:-2] ELSE {v}->>'$' END")


def _same_sql(f: Field, a: str, b: str) -> str:
    """SQL: whether the JSON values `a` and `b` (neither NULL) are one value of the field `f`:
    the same text, the same string, the same number, or (a time) the same instant."""
    ta, tb, xa, xb = _type_sql(a), _type_sql(b), _text_sql(a), _text_sql(b)
    same = [f"{a}::VARCHAR = {b}::VARCHAR", f"({ta} = 'VARCHAR' AND {tb} = 'VARCHAR' AND {xa} = {xb})"]
    if f.kind in ("number", "ratio", "int", "time"):
        same.append(f"({ta} IN {_INTEGER_TYPES} AND {tb} IN {_INTEGER_TYPES} "
                    f"AND try_cast({xa} AS BIGINT) = try_cast({xb} AS BIGINT))")
    if f.kind in ("number", "ratio", "int"):
        same.append(f"({ta} IN {_NUMBER_TYPES} AND {tb} IN {_NUMBER_TYPES} "
                    f"AND try_cast({xa} AS DOUBLE) = try_cast({xb} AS DOUBLE))")
    if f.kind == "time":  # epoch milliseconds and ISO text (any offset) of one instant
        same.append(f"{_value_sql(f, ta, xa)} = {_value_sql(f, tb, xb)}")
    return f"coalesce({' OR '.join(same)}, false)"


def _twice_sql(f: Field, label: str, given: list[tuple[str, str]]) -> str:
    """Why a record gives the field `f` under two of its names with different values (NULL when
    it does not): `given` is (name as the reason shows it, its JSON value or NULL) by precedence."""
    pairs = [(given[i], given[j]) for i in range(len(given)) for j in range(i + 1, len(given))]
    return "CASE " + " ".join(
        f"WHEN {a} IS NOT NULL AND {b} IS NOT NULL AND NOT {_same_sql(f, a, b)} "
        f"THEN {_lit(f'{label} given twice, as {na} ')} || {_shown(a)} || {_lit(f' and {nb} ')} "
        f"|| {_shown(b)} || ' (send one)' "
        for (na, a), (nb, b) in pairs) + "END"


def _structure(names: list[str]) -> str:
    return json.dumps({n: "JSON" for n in names})


# a metadata object as a MAP (NULL when it repeats a key), and its unknown keys kept as JSON
METADATA_MAP_SQL = ("case when json_type(meta_raw) = 'OBJECT' "
                    "then json_transform(meta_raw, '\"MAP(VARCHAR, JSON)\"') end")
KEPT_METADATA_SQL = (
    "nullif(to_json(map_from_entries(list_filter(map_entries(m_all), lambda e: e.key NOT IN ("
    + ", ".join(_lit(n) for f in METADATA_FIELDS for n in f.input_names)
    + "))))::VARCHAR, '{}')")
# Fields every batch is checked for, present or not: the required ones and the stage.
_ALWAYS = frozenset({"event_id", "event_type", "timestamp", "pipeline_stage"})
_ALL_FIELDS = frozenset(f.name for f in (*FIELDS, *METADATA_FIELDS))
_ALL_NAMES = frozenset(n for f in (*FIELDS, *METADATA_FIELDS) for n in f.input_names)


# A byte-order mark is ignored as a line's (a record's) very first character (records.cut_lines);
# one after blanks, or a second one, is no JSON: named, with the fix, not only "not valid JSON".
BOM_INSIDE_SQL = "starts_with(ltrim(line, ' ' || chr(9) || chr(10) || chr(13)), chr(65279))"
BOM_INSIDE = ("record is not valid JSON: it starts with a byte-order mark (U+FEFF) after blanks "
              "or after another mark, where JSON allows none (remove the mark: one is ignored "
              "only as the very first character of a line)")
# an array's element with nothing in it (`[{…},]`, `[{…},,{…}]`): its raw text is empty, and
# "not valid JSON" alone left a reader of the quarantine to guess what was
NOT_JSON = "record is not valid JSON"
EMPTY_SQL = "trim(line, ' ' || chr(9) || chr(10) || chr(13)) = ''"
EMPTY = ("record is not valid JSON: it is empty (an array element with nothing in it, as after "
         "a trailing comma [{...},] or between two commas: remove the extra comma)")


@lru_cache(maxsize=64)
def _validation_sql(present: frozenset[str] = _ALL_FIELDS, names: frozenset[str] = _ALL_NAMES,
                    doubled: frozenset[str] = _ALL_FIELDS) -> str:
    """The validation query for a batch in which only the fields in `present` occur, some
    record may give the fields in `doubled` under two of their names.

    Rules run only over fields that occur in the batch (an absent field breaks no rule and is
    stored as NULL), which keeps both planning and execution proportional to what is there.
    """
    # Staged so that each JSON value is parsed once and every rule refers to columns.
    present = present | _ALWAYS
    fields = [f for f in FIELDS if f.kind != "metadata" and f.name in present]
    metas = [f for f in METADATA_FIELDS if f.name in present]
    with_meta = "metadata" in present
    every = fields + metas
    # only the top-level names some record uses: a narrower structure is a cheaper transform
    top = [n for f in FIELDS if f.name in present for n in f.input_names if n in names]
    top += [n for f in metas for n in f.input_names if n in names]
    top = top or ["event_id"]  # DuckDB refuses an empty structure; no record has the key anyway

    used = lambda f: tuple(n for n in f.input_names if n in names)  # noqa: E731
    picks = [f"{_pick(used(f), 's')} AS {_cols(f.name)[0]}" for f in fields]
    picks += [f"{_pick(used(f), 's')} AS \"top_{f.name}\"" for f in metas]
    # a known key inside metadata wins; the same key at top level (Parquet round trips) also counts
    meta_picks = [
        "coalesce(" + "".join(f"m_all[{_lit(n)}], " for n in f.input_names if with_meta)
        + f"\"top_{f.name}\") AS {_cols(f.name)[0]}"
        for f in metas
    ]
    # a field given under two names (top level or in metadata) with different values: which one
    # is meant? (nothing is stored altered): each name's value, compared in `picked`
    given, twice = {}, []
    for f in every:
        if f.name not in doubled:
            continue
        label = f.name if f in fields else "metadata." + f.name
        top_given = [(n, f'"n_{f.name}_{i}"') for i, n in enumerate(used(f))]
        meta_given = [("metadata." + n, f"nullif(m_all[{_lit(n)}], 'null'::JSON)")
                      for n in f.input_names if with_meta and f in metas]
        if len(top_given) + len(meta_given) > 1:
            given[f.name] = top_given
            twice.append(f'{_twice_sql(f, label, top_given + meta_given)} AS "c_{f.name}"')
    picks += [f"nullif(s.\"{n}\", 'null'::JSON) AS {c}" for g in given.values() for n, c in g]
    typed = [f"{_type_sql(_cols(f.name)[0])} AS {_cols(f.name)[1]}, "
             f"{_text_sql(_cols(f.name)[0])} AS {_cols(f.name)[2]}" for f in every]
    values = [f"{_value_sql(f)} AS {_cols(f.name)[3]}" for f in every if f.kind != "stage"]
    errors = [e for f in fields for e in ([f'"c_{f.name}"'] if f.name in given else [])
              + [_error_sql(f, f.name)]]
    errors += [e for f in metas for e in ([f'"c_{f.name}"'] if f.name in given else [])
               + [_error_sql(f, "metadata." + f.name)]]

    derived = "CASE x_event_type " + " ".join(
        f"WHEN {_lit(t)} THEN {_lit(s)}" for t, (s, _) in EVENT_TYPES.items() if s) + " END"
    any_stage = ", ".join(_lit(t) for t in ANY_STAGE_TYPES)
    stages = ", ".join(_lit(s) for s in STAGES)
    stage_error = (
        "CASE WHEN t_pipeline_stage IS DISTINCT FROM 'VARCHAR' THEN NULL "
        f"WHEN x_pipeline_stage NOT IN ({stages}) "
        f"THEN 'pipeline_stage ' || {_shown('v_pipeline_stage')} || ' is not a known stage; "
        f"expected one of {', '.join(STAGES)}' "
        f"WHEN x_event_type IN ({any_stage}) THEN NULL "
        "WHEN derived_stage IS DISTINCT FROM x_pipeline_stage "
        f"THEN 'pipeline_stage ' || {_shown('v_pipeline_stage')} || ' disagrees with event_type ' || "
        "x_event_type || ', which implies ' || coalesce(derived_stage, 'no stage') END"
    )
    metadata_error = (
        "CASE WHEN meta_raw IS NULL THEN NULL WHEN json_type(meta_raw) <> 'OBJECT' "
        f"THEN 'metadata ' || {_shown('meta_raw')} || ' must be a JSON object' "
        f"WHEN m_all IS NULL THEN 'metadata ' || {_shown('meta_raw')} || ' repeats a key' END"
    )
    stamp = '"timestamp"'
    future_error = (
        f"CASE WHEN {stamp} > $now + INTERVAL {FUTURE_TOLERANCE_MS} MILLISECOND "
        f"THEN 'timestamp ' || {_time_shown(stamp, '.%g')} || ' is more "
        f"than 5 minutes after now (' || {_time_shown('$now::TIMESTAMPTZ', '')} || ')' END"
    )
    stored = ", ".join(
        c if c in present or c == "pipeline_stage" else f"NULL::{duckdb_type(c)} AS {c}"
        for c in STORED_COLUMNS if c != "ingested_at")
    if with_meta:
        meta_stage = f"""
    -- metadata may come as an object or (from Parquet) as a JSON string holding one;
    -- a MAP keeps the unknown keys, and is NULL when the object repeats a key
    select *, {METADATA_MAP_SQL} as m_all
    from (select *, case when json_type(v_metadata) = 'VARCHAR' and json_valid(v_metadata->>'$')
                         then (v_metadata->>'$')::JSON else v_metadata end as meta_raw
          from unpacked)"""
        unknown_meta = f"{KEPT_METADATA_SQL} as metadata_kept"
        metadata_pick = ", nullif(s.metadata, 'null'::JSON) as v_metadata"
    else:
        meta_stage = "select *, NULL::JSON as meta_raw, NULL::MAP(VARCHAR, JSON) as m_all from unpacked"
        unknown_meta = "NULL::VARCHAR as metadata_kept"
        metadata_pick = ""
    return f"""
with parsed as (
    select line_no, line, redact, case when json_valid(line) then json_type(line) end as root_type
    from raw_input
),
unpacked as (
    select line_no, line, redact, root_type, {", ".join(picks)}{metadata_pick}
    from (select line_no, line, redact, root_type, case when root_type = 'OBJECT'
                 then json_transform(line, {_lit(_structure(top))}) end as s
          from parsed)
),
meta as ({meta_stage}
),
picked as (
    select line_no, line, redact, root_type, meta_raw, m_all, {", ".join(_cols(f.name)[0] for f in fields)},
        {"".join(p + ", " for p in meta_picks)}{"".join(c + ", " for c in twice)}{unknown_meta}
    from meta
),
typed as (
    select *, {", ".join(typed)} from picked
),
valued as (
    select *, {", ".join(values)}, {derived} as derived_stage,
        {redact_json_sql("metadata_kept", "redact")} as metadata from typed
),
checked as (
    select *, coalesce(x_pipeline_stage, derived_stage) as pipeline_stage,
        concat_ws('; ', {", ".join(errors)}, {stage_error}, {metadata_error}) as reason
    from valued
),
reasoned as (
    -- one pipeline, no union: rows come out in input order
    select line_no, line, {stored},
        case when root_type is null  -- (the mark looked for only in these few)
             then case when {BOM_INSIDE_SQL} then '{BOM_INSIDE}' when {EMPTY_SQL} then '{EMPTY}'
                       else '{NOT_JSON}' end
             when root_type <> 'OBJECT'
             then 'record is JSON but not an object; expected one event object per record'
             else nullif(concat_ws('; ', nullif(reason, ''), {future_error}), '') end as reason
    from checked
),
final as (
    -- only a rejected record keeps its raw text: the accepted ones would copy the whole input
    select * replace (case when reason is not null then line end as line) from reasoned
)
select * from final
"""


# The names a batch may use for each field (stored name, camelCase, aliases).
_NAMES_OF: dict[str, str] = {n: f.name for f in (*FIELDS, *METADATA_FIELDS) for n in f.input_names}
# The top-level key lists of a batch: a few shapes, whatever its size. A shape that repeats a
# key (DuckDB and orjson would silently keep one value) sends us back for its records.
_SHAPES_SQL = "select distinct try(json_keys(line)) from raw_input"
_REPEATS_SQL = """
select line_no, list_filter(keys, lambda key, i: list_position(keys, key) < i)[1]
from (select line_no, try(json_keys(line)) as keys from raw_input)
where len(keys) <> list_unique(keys)
"""
# a metadata that is a JSON string (Parquet) stands for "any metadata key may occur"
_META_KEYS_SQL = """
select distinct unnest(case when try(json_type(line, '$.metadata')) = 'VARCHAR' then ['*']
                            else try(json_keys(line, '$.metadata')) end)
from raw_input
"""


def _present_fields(con: duckdb.DuckDBPyConnection) -> tuple[frozenset, frozenset, frozenset, list]:
    """The stored fields some record of `raw_input` names, at top level or inside metadata,
    the input names used for them, the fields some record may name twice (two of its names, or
    a metadata key at top level and inside metadata), and (line_no, key) of the records that
    repeat a key."""
    shapes = [keys for (keys,) in con.execute(_SHAPES_SQL).fetchall() if keys]
    keys = {k for shape in shapes for k in shape}
    repeats = con.execute(_REPEATS_SQL).fetchall() if any(
        len(set(shape)) < len(shape) for shape in shapes) else []
    doubled = set()
    for shape in shapes:  # a few shapes, whatever the batch's size
        named = [_NAMES_OF[k] for k in set(shape) if k in _NAMES_OF]
        if len(named) > len(set(named)):
            doubled |= {n for n in named if named.count(n) > 1}
    if "metadata" in keys:
        meta = {k for (k,) in con.execute(_META_KEYS_SQL).fetchall()}
        for f in METADATA_FIELDS:  # (the keys of all metadata together: it may be so)
            inside = sum(n in meta for n in f.input_names)
            if "*" in meta or inside > 1 or (inside and any(n in keys for n in f.input_names)):
                doubled.add(f.name)
        keys |= meta
        if "*" in meta:
            keys |= {f.name for f in METADATA_FIELDS}
    names = frozenset(_NAMES_OF[k] for k in keys if k in _NAMES_OF)
    return names, frozenset(keys & _ALL_NAMES), frozenset(doubled), repeats


VALIDATION_SQL = _validation_sql()  # every field: the full query, for reading and EXPLAIN
_ACCEPTED = [c for c in STORED_COLUMNS if c != "ingested_at"]
_CHUNK = 65_536
_FEW = 4_096  # records of a batch this small are judged by a prepared query (`run_prepared`)
_REJECTED = pa.schema({"line_no": pa.int64(), "raw": pa.large_string(), "reason": pa.large_string()})


def validate(
    con: duckdb.DuckDBPyConnection, lines: list[str] | list[bytes] | pa.Array | pa.ChunkedArray,
    now: datetime, ingested_at: datetime,
) -> tuple[pa.Table, pa.Table]:
    """Split raw records (JSON texts, as str or bytes) into (accepted events, rejected records).

    Both keep input order. Accepted rows carry the stored event columns; rejected rows are
    (line_no, raw, reason), with secrets redacted from raw and reason.
    """
    texts, positions, early = as_text(lines)
    suspects, redact = second_looks(texts, GATE)
    # DuckDB scans an Arrow table in parallel by chunk: give it chunks to share between threads
    raw = pa.Table.from_batches([
        pa.record_batch({"line_no": pa.array(positions[start:start + _CHUNK], pa.int64()),
                         "line": texts.slice(start, _CHUNK), "redact": redact.slice(start, _CHUNK)})
        for start in range(0, len(texts), _CHUNK)
    ], schema=pa.schema({"line_no": pa.int64(), "line": texts.type, "redact": pa.bool_()}))
    con.register("raw_input", raw)
    try:
        present, names, doubled, repeats = _present_fields(con)
        query = _validation_sql(present, names, doubled)
        if len(texts) <= _FEW:  # parsed and bound once, not twice: its cost at this size
            result = run_prepared(con, query, {"now": now})
        else:
            result = con.sql(parsed(con, query), params={"now": now.astimezone(UTC)}).to_arrow_table()
    finally:
        con.unregister("raw_input")
    line_no = result.column("line_no")
    if len(line_no) > 1 and not pc.all(pc.greater(line_no[1:], line_no[:-1])).as_py():
        result = result.sort_by("line_no")  # input order is what makes "first landed wins"
    late = look_again(repeats, positions[suspects], texts, positions)
    ok = pc.is_null(result.column("reason"))
    if late:
        ok = pc.and_(ok, pc.invert(pc.is_in(result.column("line_no"), pa.array(list(late)))))
    accepted = result.filter(ok).select(_ACCEPTED)
    n = accepted.num_rows
    accepted = accepted.append_column("ingested_at", pa.repeat(
        pa.scalar(ingested_at.astimezone(UTC), pa.timestamp("us", tz="UTC")), n))
    rejected = result.filter(pc.invert(ok)).select(["line_no", "line", "reason"])
    rejected = rejected.rename_columns(["line_no", "raw", "reason"]).cast(_REJECTED)
    if late:
        numbers = rejected.column("line_no").to_pylist()
        reasons = [merged(late.get(i), r) for i, r in zip(
            numbers, rejected.column("reason").to_pylist(), strict=True)]
        # the query keeps no raw text of a record it accepted: take it from the input
        raws = [raw if raw is not None else texts[int(positions.searchsorted(i))].as_py()
                for i, raw in zip(numbers, rejected.column("raw").to_pylist(), strict=True)]
        rejected = pa.table({"line_no": numbers, "raw": raws, "reason": reasons}, _REJECTED)
    rejected = _surrogates_named(rejected)
    if early:
        rejected = pa.concat_tables([rejected, pa.Table.from_pylist(
            [dict(zip(_REJECTED.names, r, strict=True)) for r in early], _REJECTED)])
        rejected = rejected.sort_by("line_no")
    return accepted, _redacted(con, _escaped(rejected))


def _surrogates_named(rejected: pa.Table) -> pa.Table:
    """'not valid JSON' said of a record that is valid JSON holding a lone surrogate escape
    (\\ud800), which DuckDB's reader refuses: the reason says so (a producer reading 'not
    valid JSON' of valid JSON looked for a syntax error that is not there)."""
    reasons = rejected.column("reason")
    if not rejected.num_rows or not pc.any(pc.equal(reasons, NOT_JSON)).as_py():
        return rejected
    shown = [lone_surrogate(raw) or reason if reason == NOT_JSON and raw is not None else reason
             for raw, reason in zip(rejected.column("raw").to_pylist(), reasons.to_pylist(),
                                    strict=True)]
    return rejected.set_column(rejected.schema.get_field_index("reason"), "reason",
                               pa.array(shown, rejected.schema.field("reason").type))


# characters JSON lets stand raw that a terminal does not show: DEL, the C1 controls (NEL,
# CSI...), the line and paragraph separators
_UNSEEN = "[\x7f-\x9f\u2028\u2029]"


def _escaped(rejected: pa.Table) -> pa.Table:
    """Reasons with `_UNSEEN` characters written as JSON escapes (DEL as \\u007F): a reason
    quotes a value as its JSON text, where NUL or a newline is already an escape (\\u0000,
    \\n), while these stood raw, invisible. The raw record is kept as it came."""
    reasons = rejected.column("reason")
    if not rejected.num_rows or not pc.any(pc.match_substring_regex(reasons, _UNSEEN)).as_py():
        return rejected
    unseen = re.compile(_UNSEEN)
    shown = [None if r is None else unseen.sub(lambda m: f"\\u{ord(m[0]):04X}", r)
             for r in reasons.to_pylist()]
    return rejected.set_column(rejected.schema.get_field_index("reason"), "reason",
                               pa.array(shown, pa.large_string()))


def _redacted(con: duckdb.DuckDBPyConnection, rejected: pa.Table) -> pa.Table:
    """Quarantine keeps raw text and reasons (which quote values) with secrets redacted."""
    if not rejected.num_rows:
        return rejected
    # `redact_sql` keeps a text that `GATE` does not match as it is (usually every one here)
    if not any(pc.any(pc.match_substring_regex(rejected.column(name), GATE)).as_py()
               for name in ("raw", "reason")):
        return rejected.sort_by("line_no") if _unsorted(rejected) else rejected
    con.register("rejected_input", rejected)
    try:
        return con.sql(f"select line_no, {redact_sql('raw')} as raw, {redact_sql('reason')} as reason "
                       "from rejected_input order by line_no").to_arrow_table().cast(_REJECTED)
    finally:
        con.unregister("rejected_input")


def _unsorted(rejected: pa.Table) -> bool:
    line_no = rejected.column("line_no")
    return len(line_no) > 1 and not pc.all(pc.greater(line_no[1:], line_no[:-1])).as_py()
