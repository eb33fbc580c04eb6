"""Python mappings to JSON text, under the same rules as a file: nothing converted behind the
caller's back.

orjson on its own writes `float('nan')` as `null`, and `default=str` would store `b"x"` or a `set`
as their `str()`. Here a value JSON cannot hold as it is (bytes, sets, other objects, non-string
keys, strings that are not UTF-8) makes the record a `Rejected` one, quarantined
with a reason naming the field and the rule, never altered; NaN/Infinity are written as the
tokens a file would hold, and refused as in a file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

import orjson

# a spooled (or sent) line holding a rejected record starts with a NUL, which no JSON text does
REJECTED_MARK = b"\x00rejected\t"
_NOT_FINITE = ", which JSON does not allow (send null, or leave the field out)"


@dataclass(frozen=True)
class Rejected:
    """A record refused before validation: its raw text (repr for a Python object) and why."""

    raw: str
    reason: str

    def to_line(self) -> bytes:
        """One spool line (no newline in it) that `from_line` reads back."""
        return REJECTED_MARK + orjson.dumps([self.raw, self.reason])

    @staticmethod
    def from_line(line: bytes) -> Rejected | None:
        if not line.startswith(REJECTED_MARK):
            return None
        try:
            raw, reason = orjson.loads(line[len(REJECTED_MARK):])
            return Rejected(str(raw), str(reason))
        except (orjson.JSONDecodeError, ValueError, TypeError):
            return None  # torn by a crash: quarantined as it is

    def wire_line(self) -> bytes:
        """The line a collector is sent: the raw text where it is the JSON a file would hold
        (NaN, Infinity: the collector refuses it by a file's rules, naming the field, as
        `ingest` does), else `to_line()`, which the collector quarantines with this reason, as
        landing locally does (a `repr` sent as it is was refused as "not valid JSON")."""
        try:
            json.loads(self.raw)  # (Python's reader takes NaN and Infinity)
        except (ValueError, RecursionError):
            return self.to_line()
        return self.raw.encode("utf-8", errors="replace").replace(b"\n", b"\\n")


def _default(value):
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Decimal) and value.is_finite():
        return float(value)
    plain = _numpy_scalar(value)
    if plain is not _NOT_NUMPY:
        return plain  # a NaN is written as null: `dumps` then finds it with _problem
    raise TypeError  # reported with its path by _problem


_NOT_NUMPY = object()


def _numpy_scalar(value):
    """A NumPy bool, integer or float scalar as the Python value it holds (`np.int64(3)` is 3, as
    in a file), else `_NOT_NUMPY`. NumPy is not imported: its scalars are told by their type."""
    if type(value).__module__ != "numpy" or getattr(value, "ndim", None) != 0:
        return _NOT_NUMPY
    if getattr(getattr(value, "dtype", None), "kind", None) not in ("b", "i", "u", "f"):
        return _NOT_NUMPY
    plain = value.item()
    return plain if type(plain) in (bool, int, float) else _NOT_NUMPY  # not a longdouble


def dumps(record) -> bytes | Rejected:
    """The JSON text of one record (NaN and Infinity as a file holds them: refused as in a
    file), or why it cannot be written without altering it (NumPy bool, integer and float
    scalars are the numbers they hold)."""
    try:
        text = orjson.dumps(record, default=_default)
    except (TypeError, ValueError):  # orjson.JSONEncodeError is a TypeError
        problem = _problem(record, "")
        if problem:
            return _refused(record, problem)
        try:  # what orjson cannot write but JSON can, as a file would hold it: integers > 64 bits
            return json.dumps(record, default=_default_wide, allow_nan=False, ensure_ascii=False,
                              separators=(",", ":")).encode()
        except (TypeError, ValueError, RecursionError) as exc:
            return Rejected(_repr(record), f"record cannot be written as JSON ({exc})")
    if b"null" in text:  # orjson writes NaN and Infinity as null: look closer only then
        problem = _problem(record, "")
        if problem:
            return _refused(record, problem)
    return text


def _refused(record, problem: str) -> bytes | Rejected:
    """A record JSON cannot hold as it is. Where its only fault is a number JSON cannot write
    (NaN, Infinity): the JSON text a file would hold, with those tokens, which landing (here or
    at a collector) refuses by a file's rules with a file's reason ("duration_ms NaN must be a
    finite number >= 0"; contract §3: the producer applies exactly the same rules as a file).
    Else `Rejected`, kept as its repr."""
    if _problem(_finite(record), "") is None:
        try:
            return json.dumps(record, default=_default_raw, allow_nan=True, ensure_ascii=False,
                              separators=(",", ":")).encode()
        except (TypeError, ValueError, RecursionError):
            pass
    return Rejected(_repr(record), problem)


def _default_raw(value):
    if isinstance(value, Decimal) and not value.is_finite():
        return float(value)  # written NaN or Infinity, as a float's
    return _default_wide(value)


def _default_wide(value):
    """`_default` for Python's json, which `dumps` falls back on (a record orjson cannot write):
    what orjson writes itself (datetime, date, time, UUID, Enum, dataclass) as orjson writes it.
    Without it a record holding a datetime and also an integer over 64 bits, or a NaN, was
    refused as "record cannot be written as JSON ()", where a file holding it lands."""
    try:
        return _default(value)
    except TypeError:
        return orjson.loads(orjson.dumps(value, default=_default))  # else its TypeError


def _finite(value, depth: int = 0):
    """`value` with every number JSON cannot write (NaN, Infinity) as None."""
    if depth > 200:
        return value  # (`_problem` names the depth)
    plain = _numpy_scalar(value)
    if plain is not _NOT_NUMPY:
        value = plain
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Decimal) and not value.is_finite():
        return None
    if isinstance(value, Mapping):
        return {key: _finite(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item, depth + 1) for item in value]
    return value


def _repr(record) -> str:
    return repr(record).replace("\n", "\\n")


def _name(value) -> str:
    return type(value).__name__


def _problem(value, path: str, depth: int = 0) -> str | None:
    """Why `value` (at `path`) cannot be JSON as it is; None if it can."""
    where = path or "record"
    if depth > 200:
        return f"{where} is nested more than 200 levels deep"
    if isinstance(value, float | Decimal) and not (
            value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)):
        text = "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
        return f"{where} is {text}{_NOT_FINITE}"
    if isinstance(value, bool | float | Decimal | type(None)):
        return None
    if isinstance(value, int):
        return None
    if isinstance(value, str):
        try:
            value.encode("utf-8")
            return None
        except UnicodeEncodeError:
            return f"{where} is not valid UTF-8 (it holds a lone surrogate)"
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{where} has the key {key!r} of type {_name(key)}; JSON keys are strings"
            found = _problem(item, f"{path}.{key}" if path else key, depth + 1)
            if found:
                return found
        return None
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = _problem(item, f"{where}[{i}]", depth + 1)
            if found:
                return found
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return f"{where} is {_name(value)}, not JSON; send text (decode the bytes)"
    if isinstance(value, set | frozenset):
        return f"{where} is a {_name(value)}, not JSON; send a list"
    plain = _numpy_scalar(value)
    if plain is not _NOT_NUMPY:
        return _problem(plain, path, depth + 1)
    try:  # what orjson writes as it is: datetime, date, UUID, enum, dataclass...
        orjson.dumps(value, default=_default)
        return None
    except (TypeError, ValueError):
        return f"{where} is a {_name(value)}, not JSON; send a string, number, list or mapping"
