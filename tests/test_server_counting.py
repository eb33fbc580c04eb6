"""The collector's counting thread: landed events reach the real-time counters after the answer,
readers wait for them (`settle`), a failing store is tried again, and closing counts the rest."""

from __future__ import annotations

import json
import threading

from conftest import NOW, event

from voice_monitor import counters
from voice_monitor.landing import land_batches
from voice_monitor.server import counting
from voice_monitor.server.collector import Collector
from voice_monitor.server.counting import Counting


def _batch(prefix: str, n: int) -> list[str]:
    return [json.dumps(event("artifact_received", NOW, event_id=f"{prefix}-{i}",
                             organization_id="org-a")) for i in range(n)]


def _received(lake) -> int:
    return counters.realtime_metrics(lake, now=NOW)["artifacts_received"]


def _store_with(monkeypatch, record) -> None:
    """The counting thread's store is the real one, its `record` wrapped: `record(real, events,
    now)` decides when (or whether) the real one is called."""

    class Wrapped:
        def __init__(self, real):
            self.real = real

        def record(self, events, now):
            return record(self.real.record, events, now)

        def close(self):
            self.real.close()

    monkeypatch.setattr(counting, "open_counters",
                        lambda lake: Wrapped(counters.open_counters(lake)))


def test_settle_waits_for_the_counts_handed_over(lake, monkeypatch):
    release = threading.Event()

    def held_record(real, events, now):  # the store is slow: the count waits for `release`
        release.wait(30)
        return real(events, now)

    _store_with(monkeypatch, held_record)
    work = Counting(lake)
    try:
        land_batches(lake, [_batch("a", 30), _batch("b", 20)], ["s", "s"], now=NOW,
                     count=work.add)
        assert _received(lake) == 0  # landed, not counted yet
        assert work.settle(timeout=0.2) is False
        release.set()
        assert work.settle(timeout=60) is True
        assert _received(lake) == 50
    finally:
        release.set()
        work.close()


def test_a_failing_store_is_tried_again_then_given_up(lake, monkeypatch, caplog):
    monkeypatch.setattr(counting, "ATTEMPTS", 3)
    failures = {"left": 2}

    def flaky(real, events, now):
        if failures["left"]:
            failures["left"] -= 1
            raise OSError("disk full")
        return real(events, now)

    _store_with(monkeypatch, flaky)
    work = Counting(lake)
    try:
        land_batches(lake, [_batch("c", 10)], ["s"], now=NOW, count=work.add)
        assert work.settle(timeout=60)
        assert _received(lake) == 10 and work.given_up == 0  # third try counted

        failures["left"] = 3  # every try of the next landing fails
        land_batches(lake, [_batch("d", 7)], ["s"], now=NOW, count=work.add)
        assert work.settle(timeout=60)
        assert _received(lake) == 10 and work.given_up == 7
        assert "missed 7 landed events" in caplog.text
    finally:
        work.close()


def test_closing_the_collector_counts_what_was_landed(lake, monkeypatch):
    release = threading.Event()

    def held_record(real, events, now):
        release.wait(30)
        return real(events, now)

    _store_with(monkeypatch, held_record)
    collector = Collector(lake)
    land_batches(lake, [_batch("e", 25)], ["s"], now=NOW, count=collector.counting.add)
    release.set()
    collector.close()  # waits for the count
    assert _received(lake) == 25
