"""Property: walking recent_events pages gives exactly the de-duplicated, filtered events,
newest first — checked against a plain-Python model of first-landed-wins."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta

from conftest import NOW, ts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voice_monitor.lake import Lake
from voice_monitor.landing import land_records
from voice_monitor.queries import recent_events

BASE = datetime(2026, 2, 16, 11, tzinfo=UTC)
record = st.fixed_dictionaries({
    "event_id": st.sampled_from([f"e{i}" for i in range(12)]),
    "minute": st.integers(0, 179),  # three hour partitions
    "organization_id": st.sampled_from(["org-1", "org-2", "o'3"]),
    "event_type": st.sampled_from(["artifact_received", "artifact_failed", "retry_initiated"]),
})


def expected(batches, organization_id):
    first: dict[tuple[str, int], dict] = {}
    for batch in batches:  # landing order: batch by batch, row by row
        for r in batch:
            first.setdefault((r["event_id"], r["minute"] // 60), r)
    rows = [r for r in first.values() if r["organization_id"] == organization_id]
    rows.sort(key=lambda r: (r["minute"], r["event_id"]), reverse=True)
    return [(r["event_id"], BASE + timedelta(minutes=r["minute"])) for r in rows]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=st.lists(st.lists(record, min_size=1, max_size=8), min_size=1, max_size=3),
       organization_id=st.sampled_from(["org-1", "o'3"]), limit=st.integers(1, 4))
def test_pages_walk_the_model_exactly(batches, organization_id, limit):
    with tempfile.TemporaryDirectory(prefix="vm-prop-") as root:
        walk_and_check(Lake(root), batches, organization_id, limit)


def walk_and_check(lake, batches, organization_id, limit):
    for batch in batches:
        land_records(lake, [{**{k: v for k, v in r.items() if k != "minute"},
                             "timestamp": ts(BASE + timedelta(minutes=r["minute"]))}
                            for r in batch], now=NOW)
    walked = []
    page = recent_events(lake, organization_id=organization_id, limit=limit)
    walked += page.rows.select("event_id", "timestamp").rows()
    while page.next_cursor:
        page = recent_events(lake, organization_id=organization_id, limit=limit,
                             cursor=page.next_cursor)
        walked += page.rows.select("event_id", "timestamp").rows()
    assert walked == expected(batches, organization_id)
