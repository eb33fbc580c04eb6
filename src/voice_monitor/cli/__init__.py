"""The `voice-monitor` command line: one group, commands contributed by one module per area.

Errors become one line on stderr and a non-zero exit: 2 for a usage error (click's own), 1 for
an unreadable input or a failed operation (whatever raised it: DuckDB, Arrow, the OS, ...), 130
for Ctrl-C. `--debug` (or VOICE_MONITOR_DEBUG=1) shows the traceback instead.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import logging
import os
import sys
import traceback

import click

from voice_monitor.cli.common import VoiceMonitorError

# command -> the command modules that define it. Modules load only when their command runs, so
# `voice-monitor ingest` does not pay for importing Prefect, Polars or pandas.
_COMMANDS: dict[str, tuple[str, ...]] = {
    "init": ("lake",),
    "lake": ("lake",),
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
    "serve": ("server",),
    "config": ("config",),
    "check": ("rollups",),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        for module in _COMMANDS.get(name, ()):
            importlib.import_module(f"voice_monitor.cli.{module}").register(self)
        if name in _lean["freeze"]:
            # the process's modules are loaded and live as long as it: the garbage collector's
            # full passes need not walk their ~70,000 objects again (~0.1 CPU s per 1M ingested)
            _lean["freeze"] = ()
            gc.freeze()
            atexit.register(gc.unfreeze)  # at exit all is collected as usual (nanobind checks it)
        return self.commands.get(name)


DEBUG_ENV = "VOICE_MONITOR_DEBUG"
_debug = {"on": False}
_lean: dict[str, tuple[str, ...]] = {"freeze": ()}  # see `_lean_process`


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="voice-monitor")
@click.option("--debug", is_flag=True,
              help=f"Show an error's full traceback, and log messages (also: {DEBUG_ENV}=1).")
def cli(debug: bool) -> None:
    """Monitor the voice-note pipeline: land events, roll up snapshots, raise alerts, query.

    \b
    Example:
      voice-monitor demo
      voice-monitor ingest events.jsonl --lake ./data
      voice-monitor --debug rollup hourly   # an error shows its traceback
    """
    _debug["on"] = _debug["on"] or debug  # main() has taken --debug out already; kept for --help


def one_line(exc: BaseException) -> str:
    """An exception as one line: its first non-empty line, named by its type when not ours."""
    text = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    first = lines[0] if lines else ""
    if not isinstance(exc, VoiceMonitorError | click.ClickException | ValueError | OSError):
        # not an error this tool raised on purpose: say what it was and how to see more
        first = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
        first += " (run with --debug for the traceback)"
    return first if len(first) <= 2000 else first[:2000] + "..."


def _fail(exc: BaseException, status: int, prefix: str = "error: ") -> None:
    if _debug["on"]:
        traceback.print_exception(exc, file=sys.stderr)
    else:
        click.echo(f"voice-monitor: {prefix}{one_line(exc)}", err=True)
    sys.exit(status)


def _quiet_logs() -> None:
    """Library log records and Python warnings stay off stderr (--debug shows them).

    Every command prints what happened itself (e.g. `alerts check` lists the alerts it raised
    and names failed checks in its error line), so a log line would repeat it, and stderr is
    kept for the one-line error.
    """
    logging.captureWarnings(True)
    for name in ("voice_monitor", "py.warnings"):
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())


class _NoPandas:
    """An import finder that says pandas is not installed. pyarrow imports pandas (~0.3 s) the
    first time an array is made from a Python list, only to check whether it is a pandas
    object; `ingest` never uses pandas, so its process is told pandas is absent, which pyarrow
    (and DuckDB) handle as when it is not installed."""

    def find_spec(self, name: str, path=None, target=None) -> None:
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError(f"{name} is not used by `voice-monitor ingest`", name=name)


def _lean_process(args: list[str]) -> None:
    """What a process that runs only `ingest` can leave out (see `_NoPandas`), and that its
    modules' objects are frozen once loaded (`gc.freeze`)."""
    commands = [a for a in args if not a.startswith("-")][:1]
    if commands == ["ingest"]:
        _lean["freeze"] = ("ingest",)
        if "pandas" not in sys.modules:
            sys.meta_path.insert(0, _NoPandas())


# Prefect's own logs on stderr: those of this process (a Dask fan-out's flow runs) and those of
# the temporary API server it starts as a child process (which reads its settings from the
# environment), telemetry included. The command prints what happened itself; --debug shows them.
_QUIET_PREFECT = {"PREFECT_LOGGING_LEVEL": "CRITICAL", "PREFECT_SERVER_LOGGING_LEVEL": "CRITICAL",
                  "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script: every error becomes one line on stderr."""
    args = list(sys.argv[1:] if argv is None else argv)
    if argv is None:  # the console script's own process (not a caller's, which may want pandas)
        _lean_process(args)
    # --debug works anywhere before a `--` (e.g. `voice-monitor sql "..." --debug`), not only first
    end = args.index("--") if "--" in args else len(args)
    given = "--debug" in args[:end]
    args = [a for a in args[:end] if a != "--debug"] + args[end:]
    _debug["on"] = given or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    if _debug["on"]:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    else:
        _quiet_logs()
        if argv is None:  # the console script's own process (a caller keeps its Prefect logs)
            for name, value in _QUIET_PREFECT.items():
                os.environ.setdefault(name, value)
    try:
        cli.main(args=args, prog_name="voice-monitor", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):  # click turns Ctrl-C into Abort
        click.echo("voice-monitor: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        # the reader of our output went away (e.g. `| head`): nothing left to say to anyone
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), sys.stdout.fileno())
        sys.exit(1)
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        click.echo(f"voice-monitor: usage error: {one_line(exc)}{hint}", err=True)
        sys.exit(2)
    except Exception as exc:  # the CLI's edge: no traceback reaches a user
        _fail(exc, 1)
