"""CLI command: config show (the effective settings and where each came from)."""

from __future__ import annotations

import click

from voice_monitor.cli.common import echo_json, json_option, settings_option
from voice_monitor.lake import open_lake
from voice_monitor.settings import Effective


@click.group()
def config() -> None:
    """Show the effective settings (defaults, voice-monitor.toml, VOICE_MONITOR_* variables).

    \b
    Example:
      voice-monitor config show
      VOICE_MONITOR_RETENTION_EVENTS=72h voice-monitor config show --json
    """


@config.command()
@click.option("--lake", "lake_dir", default=None, help="Lake root, as other commands take it.")
@settings_option
@json_option
def show(lake_dir: str | None, settings: Effective, as_json: bool) -> None:
    """Print every setting's effective value and its source: default, file, env or flag.

    Secrets (tokens, the webhook URL's path, a password in the counters URL) are masked. The
    values are printed first; then, as every command but init/ingest/demo/serve does, a lake
    path that holds no lake is refused (one line, exit 1), so a typo shows here too.

    \b
    Example:
      voice-monitor config show
      voice-monitor config show --set alerts.queue_depth_max=80 --json
    """
    rows = settings.rows()
    if lake_dir is not None:
        rows = [{**r, "value": lake_dir, "source": "flag --lake"} if r["key"] == "lake" else r
                for r in rows]
    if as_json:
        echo_json({r["key"]: {k: r[k] for k in ("value", "source", "description")} for r in rows})
    else:
        _print_table(rows)
    lake = next(r["value"] for r in rows if r["key"] == "lake")
    open_lake(lake)  # NoLakeError: "no lake at PATH; create it with voice-monitor init PATH"


def _print_table(rows: list[dict]) -> None:
    width = max(len(r["key"]) for r in rows)
    shown = [str(r["value"]) if r["value"] != "" else "(unset)" for r in rows]
    value_width = min(max(len(v) for v in shown), 40)
    for row, value in zip(rows, shown, strict=True):
        click.echo(f"{row['key']:{width}}  {value:{value_width}}  {row['source']}")


def register(main: click.Group) -> None:
    """Add this module's commands to the main group."""
    main.add_command(config)
