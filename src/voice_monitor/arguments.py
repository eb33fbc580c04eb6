"""Checks on the query API's input: each bad value raises ValueError naming it and the fix."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from voice_monitor.schema import EVENT_TYPES, MAX_SHORT_STRING, STAGES


def utc_time(value: datetime | str | None, what: str) -> datetime | None:
    """A timezone-aware UTC datetime from a datetime or an ISO-8601 text with Z/offset."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"{what} {value!r} is not an ISO-8601 time; use e.g. 2026-02-16T14:30:00Z") from None
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
