"""Options and helpers shared by every command module."""

from __future__ import annotations

import base64
import functools
import json
import math
import os
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import click

from voice_monitor import arguments, disk_space, read_only, storage
from voice_monitor.arguments import TimeOutOfRangeError, as_utc, in_range, iso_time, utc_text
from voice_monitor.lake import (
    LAKE_ENV,
    Lake,
    empty_path_message,
    file_in_the_way,
    file_path_message,
    open_lake,
)


class VoiceMonitorError(Exception):
    """A failure the CLI reports as one line and exit status 1."""


def parse_time(value: str, what: str = "time", example: str = "2026-02-16T14:30:00Z") -> datetime:
    """An ISO-8601 UTC time from the command line: a trailing Z or offset, or naive = UTC;
    `example` is the form the error message suggests."""
    try:
        return as_utc(iso_time(value, what))
    except TimeOutOfRangeError as exc:
        raise click.BadParameter(str(exc)) from None
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO-8601 {what}; use e.g. {example}"
        ) from None


class TimeParam(click.ParamType):
    name = "TIME"

    def convert(self, value, param, ctx):
        if isinstance(value, datetime):
            return value
        return parse_time(value)


class DayParam(click.ParamType):
    name = "DAY"

    def convert(self, value, param, ctx):
        if isinstance(value, date):
            return value
        try:
            arguments.period_text(value, "day", "day")
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        try:
            day = date.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not a day; use YYYY-MM-DD, e.g. 2026-02-15", param, ctx)
        try:
            return in_range(day, "day", value)
        except TimeOutOfRangeError as exc:
            self.fail(str(exc), param, ctx)


TIME = TimeParam()
DAY = DayParam()


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """`n` and its noun as a user reads them: '1 organization', '2 organizations', '1,200 rows'."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def default_lake() -> str:
    """The lake when --lake is not given: $VOICE_MONITOR_LAKE, the config file, else ./data."""
    if os.environ.get(LAKE_ENV):  # the common case costs no config file read
        return os.environ[LAKE_ENV]
    from voice_monitor.settings import lake_location

    return lake_location()


def settings_option(func: Callable) -> Callable:
    """--set KEY=VALUE (repeatable) over the config file and environment; passes `settings`."""

    @click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE",
                  help="Override a setting for this run, e.g. --set retention.events=72h "
                       "(see voice-monitor config show).")
    @functools.wraps(func)
    def wrapper(*args, assignments: tuple[str, ...], **kwargs):
        from voice_monitor.settings import load_settings, parse_assignment

        overrides = dict(parse_assignment(text) for text in assignments)
        return func(*args, settings=load_settings(overrides, source="flag --set"), **kwargs)

    return wrapper


def lake_option(func: Callable | None = None, *, create: bool = False) -> Callable:
    """--lake DIR (default $VOICE_MONITOR_LAKE, else ./data); passes `lake: Lake`.

    The lake must exist (else one line: "no lake at DIR; create it with voice-monitor init DIR").
    `create=True` (init, ingest, demo) passes a plain handle: the command creates the lake.
    """
    if func is None:
        return functools.partial(lake_option, create=create)

    @click.option("--lake", "lake_dir", type=click.Path(),
                  default=default_lake, show_default="./data", callback=not_empty_path,
                  help=f"Lake root directory (env {LAKE_ENV}, or lake in voice-monitor.toml).")
    @functools.wraps(func)
    def wrapper(*args, lake_dir: str, **kwargs):
        with storage.reaching(lake_dir):  # a store that does not answer: one line, what to check
            lake = Lake(lake_dir) if create else open_lake(lake_dir)
            return _run(func, lake, *args, **kwargs)

    return wrapper


def _run(func: Callable, lake: Lake, *args, **kwargs):
    """`func` on `lake`; a lake this process may not write to says so, and what to do."""
    try:
        return func(*args, lake=lake, **kwargs)
    except Exception as exc:
        said = lake_error(exc, lake)
        if said is exc:
            raise
        raise said from exc


def lake_error(exc: Exception, lake: Lake) -> Exception:
    """`exc` as the CLI says it on `lake`: a lake this process may not write to (a read-only
    mount), one whose folders lie on two file systems, or a full disk as one line with what to
    do (VoiceMonitorError); else `exc` itself."""
    if isinstance(exc, OSError) and read_only.denied(exc) and (
            _inside(exc.filename, lake) if exc.filename
            else not lake.remote and read_only.unwritable(lake.root)):
        return VoiceMonitorError(read_only.message(lake.root, exc))
    if (spans := read_only.across_file_systems(lake.root, exc)) is not None:
        return VoiceMonitorError(spans)
    try:
        no_space(exc, lake)  # SQLite's and DuckDB's errors, no OSError, may say a full disk too
    except VoiceMonitorError as full:
        return full
    return exc


def create_lake(lake: Lake) -> Lake:
    """`Lake.create` for a command that makes its lake (init, ingest, serve): a folder the
    system will not make or write is one line naming the path and the fix, where it was the
    OS's own words ("[Errno 13] Permission denied: '/srv/x'"); a full disk says so."""
    try:
        return Lake.create(lake)
    except OSError as exc:
        no_space(exc, lake)
        if lake.remote:
            raise
        reason = exc.strerror or str(exc)
        raise VoiceMonitorError(
            f"cannot create a lake at {str(lake.root)!r}: {reason}; pick a folder this user "
            "can create and write, e.g. ./data") from exc


