"""The `voice-monitor` command line: one group, commands contributed by one module per area.

Errors become one line on stderr and a non-zero exit: 2 for a usage error (click's own), 1 for
an unreadable input or a failed operation.
"""

from __future__ import annotations

import importlib
import sys

import click

from voice_monitor.cli.common import VoiceMonitorError

# command -> the command modules that define it. Modules load only when their command runs, so
# `voice-monitor ingest` does not pay for importing Prefect, Polars or pandas.
_COMMANDS: dict[str, tuple[str, ...]] = {
    "ingest": ("landing",),
    "metrics": ("landing", "queries"),  # realtime lives with landing; the rest with queries
    "rollup": ("rollups",),
    "backfill": ("rollups",),
    "retention": ("rollups",),
    "events": ("queries",),
    "artifacts": ("queries",),
    "sql": ("queries",),
    "catalog": ("queries",),
    "compact": ("queries",),
    "orgs": ("queries",),
    "alerts": ("alerts",),
    "demo": ("demo",),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        for module in _COMMANDS.get(name, ()):
            importlib.import_module(f"voice_monitor.cli.{module}").register(self)
        return self.commands.get(name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="voice-monitor")
def cli() -> None:
    """Monitor the voice-note pipeline: land events, roll up snapshots, raise alerts, query.

    \b
    Example:
      voice-monitor demo
      voice-monitor ingest events.jsonl --lake ./data
    """


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
