"""A process killed between landing and counting: the next collector counts the landed events it
finds within the counters' horizon, once, and nothing else."""

from __future__ import annotations

import json
import threading
from contextlib import closing
from datetime import UTC, datetime, timedelta

from conftest import event

from voice_monitor import counters
from voice_monitor.landing import land_batches
from voice_monitor.server import catch_up as catch_up_module
from voice_monitor.server.catch_up import catch_up
from voice_monitor.server.group_commit import Collector


class _Killed:
    """A counter store that never counts: the process died after writing the files."""

    def prepare(self, events, now) -> None:
        return None

    def commit(self, prepared) -> int:
        return 0

    def close(self) -> None:
        pass


def _land_uncounted(lake, records: list[dict], now: datetime) -> None:
    land_batches(lake, [[json.dumps(r) for r in records]], ["killed"], now=now, counters=_Killed())


def _counts(lake) -> tuple[int, int, int]:
    """What the counter store holds (given the store: a window it holds nothing for would
    otherwise be counted from the lake)."""
    now = datetime.now(UTC)
    with closing(counters.open_counters(lake)) as store:
        platform = counters.realtime_metrics(lake, now=now, store=store)
        org = counters.realtime_metrics(lake, "org-a", now=now, store=store)
    return platform["artifacts_received"], platform["artifacts_failed"], org["artifacts_received"]


def test_a_starting_collector_counts_what_the_lake_holds_uncounted(lake):
    now = datetime.now(UTC)
    recent, old = now - timedelta(minutes=10), now - timedelta(hours=3)
    _land_uncounted(lake, [
        *[event("artifact_received", recent, event_id=f"r-{i}", organization_id="org-a")
          for i in range(7)],
        event("artifact_received", recent, event_id="r-0", organization_id="org-a"),  # a copy
        *[event("artifact_failed", recent, event_id=f"f-{i}") for i in range(3)],  # no org
        *[event("artifact_received", old, event_id=f"o-{i}") for i in range(5)],  # too old
    ], now)
    assert _counts(lake) == (0, 0, 0)

    collector = Collector(lake)
    collector.close()  # waits for the catch-up
    assert _counts(lake) == (7, 3, 7)
    assert catch_up(lake) == 0  # a second start finds everything counted
    assert _counts(lake) == (7, 3, 7)


def test_events_counted_when_landed_are_not_counted_again(lake):
    now = datetime.now(UTC)
    land_batches(lake, [[json.dumps(event("artifact_received", now - timedelta(minutes=1),
                                          organization_id="org-a")) for _ in range(4)]],
                 ["live"], now=now)
    assert _counts(lake) == (4, 0, 4)
    assert catch_up(lake) == 0
    assert _counts(lake) == (4, 0, 4)


def test_catching_up_on_an_empty_lake_counts_nothing(lake):
    assert catch_up(lake) == 0
    assert _counts(lake) == (0, 0, 0)


def test_a_counted_copy_of_an_uncounted_event_is_not_caught_up(lake):
    """The lake keeps the first landed copy (a retry): its later copy as a received artifact is
    not an event, whatever order the files are read in."""
    now = datetime.now(UTC)
    at = now - timedelta(minutes=5)
    _land_uncounted(lake, [event("retry_initiated", at, event_id="same", organization_id="org-a")],
                    now)
    _land_uncounted(lake, [event("artifact_received", at, event_id="same",
                                 organization_id="org-a"),
                           event("artifact_received", at, event_id="other")], now)
    assert catch_up(lake) == 1
    assert _counts(lake) == (1, 0, 0)


def test_a_stopping_server_stops_catching_up_after_the_chunk_it_is_counting(lake, monkeypatch):
    # a busy lake's catch-up takes seconds per million events; a server stopped meanwhile
    # waited for all of it (its close() joined the catch-up without a limit)
    now = datetime.now(UTC)
    recent = now - timedelta(minutes=10)
    _land_uncounted(lake, [event("artifact_received", recent, event_id=f"r-{i}")
                           for i in range(7)], now)
    monkeypatch.setattr(catch_up_module, "CHUNK_ROWS", 3)
    stop = threading.Event()
    real = counters.open_counters

    def store_stopped_at_its_first_count(lake):
        store = real(lake)
        record = store.record

        def recorded(events, now):
            stop.set()  # the server is told to stop while the first chunk is counted
            return record(events, now)

        store.record = recorded
        return store

    monkeypatch.setattr(catch_up_module, "open_counters", store_stopped_at_its_first_count)
    assert catch_up(lake, stop=stop) == 3  # the first chunk of 3, and no more
    assert _counts(lake)[0] == 3
    monkeypatch.setattr(catch_up_module, "open_counters", real)
    assert catch_up(lake) == 4  # the next start counts the rest, in chunks of 3
    assert _counts(lake)[0] == 7


