"""The `voice-monitor` command line: one group, commands contributed by one module per area.

Errors become one line on stderr and a non-zero exit: 2 for a usage error (click's own), 1 for
an unreadable input or a failed operation.
"""

from __future__ import annotations

import sys

import click

from voice_monitor.cli import alerts, demo, landing, queries, rollups
from voice_monitor.cli.common import VoiceMonitorError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="voice-monitor")
def cli() -> None:
    """Monitor the voice-note pipeline: land events, roll up snapshots, raise alerts, query.

    \b
    Example:
      voice-monitor demo
      voice-monitor ingest events.jsonl --lake ./data
    """


for _module in (landing, rollups, queries, alerts, demo):
    _module.register(cli)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script: errors become one line on stderr."""
    try:
        cli.main(args=argv, prog_name="voice-monitor", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("voice-monitor: aborted", err=True)
        sys.exit(1)
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        click.echo(f"voice-monitor: usage error: {exc.format_message()}{hint}", err=True)
        sys.exit(2)
    except (VoiceMonitorError, click.ClickException, ValueError, OSError) as exc:
        message = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
        click.echo(f"voice-monitor: error: {message}", err=True)
        sys.exit(1)
