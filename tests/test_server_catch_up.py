"""A server killed between answering and counting: the next one's counting thread counts the
landed events it finds within the store's horizon, once, and nothing else."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from conftest import event

from voice_monitor import counters
from voice_monitor.landing import land_batches
from voice_monitor.server.counting import Counting


def _land_uncounted(lake, records: list[dict], now: datetime) -> None:
    """Landed and answered, never counted: what a server killed after its answers leaves."""
    land_batches(lake, [[json.dumps(r) for r in records]], ["killed"], now=now,
                 count=lambda events, now: None)


def test_a_new_counting_thread_counts_what_the_lake_holds_uncounted(lake):
    now = datetime.now(UTC)
    recent, old = now - timedelta(minutes=10), now - timedelta(hours=3)
    _land_uncounted(lake, [
        *[event("artifact_received", recent, event_id=f"r-{i}", organization_id="org-a")
          for i in range(7)],
        event("artifact_received", recent, event_id="r-0", organization_id="org-a"),  # a copy
        *[event("artifact_failed", recent, event_id=f"f-{i}") for i in range(3)],  # no org
        *[event("artifact_received", old, event_id=f"o-{i}") for i in range(5)],  # too old
    ], now)
    assert counters.realtime_metrics(lake, now=now)["artifacts_received"] == 0

    for _ in range(2):  # a second restart finds everything counted already
        work = Counting(lake)
        try:
            assert work.settle(timeout=60)
        finally:
            work.close()
        read = datetime.now(UTC)
        platform = counters.realtime_metrics(lake, now=read)
        assert (platform["artifacts_received"], platform["artifacts_failed"]) == (7, 3)
        assert counters.realtime_metrics(lake, "org-a", now=read)["artifacts_received"] == 7


def test_catching_up_on_an_empty_lake_counts_nothing(lake):
    work = Counting(lake)
    try:
        assert work.settle(timeout=60)
    finally:
        work.close()
    assert counters.realtime_metrics(lake)["artifacts_received"] == 0
