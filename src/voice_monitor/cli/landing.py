"""CLI commands: ingest, metrics realtime."""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import click

from voice_monitor.cli.common import (
    VoiceMonitorError,
    echo_json,
    json_option,
    lake_now_json,
    lake_option,
    now_option,
)
from voice_monitor.counters import realtime_metrics
from voice_monitor.lake import Lake
from voice_monitor.landing import InputFileError, LandingResult, ingest_file
from voice_monitor.streaming import check_input_file, unreadable

STDIN = "-"
STDIN_SOURCE = "<stdin>"  # the source quarantine records for what was read from standard input


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@lake_option(create=True)
@now_option
@json_option
def ingest(files: tuple[str, ...], lake: Lake, now: datetime, as_json: bool) -> None:
    """Land event files (JSON Lines, a JSON array, or Parquet) in the lake; `-` reads standard
    input (a file named - is ./-).

    Bad records go to quarantine with a reason; they are not a failure.

    \b
    Example:
      voice-monitor ingest events.jsonl more.parquet --lake ./data
      some-producer | voice-monitor ingest - --lake ./data
    """
    if files.count(STDIN) > 1:
        raise click.UsageError("'-' (standard input) is given more than once; give it once")
    if STDIN in files and (sys.stdin is None or sys.stdin.isatty()):
        state = "closed" if sys.stdin is None else "a terminal"  # (closed: `<&-`, a daemon)
        raise click.UsageError(f"'-' reads events from standard input, which is {state}; pipe "
                               "them in, e.g. voice-monitor ingest - < events.jsonl")
    for path in files:
        if path != STDIN:
            _check_path(path)
    Lake.create(lake)
    total = LandingResult()
    for path in files:
        try:
            total.add(_ingest_stdin(lake, now) if path == STDIN else
                      _ingest_path(lake, path, now))
        except InputFileError as exc:
            raise VoiceMonitorError(str(exc)) from exc
    if as_json:
        echo_json(total.as_dict())
        return
    click.echo(f"accepted {total.accepted} (of which duplicate {total.duplicates}), "
               f"quarantined {total.quarantined}")


def _check_path(path: str) -> None:
    """Refuse a path that cannot be read before anything lands, so a bad argument among several
    never leaves the files before it landed and those after it not. A pipe is only checked for
    read permission: opening it would take what its writer sends."""
    try:
        if not _is_pipe(path):
            check_input_file(Path(path))
        elif not os.access(path, os.R_OK):
            raise unreadable(path, PermissionError(13, os.strerror(13), path))
    except OSError as exc:
        raise VoiceMonitorError(f"{unreadable(path, exc)} (nothing was ingested)") from exc
    except InputFileError as exc:
        raise VoiceMonitorError(f"{exc} (nothing was ingested)") from exc


def _is_pipe(path: str) -> bool:
    """Whether `path` is a pipe or anything else but a regular file (raises OSError if it is
    not there)."""
    return not stat.S_ISREG(os.stat(path).st_mode)


def _ingest_stdin(lake: Lake, now: datetime) -> LandingResult:
    """Land what standard input holds (any format `ingest` reads)."""
    return _ingest_stream(lake, now, sys.stdin.buffer, STDIN_SOURCE, "standard input")


def _ingest_path(lake: Lake, path: str, now: datetime) -> LandingResult:
    """Land one file; a pipe (`<(zcat x.gz)`, a FIFO) is read like standard input."""
    try:
        pipe = _is_pipe(path)
    except OSError:
        pipe = False  # ingest_file names the path and the error
    if not pipe:
        return ingest_file(lake, path, now=now)
    try:
        stream = open(path, "rb")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise unreadable(path, exc) from exc
    with stream:
        return _ingest_stream(lake, now, stream, path, repr(path))


def _ingest_stream(lake: Lake, now: datetime, stream, source: str, shown: str) -> LandingResult:
    """Land a stream, spooled to a temporary file first: telling the formats apart and reading
    a Parquet footer need a seekable file. Memory stays bounded."""
    with tempfile.TemporaryDirectory(prefix="voice-monitor-stdin-") as folder:
        spool = Path(folder) / "stdin"
        with spool.open("wb") as out:
            shutil.copyfileobj(stream, out, 1 << 20)
        try:
            return ingest_file(lake, spool, now=now, source=source)
        except InputFileError as exc:  # name the input as the user gave it
            message = str(exc).replace(f"gunzip -k {spool}", f"gunzip -c FILE | voice-monitor "
                                       f"ingest {STDIN}")
            raise InputFileError(message.replace(repr(str(spool)), shown)
                                 .replace(str(spool), shown)) from exc


@click.group()
def metrics() -> None:
    """Read metrics: real-time counters, historical snapshots, stage and organization breakdowns.

    Tables show rates in %, latencies in s and cost in $; --json keeps the stored values.

    \b
    Example:
      voice-monitor metrics realtime
      voice-monitor metrics historical --start 2026-02-15T00:00Z --end 2026-02-16T00:00Z
      voice-monitor metrics orgs --json
    """


@metrics.command()
@click.option("--org", "organization_id", default=None, help="An organization id (default: the platform).")
@lake_now_json
def realtime(organization_id: str | None, lake: Lake, now: datetime, as_json: bool) -> None:
    """Counts for the rolling last hour (the current minute and the 59 before it).

    \b
    Example:
      voice-monitor metrics realtime --org org-7 --now 2026-02-16T14:30:00Z --json
    """
    result = realtime_metrics(lake, organization_id, now=now)
    if as_json:
        echo_json(result)
        return
    for key, value in result.items():
        click.echo(f"{key:26} {value}")


def register(main: click.Group) -> None:
    """Add this module's commands to the main group."""
    main.add_command(ingest)
    main.add_command(metrics)
