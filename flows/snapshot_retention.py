"""Prefect flow `snapshot-retention` (deployment snapshot-retention, cron `30 4 * * 0` UTC).

Run once locally: `python flows/snapshot_retention.py [NOW]`.
"""

from __future__ import annotations

import sys

from _argv import script_now

if __name__ == "__main__":  # a mistyped NOW is refused now, not after importing Prefect
    script_now(sys.argv)

from _shared import retention_flow, run_script

snapshot_retention, drop_expired_snapshots = retention_flow(
    __name__,
    "snapshots",
    """Drop expired snapshot partitions (hourly after 7 d, daily after 90 d), plus quarantine
    (30 d), alerts (90 d) and counter state (2 h). Every period is a setting (retention.*).""",
    "Drop hourly snapshot partitions older than 7 d and daily ones older than 90 d (by default).")

if __name__ == "__main__":
    run_script(snapshot_retention, sys.argv)