def test_closing_a_collector_stops_its_catch_up_after_the_chunk_it_is_counting(lake, monkeypatch):
    now = datetime.now(UTC)
    _land_uncounted(lake, [event("artifact_received", now - timedelta(minutes=10),
                                 event_id=f"r-{i}") for i in range(7)], now)
    monkeypatch.setattr(catch_up_module, "CHUNK_ROWS", 3)
    counting, gate = threading.Event(), threading.Event()
    real = counters.open_counters

    def store_held_at_its_first_count(lake):
        store = real(lake)
        record = store.record

        def recorded(events, now):
            if not counting.is_set():
                counting.set()
                gate.wait(60)  # the first chunk is being counted while the server stops
            return record(events, now)

        store.record = recorded
        return store

    monkeypatch.setattr(catch_up_module, "open_counters", store_held_at_its_first_count)
    collector = Collector(lake)
    assert counting.wait(60)
    closer = threading.Thread(target=collector.close)
    closer.start()
    assert collector._closing.wait(60)  # (close() waits for the catch-up's chunk from here)
    gate.set()
    closer.join(60)
    assert not closer.is_alive()
    assert _counts(lake)[0] == 3


def _remove_store(lake) -> None:
    for path in (lake.root / "state").glob("counters.sqlite*"):
        path.unlink()


def _scans_fail(monkeypatch) -> None:
    """A read that goes to the lake's event files fails the test (it would answer the same
    counts: only slower, for an hour)."""
    from voice_monitor import lake_window

    def scanned(*args, **kwargs):
        raise AssertionError("the real-time read scanned the lake's event files")

    monkeypatch.setattr(lake_window, "scope_counts", scanned)


def test_after_a_catch_up_a_store_made_anew_answers_without_reading_the_lake(lake, monkeypatch):
    """state/counters.sqlite removed by hand on a lake with events: the new store is whole
    only from its making (a5188ae), and the collector's catch-up counted the last 2 hours into
    it without moving that, so every real-time read scanned the window's event files for an
    hour. A complete catch-up now makes the store whole from its own cut-off."""
    now = datetime.now(UTC)
    land_batches(lake, [[json.dumps(event("artifact_received", now - timedelta(minutes=m),
                                          event_id=f"r-{m}", organization_id="org-a"))
                         for m in (5, 20, 50)]], ["live"], now=now)
    _land_uncounted(lake, [event("artifact_failed", now - timedelta(minutes=30),
                                 event_id="f-1")], now)
    _remove_store(lake)
    assert catch_up(lake) == 4  # 3 receipts (org-a) and 1 failure (no organization)
    _scans_fail(monkeypatch)
    platform = counters.realtime_metrics(lake)
    assert (platform["artifacts_received"], platform["artifacts_failed"]) == (3, 1)
    assert counters.realtime_metrics(lake, "org-a")["artifacts_received"] == 3
    # a landing after it counts as ever
    land_batches(lake, [[json.dumps(event("artifact_received", datetime.now(UTC),
                                          event_id="r-new"))]], ["live"])
    assert counters.realtime_metrics(lake)["artifacts_received"] == 4


def test_a_stopped_catch_up_leaves_a_store_made_anew_reading_the_lake(lake, monkeypatch):
    """A catch-up that stopped before its last chunk did not count every event: the store
    still answers only from its making, the lake's files for earlier windows."""
    now = datetime.now(UTC)
    _land_uncounted(lake, [event("artifact_received", now - timedelta(minutes=10),
                                 event_id=f"r-{i}") for i in range(5)], now)
    _remove_store(lake)
    monkeypatch.setattr(catch_up_module, "CHUNK_ROWS", 3)
    stop = threading.Event()
    stop.set()
    assert catch_up(lake, stop=stop) == 3  # the first chunk, then it heard the stop
    with closing(counters.open_counters(lake)) as store:
        assert store.horizon() > now - timedelta(minutes=59)  # still its making
    assert counters.realtime_metrics(lake)["artifacts_received"] == 5  # (from the lake)