def no_space(exc: BaseException, lake: Lake) -> None:
    """Raise the one-line full-disk error if `exc` is a write refused for want of space in the
    lake (or its local state folder); return otherwise."""
    if isinstance(exc, VoiceMonitorError) or not disk_space.is_full(exc, lake.local_state_dir):
        return
    if isinstance(exc, disk_space.NoSpaceError):  # said already, with what was not done
        raise VoiceMonitorError(str(exc)) from exc
    path = disk_space.where(exc, lake.root)  # a file in a local lake: the lake, as given
    raise VoiceMonitorError(disk_space.message(lake.root if _inside(path, lake) else path)) from exc


def _inside(filename, lake: Lake) -> bool:
    """Whether the OS error's file lies in the lake (or its local state folder)."""
    if not filename or lake.remote:
        return False
    path = os.path.abspath(os.fsdecode(filename))
    return any(path == root or path.startswith(root + os.sep)
               for root in {os.path.abspath(lake.root), os.path.abspath(lake.local_state_dir)})


def ordered_range(start: datetime | None, end: datetime | None) -> None:
    """--start and --end as given: a start not before the end is a usage error (exit 2) naming
    both and the fix, as backfill's is, not the library's ValueError (exit 1)."""
    if start is not None and end is not None and start >= end:
        raise click.BadParameter(
            f"--end {utc_text(end)} is not after --start {utc_text(start)}; swap them or widen "
            "the range", param_hint="'--start'/'--end'")


def checked(check: Callable) -> Callable:
    """A click callback running the library's own check of an option's value (`check(value)`,
    a ValueError if bad): a bad value is a usage error (exit 2) in the library's words, before
    anything is read, as every other bad option value is; the value is passed on as given."""

    def callback(ctx, param, value):
        if value is None or value == ():
            return value
        try:
            check(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
        return value

    return callback


def _organization(value: str) -> None:
    arguments.identifier(value, "organization_id")


def _artifact(value: str) -> None:
    arguments.identifier(value, "artifact_id")


ORGANIZATION = checked(_organization)  # --org: an id as landing takes it
ARTIFACT = checked(_artifact)  # --artifact, ARTIFACT_ID
EVENT_TYPES = checked(lambda value: arguments.event_types(list(value)))  # --type (repeatable)
STAGE = checked(arguments.stage)  # --stage


def not_empty_path(ctx, param, value):
    """A click callback: an empty lake path (an unset variable) is a usage error, never ".";
    so is a path that is a file (click's "Directory 'x' is a file." named no fix)."""
    if isinstance(value, str) and not value.strip():
        raise click.BadParameter(empty_path_message(value))
    file = file_in_the_way(value) if isinstance(value, str) and "://" not in value else None
    if file is not None:
        raise click.BadParameter(file_path_message(value, file))
    return value


def now_option(func: Callable) -> Callable:
    """--now TIME (default: the current UTC time); passes `now: datetime`."""

    @click.option("--now", type=TIME, default=None,
                  help="Treat this UTC time as now, e.g. 2026-02-16T14:30:00Z.")
    @functools.wraps(func)
    def wrapper(*args, now: datetime | None, **kwargs):
        return func(*args, now=now or datetime.now(UTC), **kwargs)

    return wrapper


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


def lake_now_json(func: Callable) -> Callable:
    """--lake, --now and --json: the options of most commands that read the lake at a time."""
    return lake_option(now_option(json_option(func)))


def iso_duration(delta: timedelta) -> str:
    """A duration as ISO-8601: PT1H30M, P1DT2H3.5S, -PT1H30M, PT0S."""
    sign, delta = ("-", -delta) if delta < timedelta(0) else ("", delta)
    hours, rest = divmod(delta.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    clock = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    if seconds or delta.microseconds:
        clock += (f"{seconds}.{delta.microseconds:06d}".rstrip("0") if delta.microseconds
                  else str(seconds)) + "S"
    days = f"{delta.days}D" if delta.days else ""
    return f"{sign}P{days}T{clock}" if clock else f"{sign}P{days}" if days else "PT0S"


def json_default(value):
    """The JSON form of what json cannot write itself (SQL results in `sql --json`)."""
    if isinstance(value, datetime):
        return utc_text(value)
    if isinstance(value, date | time):
        return value.isoformat()  # a TIMETZ keeps its offset: 12:34:56+02:00
    if isinstance(value, timedelta):  # INTERVAL (DuckDB counts a month as 30 days)
        return iso_duration(value)
    if isinstance(value, bytes | bytearray | memoryview):  # BLOB
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Decimal):  # DuckDB DECIMAL/HUGEINT results, e.g. from SUMMARIZE
        if not value.is_finite():
            return None
        return int(value) if value == value.to_integral_value() else float(value)
    return str(value)  # UUID, ...: their text form rather than no answer


def _key(key):
    """A JSON object key: a MAP's date, Decimal, ... keys as their JSON text form."""
    if isinstance(key, float) and not math.isfinite(key):
        return str(key)
    if key is None or isinstance(key, str | int | float | bool):
        return key  # json writes these itself
    shown = json_default(key)
    return shown if isinstance(shown, str) else json.dumps(shown)


def _plain(value):
    """`value` with every NaN or infinity as None (JSON has neither) and every object key one
    JSON can hold."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {_key(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def echo_json(value) -> None:
    """Print a value as JSON (UTC times as ISO-8601 with Z; NaN and infinities as null, as the
    server's API writes them: `NaN` is no JSON, and strict parsers such as jq refuse it)."""
    click.echo(json_text(value, indent=2))


def json_text(value, indent: int | None = None) -> str:
    """`value` as JSON text, as `echo_json` writes it."""
    try:
        return json.dumps(value, default=json_default, indent=indent, allow_nan=False)
    except (ValueError, TypeError):  # rare (SQL over NaN, a MAP keyed by dates): walk it once
        return json.dumps(_plain(value), default=json_default, indent=indent, allow_nan=False)
