"""Stored values the typed fast path works out in Arrow instead of in the rule query
(`typed.typed_rules`), where doing them row by row in SQL costs most: the redaction of each
distinct string once, and the metadata's unknown keys as JSON text.

Each gives exactly what the full query's SQL gives (`redaction.redact_sql`,
`validation.KEPT_METADATA_SQL`), or says which rows it leaves to that SQL.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from voice_monitor.byte_scans import ESCAPED, json_escapes
from voice_monitor.byte_scans import valid as is_valid
from voice_monitor.redaction import GATE, redact_sql
from voice_monitor.schema import METADATA_FIELDS
from voice_monitor.statements import parsed

_KNOWN = frozenset(n for f in METADATA_FIELDS for n in f.input_names)
_REDACT_SQL = f"select {redact_sql('v')} as r from distinct_texts order by i"


def redacted(con: duckdb.DuckDBPyConnection, columns: list) -> list:
    """`redact_sql` of string columns, run once per distinct value (and not again for a value
    this process met before, see `_redactions`), and only on the values `GATE` matches
    (`redact_sql` keeps any other as it is): usually no query at all, and a column none of
    whose values it matches is given back as it is."""
    encoded = {i: pc.dictionary_encode(_whole(c)) for i, c in enumerate(columns)
               if c.null_count < len(c)}
    if not encoded:
        return list(columns)
    distinct = pa.concat_arrays([e.dictionary.cast(pa.large_string()) for e in encoded.values()])
    gated = np.flatnonzero(pc.match_substring_regex(distinct, GATE).to_numpy(zero_copy_only=False))
    if not len(gated):
        return list(columns)
    mask = np.zeros(len(distinct), bool)
    mask[gated] = True
    distinct = pc.replace_with_mask(distinct, pa.array(mask), pa.array(
        _redactions(con, distinct.take(pa.array(gated)).to_pylist()), pa.large_string()))
    out, start = list(columns), 0
    for i, e in encoded.items():
        size = len(e.dictionary)
        if mask[start:start + size].any():
            out[i] = distinct.slice(start, size).cast(columns[i].type).take(e.indices)
        start += size
    return out


# text -> `redact_sql` of it, for texts met before in this process (a producer's messages repeat
# batch after batch: the query, ~8 ms a batch, runs only for new ones)
_done: OrderedDict[str, str] = OrderedDict()
_done_guard = threading.Lock()
MAX_DONE = 4096
_MAX_DONE_CHARS = 4096  # a longer text is redacted every time, not kept


def _redactions(con: duckdb.DuckDBPyConnection, texts: list[str]) -> list[str]:
    """`redact_sql` of each text: those met before from memory, the others in one query."""
    with _done_guard:
        known = {t: _done[t] for t in texts if t in _done}
    new = [t for t in dict.fromkeys(texts) if t not in known]
    if new:
        con.register("distinct_texts", pa.table({"i": pa.array(range(len(new)), pa.int64()),
                                                 "v": pa.array(new, pa.large_string())}))
        try:
            done = con.sql(parsed(con, _REDACT_SQL)).to_arrow_table().column("r").to_pylist()
        finally:
            con.unregister("distinct_texts")
        known.update(zip(new, done, strict=True))
        with _done_guard:
            _done.update((t, r) for t, r in zip(new, done, strict=True) if len(t) <= _MAX_DONE_CHARS)
            while len(_done) > MAX_DONE:
                _done.popitem(last=False)
    return [known[t] for t in texts]


def kept_metadata(meta: pa.StructArray, texts: pa.Array | None) -> tuple[pa.Array, np.ndarray]:
    """(per row, the metadata's unknown keys as the JSON text `KEPT_METADATA_SQL` writes, or
    null for none; the rows whose text only that SQL can write: these hold garbage here).

    `texts` are the records' JSON texts when `meta` was parsed from them (none holds a
    backslash or a control character): there a null child is an absent key, unless its name
    is in the text (a JSON null, which is kept). Without `texts` (a Parquet struct) every child
    is written, a null one as `null`, in the struct's order."""
    meta = _whole(meta)
    n = len(meta)
    unknown = [(i, c) for i, c in enumerate(meta.type) if c.name not in _KNOWN]
    names = [c.name for c in meta.type]
    if not unknown:
        return pa.nulls(n, pa.string()), np.zeros(n, bool)
    valid = is_valid(meta)
    if len(set(names)) != len(names) or any(_escaped(c.name) for _, c in unknown):
        return pa.nulls(n, pa.string()), valid
    sql = np.zeros(n, bool)
    pieces, pairs, present = [], [], np.zeros(n, np.int64)
    for i, child in unknown:
        value = pc.struct_field(meta, [i])
        is_text = pa.types.is_string(child.type) or pa.types.is_large_string(child.type)
        has = is_valid(value)
        if not is_text and not pa.types.is_null(child.type):
            # a number, an object...: the SQL writes the key, and so also where it is null
            # (a Parquet child always; in JSON, where the text names it: a JSON null)
            sql |= has | (valid if texts is None else _named(texts, valid & ~has, child.name))
            continue
        if is_text and (escaped := json_escapes(value)) is not None:
            sql |= escaped
        key, value = f'"{child.name}":', value.cast(pa.string())
        if texts is None:  # `"key":"value"`, or `"key":null`: the quotes go with the value
            quoted = ([key + '"', value, '"'] if not (valid & ~has).any() else
                      [key, pc.binary_join_element_wise('"', value, '"', "")])
            pieces += [("," if pieces else "{") + quoted[0], *quoted[1:]]
        else:
            present += has
            sql |= _named(texts, valid & ~has, child.name)  # absent, or a JSON null?
            pairs.append((key, value))
    if not pieces and not pairs:  # every unknown key holds a number...: the SQL writes them all
        return pa.nulls(n, pa.string()), sql & valid
    if texts is None:
        kept = pc.binary_join_element_wise(*pieces, "}", "", null_handling="replace",
                                           null_replacement="null")
    elif len(pairs) == 1:
        kept = pc.binary_join_element_wise("{" + pairs[0][0] + '"', pairs[0][1], '"}', "")
    else:
        sql |= present > 1  # which came first is in the text only
        kept = pc.binary_join_element_wise("{", pc.coalesce(*[
            pc.binary_join_element_wise(key + '"', value, '"', "") for key, value in pairs]), "}", "")
    if valid.all():
        return kept, sql
    return pc.if_else(pa.array(valid), kept, pa.scalar(None, pa.string())), sql & valid


def _named(texts: pa.Array, rows: np.ndarray, name: str) -> np.ndarray:
    """Which of `rows` (a mask) have texts that name the key `name` (so it is a JSON null there)."""
    out = np.zeros(len(rows), bool)
    at = np.flatnonzero(rows)
    if len(at):
        named = pc.match_substring(texts.take(pa.array(at)), f'"{name}"')
        out[at[named.to_numpy(zero_copy_only=False)]] = True
    return out


def _escaped(text: str) -> bool:
    return bool(pc.match_substring_regex(pa.array([text]), ESCAPED)[0].as_py())


def _whole(array):
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
