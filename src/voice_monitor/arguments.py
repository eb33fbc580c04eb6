"""Checks on the query API's input: each bad value raises ValueError naming it and the fix."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime

from voice_monitor.schema import (
    EVENT_TYPES,
    ISO_AFTER_HOUR,
    ISO_DATE,
    ISO_LEAP_SECOND,
    ISO_ZONE,
    MAX_SHORT_STRING,
    STAGES,
)

# Times a command, an API request or a flow may name as text. Near the ends of the calendar the
# windows, look-backs and periods worked out from a time leave it (year 1 minus an hour is an
# OverflowError); nothing in a lake is older than 2000 (events before it are refused).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)
FIRST_EVENT = datetime(2000, 1, 1, tzinfo=UTC)  # validation refuses any earlier timestamp


class TimeOutOfRangeError(ValueError):
    """A time or day argument outside EARLIEST..LATEST."""


def in_range(moment: datetime | date, what: str, text: str | None = None):
    """`moment` (a UTC datetime, or a day) unchanged, or TimeOutOfRangeError naming it."""
    start = moment if isinstance(moment, datetime) else datetime(
        moment.year, moment.month, moment.day, tzinfo=UTC)
    if not EARLIEST <= start < LATEST:
        shown = text if text is not None else (
            utc_text(moment) if isinstance(moment, datetime) else moment.isoformat())
        raise TimeOutOfRangeError(
            f"{what} {shown!r} is out of range; use a time from 1970-01-01T00:00:00Z to "
            "9998-12-31T23:59:59Z (a lake holds nothing before 2000-01-01)")
    return moment


def period_start(start: datetime, what: str, example: str, text: str | None = None) -> datetime:
    """The start of an hour or day to roll up (UTC) unchanged, or TimeOutOfRangeError naming it:
    before 2000-01-01 no event can be, so a snapshot there could only be empty (and beyond
    the calendar's ends as `in_range`)."""
    in_range(start, what, text)
    if start < FIRST_EVENT:
        shown = text if text is not None else utc_text(start)
        raise TimeOutOfRangeError(
            f"{what} {shown!r} is before 2000-01-01, where a lake holds no event (earlier "
            f"timestamps are refused), so its snapshot could only be empty; use a time from "
            f"2000-01-01 on, e.g. {example}")
    return start


# the forms an event's time may take (schema.ISO_DATE_TIME + ISO_OFFSET, built from the same
# parts), and a date or an hour alone (a day, `--hour 2026-02-15T14`); Z or an offset only after
# a time: fromisoformat reads the sign after a date alone as its separator ('2026-02-16+01:00' as
# 01:00, not 23:00 the day before). Not Python's wider forms (20261130T1000Z, 2026-W48-1,
# 2026-11-30x10:00), refused in an event
_TIME_TEXT = re.compile(rf"{ISO_DATE}([Tt ]\d{{2}}({ISO_AFTER_HOUR})?{ISO_ZONE}?)?", re.ASCII)


def period_text(text: str, unit: str, what: str) -> str:
    """`text` unchanged if it names the period asked for (`unit` 'hour' or 'day'), else
    ValueError naming it and the form to give: a date alone for an hour would be taken as its
    hour 00 unasked, a time of day for a day its day with the hour dropped. The one rule of
    every --hour/--day (and run_hourly's hour=, run_daily's day= given as text)."""
    stripped = text.strip()
    day = re.match(ISO_DATE, stripped)
    if unit == "hour" and day and day.end() == len(stripped):
        raise ValueError(f"{what} {shown(text)} is a date, not an hour; name the hour, "
                         f"e.g. {stripped}T00")
    if unit == "day" and day and day.end() < len(stripped) and stripped[day.end()] in "Tt ":
        raise ValueError(f"{what} {shown(text)} is a time, not a day; give the day alone, "
                         f"e.g. {day.group()}")
    if unit == "day" and not (day and day.end() == len(stripped)):
        # (date.fromisoformat, which reads the day after this, also takes 20260215 and
        # 2026-W07-7: forms every other time given as text refuses)
        raise ValueError(f"{what} {shown(text)} is not a day; use YYYY-MM-DD, e.g. 2026-02-15")
    return text


SHOWN_CHARS = 100  # of a value an error quotes: a query string or an argument may be huge


def shown(value) -> str:
    """`value` as an error message quotes it: repr'd, text cut to its first SHOWN_CHARS
    characters and '...' (a 1 MB query parameter was answered with 1 MB)."""
    if isinstance(value, str) and len(value) > SHOWN_CHARS:
        value = value[:SHOWN_CHARS] + "..."
    return repr(value)


def iso_time(text: str, what: str = "time") -> datetime:
    """The time an ISO-8601 text gives (a trailing Z means UTC); naive when it names no offset.
    The one parser of time text: the query API, the CLI, the flows and the notebooks use it; it
    takes the forms landing takes in an event ('t' and 'z' too, a leap second as landing
    stores it), and a date or an hour alone."""
    stripped = text.strip()
    if not _TIME_TEXT.fullmatch(stripped):
        head, blank, tail = stripped.rpartition(" ")
        if blank and _TIME_TEXT.fullmatch(f"{head}+{tail}"):  # the query string's '+' is a space
            raise ValueError(
                f"{what} {shown(text)} is not an ISO-8601 time; a '+' in a URL's query string is "
                f"read as a space: send it as %2B ({head}%2B{tail}), or use Z")
        raise ValueError(
            f"{what} {shown(text)} is not an ISO-8601 time; use e.g. 2026-02-16T14:30:00Z")
    stripped = re.sub(ISO_LEAP_SECOND, r"\1:59.999999", stripped)
    if stripped.endswith(("Z", "z")):
        stripped = stripped[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(stripped)
    except ValueError:
        raise ValueError(
            f"{what} {shown(text)} is not an ISO-8601 time; use e.g. 2026-02-16T14:30:00Z") from None
    try:
        in_range(as_utc(moment), what, text)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00, before the calendar in UTC
        in_range(EARLIEST.replace(year=1), what, text)
    return moment


def as_utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive one is taken to be UTC already (never the machine's TZ)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def utc_text(moment: datetime) -> str:
    """A time as ISO-8601 UTC with Z, the form of every message and report; a naive one (a SQL
    TIMESTAMP) is UTC already, never the machine's local time."""
    return as_utc(moment).isoformat().replace("+00:00", "Z")


def utc_time(value: datetime | str | None, what: str) -> datetime | None:
    """A timezone-aware UTC datetime from an aware datetime or an ISO-8601 text; a text without
    Z or an offset (a date or an hour alone too) is UTC, as on the command line and in a flow's
    `now` (contract §11's `--hour 2026-02-15T14`); a naive datetime is refused: Python's are
    usually the machine's local time (`datetime.now()`), never read as UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = as_utc(iso_time(value, what))
    if not isinstance(value, datetime):
        raise ValueError(f"{what} {value!r} is not a datetime; pass a timezone-aware datetime")
    if value.tzinfo is None:
        raise ValueError(f"{what} {value.isoformat()!r} has no timezone; "
                         "pass a UTC time, e.g. datetime(..., tzinfo=UTC) or '...Z'")
    return value.astimezone(UTC)


def utc_now(now: datetime | str | None, what: str = "now") -> datetime:
    """`now` in UTC, or the clock when None; a naive datetime is refused, never read as the
    machine's local time (contract §2: UTC whatever the TZ)."""
    return utc_time(now, what) or datetime.now(UTC)


def time_range(start, end, *, required: bool = False) -> tuple[datetime | None, datetime | None]:
    """A checked [start, end) range; start must come before end."""
    start, end = utc_time(start, "start"), utc_time(end, "end")
    if required and (start is None or end is None):
        raise ValueError(f"a time range needs both start and end; got start="
                         f"{start and utc_text(start)}, end={end and utc_text(end)}")
    if start is not None and end is not None and start >= end:
        raise ValueError(f"bad time range: start {utc_text(start)} is not before end "
                         f"{utc_text(end)}; swap them or widen the range")
    return start, end


# what landing refuses in an identifier (validation.py): every id it stored can be asked for
# (and a lone surrogate: no UTF-8 text holds one)
_NOT_IN_ID = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def identifier(value: str | None, what: str) -> str | None:
    """An organization or artifact id: 1-256 characters without a control character or line
    separator (U+0000-U+001F, U+007F-U+009F, U+2028, U+2029), as landing takes them."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{what} {value!r} is not a string; pass the id as text")
    if not value or len(value) > MAX_SHORT_STRING or _NOT_IN_ID.search(value):
        raise ValueError(f"{what} {value[:300]!r} is not a valid id; expected 1-{MAX_SHORT_STRING} "
                         "characters without control characters (U+0000-U+001F, U+007F-U+009F, "
                         "U+2028, U+2029) or lone surrogates")
    return value


def event_types(value: str | Iterable[str] | None) -> list[str] | None:
    """Known event types (one or several), or None for all."""
    if value is None:
        return None
    if not isinstance(value, str | Iterable):
        raise ValueError(f"event types {value!r} are not a type name or a list of them; pass "
                         "e.g. 'artifact_failed' or ['artifact_failed', 'transcription_failed']")
    listed = [value] if isinstance(value, str) else list(value)
    for item in listed:
        if isinstance(item, str) and "," in item and all(
                part.strip() in EVENT_TYPES for part in item.split(",")):
            # a list in one value (type=a,b; --type a,b): the 27 names would not say what to do
            raise ValueError(f"event type {shown(item)} is several types in one value; give "
                             "each on its own: repeat --type (CLI) or type= (API), or pass a "
                             "list (Python)")
        if not isinstance(item, str) or item not in EVENT_TYPES:
            raise ValueError(f"unknown event type {shown(item)}; expected one of "
                             f"{', '.join(EVENT_TYPES)}")
    return sorted(set(listed)) or None


def whole_number(value) -> bool:
    """Whether a count (a limit, a size, a setting) is an int: True is 1 to Python, so a bool
    is not one (max_body_bytes=True refused every batch of more than one byte, batch_size=True
    landed every event alone)."""
    return isinstance(value, int) and not isinstance(value, bool)


def integer_text(text: str, what: str, example: int = 50, option: bool = True) -> int:
    """A whole number sent as text (a query parameter), read as the CLI reads `--limit`
    (click's int, that is Python's int(): '+5', '1_000' and ' 5 ' too), so the API and the
    command line take and refuse the same values; '5.0', '1e3' or '' is refused naming it.
    `option`: the CLI has an option `--what` (the message says it takes the same)."""
    try:
        return int(text)
    except ValueError:  # (also a text of more than 4,300 digits)
        like = f", as --{what} takes it" if option else ""
        raise ValueError(f"{what} {text[:100]!r} is not a whole number; send one in digits"
                         f"{like}, e.g. {what}={example}") from None


def flag(value, what: str) -> bool:
    """A yes/no argument: True or False only ('no' is a true string, so text is refused)."""
    if not isinstance(value, bool):
        raise ValueError(f"{what} {value!r} is not True or False; pass a bool")
    return value


def stage(value: str | None) -> str | None:
    """A known pipeline stage, or None for all."""
    if value is not None and value not in STAGES:
        raise ValueError(f"unknown pipeline stage {shown(value)}; expected one of "
                         f"{', '.join(STAGES)}")
    return value
