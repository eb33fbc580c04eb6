"""The real-time window counted from the lake's event files, for a window the counters cannot
vouch for.

The counters count an event only when it lands within 2 hours of its time (contract §7: counter
state lives 2 h), so events landed later than that — an old file given to `ingest` without
`--now`, a backfill, a counter store moved aside — are in the lake but in no counter. When the
counters hold nothing for a window, `realtime_metrics` and the failure-rate check ask here: the
window's events (every landed event once, first landed wins, as everywhere else) counted by the
same metric rules. The cost is a read of the window's one or two hour partitions, not of the
lake.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb

from voice_monitor.counters import METRIC_OF, METRICS
from voice_monitor.integrity import retrying
from voice_monitor.lake import Lake
from voice_monitor.views import with_sources

_HOUR = timedelta(hours=1)


def scope_counts(lake: Lake, start: datetime, now: datetime, organization_id: str | None = None,
                 ) -> dict[str | None, dict[str, int]] | None:
    """Each metric's count over the events with `start <= timestamp <= now`: the platform's
    (key None, every event) and each organization's with an event there (only
    `organization_id`'s when given), from the files of the hours the window touches; None when
    a file cannot be read (the counters' answer stands; `lake check` names the file)."""
    totals: dict[str | None, dict[str, int]] = {None: dict.fromkeys(METRICS, 0)}
    only = "" if organization_id is None else " and organization_id = $org"
    params = {"start": start, "now": now,
              **({} if organization_id is None else {"org": organization_id})}

    def read() -> list[tuple]:
        hour, files = start.replace(minute=0, second=0, microsecond=0), []
        while hour <= now:
            files += lake.event_files(hour)
            hour += _HOUR
        if not files:
            return []
        return with_sources(raw_events=files).execute(
            "select organization_id, event_type, count(*) from events where timestamp >= $start"
            f" and timestamp <= $now{only} group by all", params).fetchall()

    try:
        # listed again when retention (or compaction) took a listed file before it was read
        rows = retrying(lake, read)
    except (duckdb.Error, OSError):
        return None
    for org, event_type, n in rows:
        for metric in METRIC_OF.get(event_type, ()):
            totals[None][metric] += n
            if org is not None:
                totals.setdefault(org, dict.fromkeys(METRICS, 0))[metric] += n
    return totals
