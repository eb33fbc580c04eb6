"""Keyset pagination with opaque cursors.

A cursor is urlsafe base64 of JSON: a version, the query's name, a fingerprint of its filters,
the sort key of the last row shown, and a checksum. Using it with other filters, or after it was
edited, raises CursorError (a ValueError) instead of returning a wrong page. The checksum is not
a secret: it catches edits and corruption, not a determined forger, so the position inside is
checked too (an integer time in range and a string id): a forged cursor can only move the page,
never crash the query.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl

from voice_monitor.arguments import whole_number
from voice_monitor.schema import UNIX_EPOCH

CURSOR_VERSION = 1
MAX_LIMIT = 500
# the range of a cursor position's time: what a datetime can hold, a day inside either end
_MIN_MICROS = -62_135_596_800_000_000 + 86_400_000_000  # 0001-01-02
_MAX_MICROS = 253_402_214_400_000_000  # 9999-12-31
MAX_ID_CHARS = 1024


class CursorError(ValueError):
    """A cursor this tool did not issue, that was edited, or that belongs to another query."""


@dataclass(frozen=True)
class Page:
    """One page of rows and the cursor of the next page (None on the last page)."""

    rows: pl.DataFrame
    next_cursor: str | None

    def __len__(self) -> int:
        return self.rows.height


def cap_limit(limit: int) -> int:
    """The page size: at least 1, at most 500 (larger limits are capped, not refused)."""
    if not whole_number(limit) or limit < 1:
        raise ValueError(f"limit {limit!r} must be a positive integer, e.g. 50: a page holds "
                         f"1 to {MAX_LIMIT} rows (a larger limit gives {MAX_LIMIT})")
    return min(limit, MAX_LIMIT)


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def to_micros(moment: datetime) -> int:
    delta = moment.astimezone(UTC) - UNIX_EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    return UNIX_EPOCH + timedelta(microseconds=micros)


def encode_cursor(query: str, filters: dict, key: list, at: datetime | None = None) -> str:
    """An opaque cursor positioned after the row whose sort key is `key`; `at`, the moment
    its pages are read at (`cursor_moment`), for a read whose answer depends on it."""
    body = {"v": CURSOR_VERSION, "q": query, "f": _digest(_canonical(filters)), "k": key}
    if at is not None:
        body["n"] = to_micros(at)
    body["c"] = _digest(_canonical(body))
    return base64.urlsafe_b64encode(_canonical(body).encode()).decode().rstrip("=")


def shown_cursor(cursor) -> str:
    """A cursor as an error message shows it: quoted, at most 60 characters."""
    return repr(cursor[:60] + ("..." if len(cursor) > 60 else "") if isinstance(cursor, str)
                else cursor)


def position(key, cursor) -> tuple[datetime, str]:
    """The (time, id) position a cursor's key holds; CursorError unless it has that shape."""
    if (isinstance(key, list | tuple) and len(key) == 2 and type(key[0]) is int
            and _MIN_MICROS <= key[0] <= _MAX_MICROS and isinstance(key[1], str)
            and len(key[1]) <= MAX_ID_CHARS):
        return from_micros(key[0]), key[1]
    raise CursorError(f"bad cursor {shown_cursor(cursor)}: its position is not a time and an id; "
                      "pass next_cursor exactly as returned, or no cursor to start over")


def cursor_moment(cursor: str) -> datetime | None:
    """The moment a cursor's pages are read at (`encode_cursor`'s `at`), or None; the cursor is
    checked as `decode_cursor` checks it."""
    at = _body(cursor).get("n")
    if at is None:
        return None
    if type(at) is not int or not _MIN_MICROS <= at <= _MAX_MICROS:
        raise CursorError(f"bad cursor {shown_cursor(cursor)}: its moment is not a time; pass "
                          "next_cursor exactly as returned, or no cursor to start over")
    return from_micros(at)


def decode_cursor(cursor: str, query: str, filters: dict) -> tuple[datetime, str]:
    """The (time, id) position inside `cursor`, checked to belong to this query and filters."""
    body = _body(cursor)
    if body.get("q") != query or body.get("f") != _digest(_canonical(filters)):
        raise CursorError(f"bad cursor {shown_cursor(cursor)}: it was issued for another query "
                          "or other filters; use the same filters as the first page, or no cursor")
    return position(body.get("k"), cursor)


def _body(cursor: str) -> dict:
    """The body of a cursor this tool issued, unedited and of this version."""
    shown = shown_cursor(cursor)
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        body = json.loads(raw)
        checksum = body.pop("c")
        valid = isinstance(body, dict) and checksum == _digest(_canonical(body))
    except (TypeError, ValueError, KeyError, AttributeError, RecursionError, binascii.Error):
        valid = False
    if not valid:
        raise CursorError(f"bad cursor {shown}: it is not a cursor this tool issued or it was "
                          "modified; pass next_cursor exactly as returned, or no cursor to start "
                          "over")
    if body.get("v") != CURSOR_VERSION:
        raise CursorError(f"bad cursor {shown}: version {str(body.get('v'))[:20]!r} is not "
                          f"{CURSOR_VERSION}; start again without a cursor")
    return body
