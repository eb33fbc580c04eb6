"""Checks on the query API's input: each bad value raises ValueError naming it and the fix."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from voice_monitor.schema import EVENT_TYPES, MAX_SHORT_STRING, STAGES


def iso_time(text: str, what: str = "time") -> datetime:
    """The time an ISO-8601 text gives (a trailing Z means UTC); naive when it names no offset.
    The one parser of time text: the query API, the CLI, the flows and the notebooks use it."""
    stripped = text.strip()
    if stripped.endswith(("Z", "z")):
        stripped = stripped[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(stripped)
    except ValueError:
        raise ValueError(
            f"{what} {text!r} is not an ISO-8601 time; use e.g. 2026-02-16T14:30:00Z") from None


def as_utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive one is taken to be UTC already (never the machine's TZ)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def utc_time(value: datetime | str | None, what: str) -> datetime | None:
    """A timezone-aware UTC datetime from a datetime or an ISO-8601 text with Z/offset."""
    if value is None:
        return None
    if isinstance(value, str):
        value = iso_time(value, what)
    if not isinstance(value, datetime):
        raise ValueError(f"{what} {value!r} is not a datetime; pass a timezone-aware datetime")
    if value.tzinfo is None:
        raise ValueError(f"{what} {value.isoformat()!r} has no timezone; "
                         "pass a UTC time, e.g. datetime(..., tzinfo=UTC) or '...Z'")
    return value.astimezone(UTC)


def time_range(start, end, *, required: bool = False) -> tuple[datetime | None, datetime | None]:
    """A checked [start, end) range; start must come before end."""
    start, end = utc_time(start, "start"), utc_time(end, "end")
    if required and (start is None or end is None):
        raise ValueError(f"a time range needs both start and end; got start={start}, end={end}")
    if start is not None and end is not None and start >= end:
        raise ValueError(f"bad time range: start {start.isoformat()} is not before end "
                         f"{end.isoformat()}; swap them or widen the range")
    return start, end


def identifier(value: str | None, what: str) -> str | None:
    """An organization or artifact id: a non-empty string of at most 256 printable characters."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{what} {value!r} is not a string; pass the id as text")
    if not value or len(value) > MAX_SHORT_STRING or not value.isprintable():
        raise ValueError(f"{what} {value[:300]!r} is not a valid id; expected 1-{MAX_SHORT_STRING} "
                         "printable characters")
    return value


def event_types(value: str | Iterable[str] | None) -> list[str] | None:
    """Known event types (one or several), or None for all."""
    if value is None:
        return None
    listed = [value] if isinstance(value, str) else list(value)
    for item in listed:
        if item not in EVENT_TYPES:
            raise ValueError(f"unknown event type {item!r}; expected one of {', '.join(EVENT_TYPES)}")
    return sorted(set(listed)) or None


def stage(value: str | None) -> str | None:
    """A known pipeline stage, or None for all."""
    if value is not None and value not in STAGES:
        raise ValueError(f"unknown pipeline stage {value!r}; expected one of {', '.join(STAGES)}")
    return value
