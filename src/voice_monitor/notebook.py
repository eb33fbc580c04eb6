"""What every notebook in `notebooks/` does first: find the lake and "now", set up charts.

The lake is resolved as the CLI does: `$VOICE_MONITOR_LAKE`, else `./data` of the repository
(`../data` seen from `notebooks/`, where Jupyter runs a notebook), and a path that holds no
lake is refused with the CLI's message. "Now" is
`$VOICE_MONITOR_NOW`, else the end of the newest hourly snapshot (so a demo lake built days ago
still shows its data), else the clock. Charts render as Plotly's own MIME type, which
JupyterLab draws with the extension shipped inside the `plotly` package: no internet needed.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from voice_monitor.lake import DEFAULT_LAKE, LAKE_ENV, Lake, open_lake

NOW_ENV = "VOICE_MONITOR_NOW"


def setup(notebook_dir: str | os.PathLike[str] = ".") -> tuple[Lake, datetime]:
    """(lake, now) for a notebook in `notebook_dir`; prints both."""
    import plotly.io as pio

    from voice_monitor.views import lake_connection

    pio.renderers.default = "plotly_mimetype"
    root = os.environ.get(LAKE_ENV) or Path(notebook_dir).resolve().parent / DEFAULT_LAKE
    lake: Lake = open_lake(root)  # refuses a path that holds no lake, as the CLI does
    if os.environ.get(NOW_ENV):
        now = datetime.fromisoformat(os.environ[NOW_ENV].replace("Z", "+00:00"))
    else:
        latest = lake_connection(lake).execute(
            "select max(period_end) from pipeline_hourly").fetchone()[0]
        now = latest or datetime.now(UTC)
    now = now.astimezone(UTC)
    print(f"lake {lake.root.resolve()}, now {now:%Y-%m-%d %H:%M} UTC")
    return lake, now
