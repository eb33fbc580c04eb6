"""Raw records: input bytes cut into one text per record, and the checks DuckDB cannot make.

Files (JSON Lines, JSON arrays) are cut here without parsing them, so one broken, non-UTF-8,
NaN-bearing or deeply nested record never takes the others down with it. Before the vectorised
validation query (`validation.py`) sees a batch, every record is checked here for the two rules
that need its bytes: valid UTF-8 and at most `MAX_RECORD_BYTES`. After the query, the few records
a cheap test marks as suspects get an exact check in Python (`inspect`): NaN/Infinity and
trailing commas (`{"a": 1,}`, `[1,]`), which DuckDB's JSON reader accepts, and `metadata` nested
too deep.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from voice_monitor.byte_scans import ESCAPED, json_escapes, string_buffers  # noqa: F401 (ESCAPED, json_escapes: their home before)
from voice_monitor.mappings import Rejected

BOM = b"\xef\xbb\xbf"
MAX_RECORD_BYTES = 64 * 1024
MAX_METADATA_DEPTH = 8
_CHUNK = 4096  # records cast to text at once when some of them are not UTF-8
_JSON_SPACE = " \t\r\n"

# A record may hold NaN/Infinity (DuckDB accepts nan, inf, infinity in any case, signed), a
# number too large for a double (1e999 reads as infinity), more than 9 brackets (the record's
# own object plus 8 levels of metadata), or a trailing comma before `}` or `]` (DuckDB accepts
# it; also inside a metadata string, escaped). Of the other leniencies one might fear (comments,
# single quotes, unquoted keys, leading zeros, `+1`, hex, raw control characters in strings)
# DuckDB accepts none. SUSPECT is a superset of those, cheap to run over every record in the
# validation query; `inspect` decides exactly (`,}` inside a string is no fault).
SUSPECT = (r"(^|[:,\[])[ \t\r\n]*[-+]?(?i:nan|inf)|[0-9][eE]\+?[0-9]{3}"
           r"|([\[{][^\[{]*){10}|,(?:[ \t\r\n]|\\[trn])*[}\]]")
# strings, and (outside them) the non-finite constants and the numbers with an exponent
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|(?i:[-+]?(?:nan|infinity|inf))\b|-?[0-9.]+[eE][-+]?[0-9]+',
                     re.ASCII)


def split_file(data: bytes) -> pa.LargeBinaryArray:
    """The records of a JSON Lines file or a JSON array, as raw bytes, in order.

    A leading UTF-8 byte-order mark is ignored. A file whose first non-blank byte is `[` is a
    JSON array: each element is a record; if its brackets and strings do not balance it is kept
    whole, as one record (validation then quarantines it raw). Otherwise `\n` or `\r\n` ends a
    line, and a line holding only spaces, tabs and carriage returns is not a record; but input
    whose first line is no JSON object by itself and which is, as a whole, one JSON object (a
    pretty-printed event) is that one record (`one_object`).
    """
    if data.startswith(BOM):
        data = data[len(BOM):]
    if data.lstrip()[:1] == b"[":
        elements = array_elements(data)
        if elements is not None:
            return elements
        if first_line_is_an_array(data):
            return split_lines(data)  # JSON Lines whose first line holds an array
        return _binary(np.array([0, len(data)]), data)  # kept whole, one raw record
    lines = split_lines(data)
    whole = one_object(data, lines)
    return lines if whole is None else whole


def first_line_is_an_array(data: bytes) -> bool:
    """Whether the first line of `data` that is not blank is, by itself, a JSON array that
    balances (`array_elements`): input that starts with `[` but is no one array is then JSON
    Lines whose first line holds an array, not one broken array."""
    line = data.lstrip(_JSON_SPACE.encode()).split(b"\n", 1)[0]
    return array_elements(line) is not None


def not_an_object_line(line: bytes) -> bool:
    """Whether a line of JSON Lines cannot be a JSON object (it does not end with `}`): the
    first line of a pretty-printed object (`{`), or a broken record."""
    return line.rstrip(_JSON_SPACE.encode())[-1:] != b"}"


def one_object(data: bytes, lines: pa.Array) -> pa.LargeBinaryArray | None:
    """`data` (JSON Lines, cut into `lines`) as one record, its text without the blanks around
    it, if its first line is no JSON object by itself and it is, as a whole, one JSON object
    spread over lines; else None. Split into lines, a pretty-printed event was a quarantined
    scrap per line; the contract (§3) says only that each line is a record. A JSON object's
    line ends with `}`: only input whose first line does not is parsed whole."""
    if len(lines) < 2 or not not_an_object_line(lines[0].as_py()):
        return None
    try:
        if not isinstance(json.loads(data), dict):
            return None
    except (ValueError, RecursionError):  # (UnicodeDecodeError is a ValueError)
        return None
    text = data.strip(_JSON_SPACE.encode())
    return _binary(np.array([0, len(text)]), text)


def _binary(offsets: np.ndarray, data: bytes) -> pa.LargeBinaryArray:
    return pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(offsets) - 1, [None, pa.py_buffer(offsets.astype(np.int64)),
                                              pa.py_buffer(data)])


# the first bytes a blank line may have: none (0: an empty line), tab, carriage return, space;
# `[`, which starts a line holding a JSON array (its elements are records); and 0xEF, the first
# of a byte-order mark's: a table look-up per line (np.isin against 4 values costs ~8x as much:
# ~40 µs for 500 lines)
_LOOK_AGAIN = np.zeros(256, bool)
_LOOK_AGAIN[[0, 9, 13, 32, 91, BOM[0]]] = True
_LOOK_IN_PYTHON = 64  # suspects looked at one by one; more are looked at in Arrow at once


def split_lines(data: bytes) -> pa.LargeBinaryArray:
    """The records of JSON Lines `data` (see `cut_lines`)."""
    return cut_lines(data)[0]


def cut_lines(data, crlf: bool = True) -> tuple[pa.LargeBinaryArray, bool]:
    """(the records of JSON Lines `data`, whether `data` is exactly those records each followed
    by `\n`: no `\r\n`, no blank line, a newline at the end; Arrow's JSON reader then takes
    `data` as it stands). `data` is bytes or a buffer over them (a memoryview: no copy).

    One pass in Arrow cuts at the newlines and copies the lines out without them: a million
    lines stay one buffer, not a million objects. (`crlf` False: `data` has had each `\r\n`
    made `\n` already.)
    """
    whole = _binary(np.array([0, len(data)]), data)
    lines = pc.split_pattern(whole, "\n").values  # a piece after the last newline too
    ends, text = string_buffers(lines)
    starts = np.concatenate([[0], ends[:-1]])
    # `\r\n` ends a line: a piece followed by a newline (not the last) loses one final `\r`
    full = np.flatnonzero(ends[:-1] > starts[:-1])
    if crlf and len(full) and (text[ends[full] - 1] == 13).any():
        return cut_lines(bytes(data).replace(b"\r\n", b"\n"), crlf=False)[0], False
    # a blank line is empty or starts with a space, tab or carriage return, and a line holding
    # a JSON array starts with `[` (or blanks, then `[`): only those are looked at again
    first = np.zeros(len(lines), np.uint8)
    nonempty = np.flatnonzero(ends > starts)
    first[nonempty] = text[starts[nonempty]]
    suspects = np.flatnonzero(_LOOK_AGAIN[first])
    blank, arrays = [], False
    if len(suspects) > _LOOK_IN_PYTHON:
        # many (a body of blank lines, hostile or not): looked at in Arrow, not one Python
        # call each (16 MiB of newlines held the collector ~20 s of CPU); the same tests
        looked = lines.take(pa.array(suspects))
        if pc.any(pc.starts_with(looked, pattern=BOM.decode())).as_py():
            return cut_lines(_without_boms(bytes(data)), crlf=False)[0], False
        empty = pc.match_substring_regex(looked, r"^[ \t\r]*$").to_numpy(zero_copy_only=False)
        blank = suspects[empty].tolist()
        arrays = bool(pc.any(pc.match_substring_regex(looked, r"^[ \t\r]*\[")).as_py())
    for i in suspects if len(suspects) <= _LOOK_IN_PYTHON else ():
        line = lines[int(i)].as_py()
        if line.startswith(BOM):
            # (rare) files each with a BOM, concatenated (`cat a.jsonl b.jsonl`): a line's
            # BOM is ignored as the file's first is, not quarantined as a record of no JSON
            return cut_lines(_without_boms(bytes(data)), crlf=False)[0], False
        solid = line.lstrip(b" \t\r")
        if not solid:
            blank.append(int(i))
        elif solid[:1] == b"[":
            arrays = True
    if arrays:  # (rare) each such line's elements, records of their own (contract §3)
        return split_line_arrays(_without(lines, blank)), False
    if not blank:
        return lines, False  # no newline at the end
    kept = len(lines) - len(blank)
    as_read = blank == [kept] and ends[-1] == starts[-1]  # only the empty piece after the last newline
    return _without(lines, blank), as_read


def without_leading_boms(records):
    """`records` (a list of JSON texts, str or bytes, or an Arrow array of them) each without
    a byte-order mark at its start, as a file's lines are read (`cut_lines`); a list if any
    had one, else `records` as they are."""
    if isinstance(records, pa.Array | pa.ChunkedArray):
        if not len(records) or not pc.any(pc.starts_with(records, pattern="\ufeff")).as_py():
            return records
        records = records.to_pylist()
    elif not any(isinstance(r, str | bytes) and r[:1] in ("\ufeff", BOM[:1]) for r in records):
        return records
    return [r[len(BOM):] if isinstance(r, bytes) and r.startswith(BOM)
            else r[1:] if isinstance(r, str) and r.startswith("\ufeff") else r for r in records]


def _without_boms(data: bytes) -> bytes:
    """JSON Lines `data` (each `\r\n` made `\n`) without a byte-order mark at the start of a
    line; one elsewhere (inside a string) is data."""
    data = data.replace(b"\r\n", b"\n").replace(b"\n" + BOM, b"\n")
    return data[len(BOM):] if data.startswith(BOM) else data


def _without(lines: pa.LargeBinaryArray, blank: list[int]) -> pa.LargeBinaryArray:
    if not blank:
        return lines
    kept = len(lines) - len(blank)
    keep = np.ones(len(lines), bool)
    keep[blank] = False
    if keep[:kept].all():
        return lines.slice(0, kept)  # the usual case: blanks only at the end, no copy
    return lines.filter(pa.array(keep))


def split_line_arrays(records):
    """`records` (an Arrow binary array, or a list of JSON texts, bytes or `Rejected`) with each
    record that is a JSON array (its first byte that is not blank is `[`) replaced by its
    elements, each a record of its own, as a file's array is split (`split_array`: one that
    does not balance stays whole, one raw record). Contract §3: each element of a JSON array is
    its own record, also an array written on one line of JSON Lines."""
    if isinstance(records, pa.Array | pa.ChunkedArray):
        if isinstance(records, pa.ChunkedArray):
            records = records.combine_chunks()
        found = pc.match_substring_regex(records, r"^[ \t\r\n]*\[")
        if not pc.any(found).as_py():
            return records
        if not pa.types.is_large_binary(records.type):
            records = records.cast(pa.large_binary())
        parts, last = [], 0
        for i in np.flatnonzero(found.to_numpy(zero_copy_only=False)):
            parts += [records.slice(last, i - last), split_array(records[int(i)].as_py())]
            last = int(i) + 1
        return pa.concat_arrays([*parts, records.slice(last)])
    out = []
    for record in records:
        solid = record.lstrip() if isinstance(record, str | bytes) else None
        if solid and solid[:1] in ("[", b"["):
            text = record.encode("utf-8", "surrogatepass") if isinstance(record, str) else record
            out += split_array(text).to_pylist()
        else:
            out.append(record)
    return out


def unescaped_quotes(raw: np.ndarray) -> np.ndarray:
    """Positions of the double quotes in `raw` (bytes as uint8) that open or close a string."""
    quotes = np.flatnonzero(raw == 34)
    slashes = np.flatnonzero(raw == 92)
    if len(slashes) and len(quotes):
        # a quote is escaped when an odd run of backslashes ends right before it
        breaks = np.flatnonzero(np.diff(slashes) != 1) + 1
        run_start = slashes[np.r_[0, breaks]]
        run_end = slashes[np.r_[breaks - 1, len(slashes) - 1]] + 1
        at = np.searchsorted(run_end, quotes)
        found = (at < len(run_end)) & (run_end[np.minimum(at, len(run_end) - 1)] == quotes)
        length = np.where(found, quotes - run_start[np.minimum(at, len(run_start) - 1)], 0)
        quotes = quotes[length % 2 == 0]
    return quotes


def split_array(data: bytes) -> pa.LargeBinaryArray:
    """The elements of a JSON array, cut at the commas between them (no parse of the elements);
    one that does not balance is kept whole, as one record."""
    elements = array_elements(data)
    return _binary(np.array([0, len(data)]), data) if elements is None else elements


def array_elements(data: bytes) -> pa.LargeBinaryArray | None:
    """The elements of a JSON array (`split_array`), or None if its brackets or strings do not
    balance or text follows its closing bracket."""
    raw = np.frombuffer(data, np.uint8)
    quotes = unescaped_quotes(raw)
    if len(quotes) % 2:
        return None  # a string never ends
    kind = np.zeros(256, np.int8)
    kind[[91, 123]], kind[[93, 125]], kind[44] = 1, -1, 2
    marks = np.flatnonzero(kind[raw])
    marks = marks[np.searchsorted(quotes, marks) % 2 == 0]  # outside strings only
    step = kind[raw[marks]]
    depth = np.cumsum(np.where(step == 2, 0, step))
    if not len(marks) or depth[-1] != 0 or (depth[:-1] <= 0).any() or raw[marks[-1]] != 93:
        return None
    if data[marks[-1] + 1:].strip(_JSON_SPACE.encode()):
        return None  # something after the closing bracket
    commas = marks[(step == 2) & (depth == 1)]
    bounds = np.r_[marks[0], commas, marks[-1]]
    starts, ends = bounds[:-1] + 1, bounds[1:]
    space = np.zeros(256, bool)
    space[list(_JSON_SPACE.encode())] = True
    # each element from its first byte that is not blank to its last (none: empty), found by
    # one search per bound (a loop of one step per blank was quadratic in a long run of blanks)
    solid = np.flatnonzero(~space[raw])
    first = solid[np.minimum(np.searchsorted(solid, starts), len(solid) - 1)]
    last = solid[np.maximum(np.searchsorted(solid, ends) - 1, 0)] + 1
    starts = np.minimum(first, ends)
    ends = np.maximum(last, starts)
    if len(commas) == 0 and starts[0] == ends[0]:
        return pa.array([], pa.large_binary())  # []
    # every element, concatenated: the bytes between them (brackets, commas, blanks) taken out
    delta = np.zeros(len(raw) + 1, np.int8)
    np.add.at(delta, np.r_[0, ends], 1)
    np.add.at(delta, np.r_[starts, len(raw)], -1)
    text = raw[np.cumsum(delta[:-1], dtype=np.int8) == 0]
    return _binary(np.r_[0, np.cumsum(ends - starts)], text.tobytes())


def escape_bytes(data: bytes) -> str:
    """A lossless text form of bytes that are not UTF-8: every backslash doubled, every byte
    that is not part of valid UTF-8 written `\\xNN`. `codecs.escape_decode(text.encode())[0]`
    gives the bytes back."""
    return data.replace(b"\\", b"\\\\").decode("utf-8", errors="backslashreplace")


def as_raw(record: str | bytes) -> str:
    """The text quarantine keeps for a record: itself, or `escape_bytes` if it is not UTF-8."""
    if isinstance(record, str):
        return record
    try:
        return record.decode("utf-8")
    except UnicodeDecodeError:
        return escape_bytes(record)


def as_text(records) -> tuple[pa.LargeStringArray, np.ndarray, list[tuple[int, str, str]]]:
    """Records that can be validated as text, their positions, and the rejected ones.

    `records` is a list of str, bytes or `mappings.Rejected`, or an Arrow string/binary array.
    Returns (texts, their record numbers, [(record number, raw text, reason)]) for records that
    were rejected already, are not UTF-8 or are larger than `MAX_RECORD_BYTES`.
    """
    rejects: dict[int, tuple[str, str]] = {}
    if not isinstance(records, pa.Array | pa.ChunkedArray):
        records = list(records)
        for i, r in enumerate(records):
            if isinstance(r, Rejected):
                rejects[i] = (r.raw, r.reason)
                records[i] = b""
    arr = _to_arrow(records)
    size = pc.binary_length(arr.cast(pa.large_binary()))
    too_big = np.flatnonzero(pc.fill_null(pc.greater(size, MAX_RECORD_BYTES), False)
                             .to_numpy(zero_copy_only=False))
    bad_text: set[int] = set()
    if not pa.types.is_large_string(arr.type) and not pa.types.is_string(arr.type):
        try:  # all UTF-8, as usual: one cast checks it and is the text
            arr = arr.cast(pa.large_string())
        except pa.ArrowInvalid:
            bad_text = _not_utf8(arr)
    for i in sorted((bad_text | set(too_big.tolist())) - set(rejects)):
        data = arr[i].as_py()
        data = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
        if i in bad_text:
            position = _utf8_error(data)
            rejects[i] = (escape_bytes(data), f"record is not valid UTF-8 (byte 0x{data[position]:02x} "
                          f"at offset {position}, kept in raw as \\xNN)")
        else:
            rejects[i] = (data.decode("utf-8"), f"record is {len(data):,} bytes, over the limit of "
                          f"{MAX_RECORD_BYTES:,} bytes (64 KiB)")
    keep = np.ones(len(arr), bool)
    keep[list(rejects)] = False
    positions = np.flatnonzero(keep)
    if rejects:
        arr = arr.filter(pa.array(keep))
    if not pa.types.is_large_string(arr.type):
        arr = arr.cast(pa.large_string())
    return arr, positions, [(i, *rejects[i]) for i in sorted(rejects)]


def _to_arrow(records) -> pa.Array:
    if isinstance(records, pa.ChunkedArray):
        return records.combine_chunks()
    if isinstance(records, pa.Array):
        return records
    if any(isinstance(r, bytes | bytearray) for r in records[:1]):
        try:
            return pa.array(records, pa.large_binary())
        except (TypeError, pa.ArrowException):
            pass  # str and bytes mixed
    try:
        return pa.array(records, pa.large_string())
    except (UnicodeEncodeError, TypeError, pa.ArrowException):
        # bytes among the texts, or a lone surrogate (not UTF-8): all as bytes
        return pa.array([r.encode("utf-8", "surrogatepass") if isinstance(r, str) else r
                         for r in records], pa.large_binary())


def _not_utf8(arr: pa.Array) -> set[int]:
    """Positions of records that are not valid UTF-8 (some are)."""
    bad = set()
    for start in range(0, len(arr), _CHUNK):
        part = arr.slice(start, _CHUNK)
        try:
            part.cast(pa.large_string())
        except pa.ArrowInvalid:
            for i, value in enumerate(part.to_pylist()):
                if value is not None and _utf8_error(value) >= 0:
                    bad.add(start + i)
    return bad


def _utf8_error(data: bytes) -> int:
    try:
        data.decode("utf-8")
        return -1
    except UnicodeDecodeError as exc:
        return exc.start


# -- second looks: the few records a scan singles out

def second_looks(texts: pa.Array, secrets: str) -> tuple[np.ndarray, pa.Array]:
    """(indexes of the SUSPECT texts, whether each text may hold a secret, i.e. matches the
    pattern `secrets`) from one scan of the batch."""
    odd = np.flatnonzero(pc.match_substring_regex(texts, f"{secrets}|{SUSPECT}|\\\\")
                         .to_numpy(zero_copy_only=False))
    redact = np.zeros(len(texts), bool)
    if not len(odd):
        return odd, pa.array(redact)
    some = texts.take(odd)
    suspect = pc.match_substring_regex(some, SUSPECT).to_numpy(zero_copy_only=False)
    # an escape in the JSON text may spell a secret only its parsed value shows
    redact[odd] = pc.or_(pc.match_substring_regex(some, secrets),
                         pc.match_substring(some, "\\")).to_numpy(zero_copy_only=False)
    return odd[suspect], pa.array(redact)


def look_again(repeats: list, suspects, texts: pa.Array, positions) -> dict[int, str]:
    """Reasons, by line_no, for the records singled out for a second look that break a rule."""
    late = {int(i): reason for i in suspects
            if (reason := inspect(texts[int(positions.searchsorted(i))].as_py()))}
    late.update((line_no, f"record repeats the top-level key {json.dumps(key)}")
                for line_no, key in repeats)
    return late


def merged(late: str | None, reason: str | None) -> str | None:
    # a repeated key puts every value in doubt: it is the one reason; NaN or too deep nesting
    # is the reason of a record the query accepted (one it rejected keeps the query's reasons)
    if late is None or (reason is not None and not late.startswith("record repeats")):
        return reason
    return late



# -- exact checks for the suspects --------------------------------------------------------

class _NotFinite(float):
    """A NaN/Infinity met while parsing, remembered as written."""

    text: str


def _constant(text: str) -> _NotFinite:
    value = _NotFinite("nan")
    value.text = text
    return value


def _number(text: str) -> float:
    value = float(text)
    return value if math.isfinite(value) else _constant(text)


def _canonical(match: re.Match) -> str:
    token = match.group(0)
    if token[0] == '"' or not token.lstrip("-+")[0].isalpha():
        return token
    # DuckDB reads nan/inf in any case and with a sign; Python's json only NaN/±Infinity
    return "NaN" if "nan" in token.lower() else "-Infinity" if token[0] == "-" else "Infinity"


def _parse(text: str):
    return json.loads(_TOKENS.sub(_canonical, text), parse_constant=_constant, parse_float=_number,
                      parse_int=int)


def inspect(text: str) -> str | None:
    """Why a record DuckDB's JSON reader accepted breaks a rule of ours, or None.

    Finds NaN/Infinity (also a number too large for a double) anywhere, text that is not
    strict JSON (a trailing comma), and `metadata` nested more than `MAX_METADATA_DEPTH` levels;
    `metadata` may be a string holding JSON (Parquet).
    """
    try:
        value = _parse(text)
    except RecursionError:
        return "record is nested too deep to read (hundreds of levels); metadata may have 8"
    except ValueError:
        return _constant_outside_strings(text) or "record is not valid JSON"
    meta = value.get("metadata") if isinstance(value, dict) else None
    if isinstance(meta, str):
        try:
            meta = value["metadata"] = _parse(meta)
        except (ValueError, RecursionError):
            # a string the query rejected keeps its reason ("must be a JSON object"); one it
            # accepted was JSON only to DuckDB's lenient reader
            return "metadata is not valid JSON; expected a JSON object"
    where = _find_not_finite(value, "")
    if where is not None:
        path, found = where
        return (f"{path or 'record'} is {found.text}, which JSON does not allow (send "
                "null, or leave the field out)")
    depth = _depth(meta)
    if depth > MAX_METADATA_DEPTH:
        return (f"metadata is nested {depth if depth < 100 else 'more than 100'} levels deep, "
                f"more than the {MAX_METADATA_DEPTH} allowed")
    return None


def lone_surrogate(text: str) -> str | None:
    """Why a record DuckDB's JSON reader refused is valid JSON all the same: a string (or a
    key) holding a lone surrogate escape such as \\ud800, which JSON's grammar allows but
    which is no Unicode character (no UTF-8 text can hold it). None when it is anything else."""
    if "\\" not in text:
        return None
    try:
        value = _parse(text)
    except (ValueError, RecursionError):
        return None
    found = _find_surrogate(value, "")
    if found is None:
        return None
    path, char = found
    return (f"{path or 'record'} holds a lone surrogate escape (\\u{ord(char):04x}), which is no "
            "Unicode character: the record is valid JSON syntax but not valid text (send the "
            "character itself, or both escapes of its pair, e.g. \\ud83d\\ude00)")


def _surrogate(text: str) -> str | None:
    return next((c for c in text if "\ud800" <= c <= "\udfff"), None)


def _find_surrogate(value, path: str) -> tuple[str, str] | None:
    if isinstance(value, str):
        char = _surrogate(value)
        return None if char is None else (path, char)
    items = value.items() if isinstance(value, dict) else (
        ((f"[{i}]", v) for i, v in enumerate(value)) if isinstance(value, list) else ())
    for key, item in items:
        if not key.startswith("[") and (char := _surrogate(key)) is not None:
            return (f"a key in {path}" if path else "a key", char)
        sub = f"{path}{key}" if key.startswith("[") else (f"{path}.{key}" if path else key)
        found = _find_surrogate(item, sub)
        if found is not None:
            return found
    return None


def _constant_outside_strings(text: str) -> str | None:
    for match in _TOKENS.finditer(text):
        token = match.group(0)
        if token[0] != '"' and (token.lstrip("-+")[0].isalpha() or not math.isfinite(float(token))):
            return f"record holds {token}, which JSON does not allow"
    return None


def _find_not_finite(value, path: str):
    if isinstance(value, _NotFinite):
        return path, value
    items = value.items() if isinstance(value, dict) else (
        ((f"[{i}]", v) for i, v in enumerate(value)) if isinstance(value, list) else ())
    for key, item in items:
        sub = f"{path}{key}" if key.startswith("[") else (f"{path}.{key}" if path else key)
        found = _find_not_finite(item, sub)
        if found is not None:
            return found
    return None


def _depth(value, limit: int = 100) -> int:
    """Levels of objects and arrays in a parsed JSON value ({} is 1, {"a": {}} is 2)."""
    if limit == 0 or not isinstance(value, dict | list):
        return 0
    children = value.values() if isinstance(value, dict) else value
    return 1 + max((_depth(v, limit - 1) for v in children), default=0)
