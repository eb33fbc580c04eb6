"""CLI commands: ingest, metrics realtime."""

from __future__ import annotations

from datetime import datetime

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


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@lake_option(create=True)
@now_option
@json_option
def ingest(files: tuple[str, ...], lake: Lake, now: datetime, as_json: bool) -> None:
    """Land event files (JSON Lines, a JSON array, or Parquet) in the lake.

    Bad records go to quarantine with a reason; they are not a failure.

    \b
    Example:
      voice-monitor ingest events.jsonl more.parquet --lake ./data
    """
    Lake.create(lake)
    total = LandingResult()
    for path in files:
        try:
            total.add(ingest_file(lake, path, now=now))
        except InputFileError as exc:
            raise VoiceMonitorError(str(exc)) from exc
    if as_json:
        echo_json(total.as_dict())
        return
    click.echo(f"accepted {total.accepted} (of which duplicate {total.duplicates}), "
               f"quarantined {total.quarantined}")


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
