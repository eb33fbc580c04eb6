"""A local producer's batch of Python mappings, judged from typed columns built straight from
the dicts, without writing them as JSON text to read them back.

The typed fast path (`fastpath`) reads JSON texts with Arrow's JSON reader into a column per
known name, of its declared type, with the metadata as a struct. For a producer's records that
round trip is most of the cost of a landing (writing 50,000 texts, checking them, reading them
back), so `MappingRows.parsed` builds the same table from the dicts themselves, for the records
whose JSON text surely reads back as exactly that table:

- a plain `dict` whose keys are all known names (snake_case or camelCase, metadata keys also
  at top level) and whose metadata, when given and not None, is a plain `dict` of known keys;
- each value of exactly the Python type its field is declared as, or None (JSON null, which
  reads as absent): `str` for strings (or a subclass of it: JSON writes it as the same
  string); `int` for counts and epoch milliseconds, never `bool`;
  `int` or `float` for amounts and ratios; one form per time name in a batch (epoch
  milliseconds win; a record giving that name as text goes the JSON way);
- strings holding nothing JSON escapes (a quote, a backslash, a control character), as the
  fast path only takes texts without a backslash or control character;
- a JSON text surely at most `records.MAX_RECORD_BYTES` long.

Every other record is written as JSON (`mappings.dumps`: a value JSON cannot hold is rejected
there, with its reason) and judged as any JSON text is. The typed rules then decide each row
exactly as they do for a parsed text: the rows they are not sure of go the JSON way too, to the
full rule query. `tests/test_mapping_rows.py` compares both with the full rules.
"""

from __future__ import annotations

from itertools import compress, repeat
from operator import itemgetter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from voice_monitor.byte_scans import json_escapes
from voice_monitor.mappings import dumps
from voice_monitor.records import MAX_RECORD_BYTES
from voice_monitor.schema import METADATA_FIELDS
from voice_monitor.typed import EVENT_FIELDS, TYPES

_KIND = {n: f.kind for f in EVENT_FIELDS for n in f.input_names}  # known top-level names
_META_KIND = {n: f.kind for f in METADATA_FIELDS for n in f.input_names}
_TOP = frozenset(_KIND) | {"metadata"}
_META = frozenset(_META_KIND)
_SAMPLE = 16  # records spread over a batch whose names are read first (see `_columns`)
_NONE = type(None)
_PYTHON = {"int": (int,), "number": (int, float), "ratio": (int, float)}
_NOT_TEXT = {"time", *_PYTHON}  # the kinds not declared as strings
_EMPTY: dict = {}
# a bound on a record's JSON text beside its strings' bytes: per name its quotes, colon and
# comma (names are at most 26 characters), and a number's text (at most 24 characters)
_PER_NAME = 64


class MappingRows:
    """A batch of records as the producer took them (mappings, or anything else it was given):
    `fastpath.validate_fast` judges the plain ones from `parsed()` and the others as JSON."""

    def __init__(self, records: list) -> None:
        self.records = records

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key):
        if isinstance(key, slice):
            return MappingRows(self.records[key])
        return dumps(self.records[key])

    def __iter__(self):
        return iter(self.texts())

    def texts(self, at=None) -> list:
        """The JSON text (or `mappings.Rejected`) of each record, or of those at `at`."""
        records = self.records if at is None else [self.records[i] for i in at]
        return [dumps(r) for r in records]

    def parsed(self) -> tuple[pa.Table | None, np.ndarray]:
        """(the table Arrow's JSON reader gives for the plain records, as `fastpath._fields`
        takes it, or None if no record is plain; the positions of those records)."""
        records = self.records
        at = np.arange(len(records))
        if set(map(type, records)) != {dict}:
            at = np.flatnonzero([type(r) is dict for r in records])
            records = [records[i] for i in at]
        if not records:
            return None, at
        good = np.ones(len(records), bool)
        columns, unknown = _columns(records, _TOP)
        if unknown:
            good &= np.array([unknown.isdisjoint(r) for r in records], bool)
        metas = columns.pop("metadata", None)
        children: dict[str, list] = {}
        nulls = False  # whether any record's metadata is None (or made None: not a dict)
        if metas is not None:
            given = set(map(type, metas))
            nulls = given != {dict}
            if not given <= {dict, _NONE}:
                good &= np.array([m is None or type(m) is dict for m in metas], bool)
                metas = [m if type(m) is dict else None for m in metas]
            filled = [_EMPTY if m is None else m for m in metas] if nulls else metas
            children, unknown = _columns(filled, _META, sampled=not nulls)
            if unknown:
                good &= np.array([m is None or unknown.isdisjoint(m) for m in metas], bool)
        types = {}
        for kinds, part in ((_KIND, columns), (_META_KIND, children)):
            for name, values in part.items():
                kind = kinds[name]
                given = {str} if kind not in _NOT_TEXT and _texts(values) else \
                    set(map(type, values)) - {_NONE}
                allowed, types[kinds is _KIND, name] = _declared(kind, given)
                if allowed is not None:
                    good &= np.array([v is None or type(v) in allowed for v in values], bool)
        if not good.all():
            if not good.any():
                return None, at[:0]
            at, keep = at[good], good.tolist()
            columns = {k: list(compress(v, keep)) for k, v in columns.items()}
            children = {k: list(compress(v, keep)) for k, v in children.items()}
            metas = None if metas is None else list(compress(metas, keep))
        return _table(columns, children, metas, nulls, types, at)


