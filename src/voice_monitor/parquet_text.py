"""Text columns of a Parquet input batch made UTF-8 strings, or the batch made JSON texts.

A BYTE_ARRAY column without Parquet's UTF-8 annotation (pyarrow `binary`, what several writers
use for text) is read as the text it holds; the rules then see a string, not DuckDB's escaped
form of the bytes (`caf\\xC3\\xA9`). A value that is not UTF-8 (in such a column, or in a string
column whose writer broke the annotation's promise) makes the batch go the JSON way instead:
each row becomes its JSON text with those bytes in it, so the full rules quarantine exactly the
rows that hold them as `record is not valid UTF-8 (...)`, keeping the bytes in `raw`, and land
the others — as for a JSON Lines file. Batches of valid text (nearly all) cost one check per
column.
"""

from __future__ import annotations

import json
import re
import uuid

import numpy as np
import pyarrow as pa

from voice_monitor.byte_scans import string_bytes
from voice_monitor.typed import TypedRows

_CONTROL = re.compile(rb"[\x00-\x1f]")


def checked_batch(table: pa.Table) -> TypedRows | pa.Array:
    """`TypedRows` of `table` with its text columns as strings; or, if some value is not
    UTF-8, every row's JSON text (large_binary, those bytes raw) for the JSON rules."""
    raw: dict[bytes, bytes] = {}  # placeholder -> the bytes it stands for
    tag = f"\ue000{uuid.uuid4().hex}"  # a placeholder no input holds
    repeated: dict[str, str] = {}  # stand-in -> the name a file gives twice (`_unique_names`)
    columns = [_as_text(_one_chunk(table.column(i)), f"{tag}:{i}", raw, repeated)
               for i in range(table.num_columns)]
    names = _unique_names(table.column_names, tag, repeated)
    table = pa.table(columns, names=names)
    if not raw and not repeated:
        return TypedRows(table)
    texts = TypedRows.json_texts(table).to_pylist()
    for stand_in, name in repeated.items():  # the key as the file names it, twice in the text
        texts = [t.replace(_key(stand_in), _key(name)) for t in texts]
    pattern = re.compile(b'"(' + re.escape(tag.encode()) + rb':[0-9:.]+)"')

    def put_back(match: re.Match) -> bytes:
        value = raw[match.group(1)].replace(b"\\", b"\\\\").replace(b'"', b'\\"')
        return b'"' + _CONTROL.sub(lambda c: b"\\u%04x" % c.group()[0], value) + b'"'

    return pa.array([pattern.sub(put_back, text.encode()) for text in texts], pa.large_binary())


def _unique_names(names: list[str], tag: str, repeated: dict[str, str]) -> list[str]:
    """`names` with a stand-in for each repeat of a name, recorded in `repeated`. A file may
    name a column (or a struct's field, as of a metadata struct) twice; each row then repeats
    that key and must be judged so, as a JSON record with a repeated key is, not read as the
    first column alone (or, in a struct, as neither)."""
    seen: set[str] = set()
    unique = []
    for i, name in enumerate(names):
        if name in seen:
            stand_in = f"{tag}#{i}"
            repeated[stand_in] = name
            name = stand_in
        seen.add(name)
        unique.append(name)
    return unique


def _unique_keys(offsets: pa.Array, keys: pa.Array, tag: str,
                 repeated: dict[str, str]) -> pa.Array:
    """A map's keys with a stand-in for each key repeated within one row, recorded in
    `repeated`: DuckDB refuses a map holding a key twice, which failed the whole file; so the
    row is judged as a JSON object repeating that key is, alone."""
    if not len(keys) or not (pa.types.is_string(keys.type) or pa.types.is_large_string(keys.type)):
        return keys
    bounds = offsets.to_numpy(zero_copy_only=False)
    rows = np.full(len(keys), -1, dtype=np.int64)  # the row of each entry (-1: sliced off)
    rows[bounds[0]:bounds[-1]] = np.repeat(np.arange(len(bounds) - 1), np.diff(bounds))
    if pa.table({"r": rows, "k": keys}).group_by(["r", "k"]).aggregate([]).num_rows == len(keys):
        return keys  # nearly always: one pass, no Python per entry
    values, seen = keys.to_pylist(), set()
    for i, (row, key) in enumerate(zip(rows.tolist(), values, strict=True)):
        if (row, key) in seen:
            values[i] = f"{tag}{i}"
            repeated[values[i]] = key
        seen.add((row, key))
    return pa.array(values, keys.type)


def _key(name: str) -> str:
    """`name` as a JSON object key, as DuckDB's `to_json` writes it (text beyond ASCII as is)."""
    return json.dumps(name, ensure_ascii=False) + ":"


def _one_chunk(column: pa.ChunkedArray) -> pa.Array:
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def _as_text(column: pa.Array, tag: str, raw: dict[bytes, bytes],
             repeated: dict[str, str]) -> pa.Array:
    """`column` with binary values as strings; a value that is not UTF-8 is replaced by a
    placeholder (recorded in `raw`). Struct children, list items and map keys and values are
    looked at too (a metadata struct or map); a struct field named twice gets a stand-in name
    (recorded in `repeated`)."""
    t = column.type
    if pa.types.is_dictionary(t) and _is_text(t.value_type):
        column, t = column.dictionary_decode(), t.value_type
    if pa.types.is_struct(t):
        children = [_as_text(column.field(j), f"{tag}.{j}", raw, repeated)
                    for j in range(t.num_fields)]
        names = _unique_names([f.name for f in t], tag, repeated)
        if names == [f.name for f in t] and all(c is column.field(j)
                                                for j, c in enumerate(children)):
            return column
        return pa.StructArray.from_arrays(children, names=names, mask=column.is_null())
    if pa.types.is_map(t) or pa.types.is_list(t) or pa.types.is_large_list(t):
        # the values behind the offsets (a map's: its key/value entries), as above
        values = _as_text(column.values, f"{tag}.0", raw, repeated)
        if pa.types.is_map(t):
            keys = _unique_keys(column.offsets, values.field(0), f"{tag}~", repeated)
            if values is column.values and keys is values.field(0):
                return column
            return pa.MapArray.from_arrays(column.offsets, keys, values.field(1),
                                           mask=column.is_null())
        if values is column.values:
            return column
        kind = pa.LargeListArray if pa.types.is_large_list(t) else pa.ListArray
        return kind.from_arrays(column.offsets, values, mask=column.is_null())
    if not _is_text(t):
        return column
    if pa.types.is_fixed_size_binary(t):
        column, t = column.cast(pa.binary()), pa.binary()
    large = pa.types.is_large_string(t) or pa.types.is_large_binary(t)
    string = pa.large_string() if large else pa.string()
    if _ascii(column):  # plain ASCII is UTF-8: no validation pass (nearly every column)
        return column if string == t else column.view(string)
    try:
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            column.validate(full=True)
            return column
        return column.cast(string)  # checks the bytes are UTF-8
    except pa.ArrowInvalid:
        pass
    values = []
    for row, value in enumerate(column.cast(pa.large_binary()).to_pylist()):
        try:
            values.append(None if value is None else value.decode("utf-8"))
        except UnicodeDecodeError:
            key = f"{tag}:{row}"
            raw[key.encode()] = value
            values.append(key)
    return pa.array(values, string)


def _ascii(column: pa.Array) -> bool:
    """Whether every byte of the column's values is below 0x80."""
    data = string_bytes(column)
    return not len(data) or int(data.max()) < 0x80


def _is_text(t: pa.DataType) -> bool:
    return (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t)
            or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t))
