"""Prefect flow `event-retention` (deployment event-retention, cron `0 5 * * 0` UTC).

Run once locally: `python flows/event_retention.py [NOW]`.
"""

from __future__ import annotations

import sys

from _argv import script_now

if __name__ == "__main__":  # a mistyped NOW is refused now, not after importing Prefect
    script_now(sys.argv)

from _shared import retention_flow, run_script

event_retention, drop_expired_events = retention_flow(
    __name__,
    "events",
    """Drop expired event hour partitions (ended retention.events, 48 h, before now), plus quarantine
    (30 d), alerts (90 d) and counter state (2 h). Every period is a setting (retention.*).""",
    "Drop event hour partitions that ended the events retention (48 h) or more before `now`, "
    "tombstoning them.")

if __name__ == "__main__":
    run_script(event_retention, sys.argv)