def _columns(records: list[dict], known, sampled: bool = True) -> tuple[dict[str, list], set]:
    """({name: its value in each record, None where absent} for the names in `known` that the
    records give, in name order; the names they give that are not in `known`).

    `sampled`: first the names of a few records spread over the batch, each taken from every
    record by `itemgetter`; when every record has them all and, by the sum of the records'
    lengths, no other (a producer's usual batch), no record's names are read one by one."""
    columns: dict[str, list] = {}
    if sampled:
        names = set().union(*records[::max(1, len(records) // _SAMPLE)])
        everywhere = names <= known
        for name in sorted(names & known):
            try:
                columns[name] = list(map(itemgetter(name), records))
            except KeyError:  # not in every record
                columns[name] = list(map(dict.get, records, repeat(name)))
                everywhere = False
        if everywhere and sum(map(len, records)) == len(records) * len(names):
            return columns, set()
    names = set().union(*records)
    for name in (names & known) - columns.keys():
        columns[name] = list(map(dict.get, records, repeat(name)))
    return {name: columns[name] for name in sorted(columns)}, names - known


def _texts(values: list) -> bool:
    """Whether every value is a `str` (or a subclass of it, whose JSON is the same string and
    which Arrow reads as that string): `str.join` checks each in C, ~4x cheaper than a set of
    types; by slices, so that the joined text stays small."""
    try:
        for start in range(0, len(values), 1024):
            "".join(values[start:start + 1024])
    except TypeError:  # None, or not a string
        return False
    return True


def _declared(kind: str, types: set) -> tuple[tuple | None, pa.DataType]:
    """(the Python types a record may give for a field of `kind`, None when every value of the
    batch is one of them; the Arrow type the column is declared as)."""
    if kind == "time":
        if int in types:  # epoch milliseconds; a record with this name as text goes as JSON
            return (None if types == {int} else (int,)), pa.int64()
        return (None if types <= {str} else (str,)), pa.string()
    allowed = _PYTHON.get(kind, (str,))
    return (None if types <= set(allowed) else allowed), TYPES[kind]


def _table(columns: dict, children: dict, metas: list | None, nulls: bool, types: dict,
           at: np.ndarray) -> tuple[pa.Table | None, np.ndarray]:
    """The columns as Arrow arrays of their declared types, and the metadata as a struct,
    less the rows whose values Arrow cannot hold as declared (an integer beyond 64 bits, or
    beyond 2^53 for a double; a lone surrogate), hold a character JSON escapes, or whose JSON
    text may be over the size limit."""
    n = len(at)
    bad = np.zeros(n, bool)
    size = np.full(n, (len(columns) + len(children) + 2) * _PER_NAME, np.int64)

    def array(values: list, arrow_type: pa.DataType) -> pa.Array:
        nonlocal bad, size
        try:
            column = pa.array(values, arrow_type)
        except (pa.ArrowException, OverflowError, UnicodeError, TypeError, ValueError):
            fits = np.array([_converts(v, arrow_type) for v in values], bool)
            bad |= ~fits
            column = pa.array([v if ok else None for v, ok in zip(values, fits, strict=True)],
                              arrow_type)
        if arrow_type == pa.string():
            escaped = json_escapes(column)
            if escaped is not None:
                bad |= escaped
            size += pc.fill_null(pc.binary_length(column), 0).to_numpy(zero_copy_only=False)
        return column

    table = {name: array(values, types[True, name]) for name, values in columns.items()}
    if metas is not None:
        names = list(children)
        # (a struct of no field given no mask has no length: every metadata `{}` made it 0 long)
        table["metadata"] = pa.StructArray.from_arrays(
            [array(children[k], types[False, k]) for k in names], names=names,
            mask=pa.array([m is None for m in metas], pa.bool_()) if nulls else None
        ) if names or nulls else pa.array([{}] * len(metas), pa.struct([]))
    bad |= size > MAX_RECORD_BYTES
    result = pa.table(table) if table else None
    if result is None or bad.all():
        return None, at[:0]
    if bad.any():
        result, at = result.filter(pa.array(~bad)), at[~bad]
    return result, at


def _converts(value, arrow_type: pa.DataType) -> bool:
    try:
        pa.array([value], arrow_type)
        return True
    except (pa.ArrowException, OverflowError, UnicodeError, TypeError, ValueError):
        return False
