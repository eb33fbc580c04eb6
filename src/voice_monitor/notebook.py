"""What every notebook in `notebooks/` does first: find the lake and "now", set up charts.

The lake is resolved by the CLI's own rule (`settings.lake_location`): `$VOICE_MONITOR_LAKE`,
else `lake` in the config file, else `./data`, a relative path being relative to the directory
Jupyter was started from (a kernel runs in the notebook's folder, so its own current directory
would not do); a path that holds no lake is refused with the CLI's message. "Now" is
`$VOICE_MONITOR_NOW`, else the end of the newest hourly snapshot (so a demo lake built days ago
still shows its data), else the clock. Charts render as Plotly's own MIME type, which
JupyterLab draws with the extension shipped inside the `plotly` package: no internet needed.
"""

from __future__ import annotations

import os
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

from voice_monitor.arguments import as_utc, iso_time
from voice_monitor.lake import Lake, open_lake

NOW_ENV = "VOICE_MONITOR_NOW"
NO_EVENTS = ("no events yet: land some with `voice-monitor ingest FILE`, or build a demo lake with "
             "`voice-monitor demo`; the tables below are empty")


def launch_directory(notebook_dir: str | os.PathLike[str] = ".") -> Path:
    """Where Jupyter was started: `$PWD`, which the shell that started it set and every kernel
    inherits; else the repository root (the parent of `notebooks/`)."""
    shell = os.environ.get("PWD")
    if shell and Path(shell).is_dir():
        return Path(shell)
    return Path(notebook_dir).resolve().parent


def setup(notebook_dir: str | os.PathLike[str] = ".") -> tuple[Lake, datetime]:
    """(lake, now) for a notebook in `notebook_dir`; prints both."""
    import plotly.io as pio

    from voice_monitor.settings import lake_location

    pio.renderers.default = "plotly_mimetype"
    lake: Lake = open_lake(lake_location(cwd=launch_directory(notebook_dir)))  # refuses a non-lake
    # from the partitions' names, not their files: one unreadable file (a corrupt event or
    # snapshot file) failed this first cell, and so every notebook, where the cells reading
    # other periods answer (contract §4)
    if os.environ.get(NOW_ENV):
        now = as_utc(iso_time(os.environ[NOW_ENV], NOW_ENV))
    else:
        hours = lake.snapshot_periods("pipeline_hourly")
        now = max(hours) + timedelta(hours=1) if hours else datetime.now(UTC)
    now = now.astimezone(UTC)
    print(f"lake {lake.root.resolve()}, now {now:%Y-%m-%d %H:%M} UTC")
    empty = not lake.event_hours()
    if empty:
        print(NO_EVENTS)
    _quiet_not_built(empty)
    return lake, now


# the filter `_quiet_not_built` added (at most one), taken back by identity: never a user's
_ADDED: list[tuple] = []


def _quiet_not_built(quiet: bool) -> None:
    """On a lake with no events, no `PeriodsNotBuiltWarning` under the totals' cells: "no
    events yet" was said, and every hour of the range "has no snapshot, left out of these
    totals" (a rollup to run) was noise under each. With events the warning stays: it names
    the hours whose events the totals leave out (the hour in progress). Set again by each run
    of the first cell, so a kernel that saw the lake empty warns once events have landed.
    Only the filter this function added is taken back; a filter the user set for the warning
    (`warnings.simplefilter("error", vm.PeriodsNotBuiltWarning)`) is kept, and wins: with one,
    none is added."""
    from voice_monitor.queries import PeriodsNotBuiltWarning

    warnings.filters[:] = [f for f in warnings.filters if not any(f is a for a in _ADDED)]
    _ADDED.clear()
    users = any(f[2] is PeriodsNotBuiltWarning for f in warnings.filters)
    if quiet and not users:
        warnings.filterwarnings("ignore", category=PeriodsNotBuiltWarning)
        _ADDED.append(warnings.filters[0])
