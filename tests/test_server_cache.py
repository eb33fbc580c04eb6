"""The snapshot cache computes a missing answer once, however many ask for it at the same time."""

from __future__ import annotations

import threading

import pytest

from voice_monitor.server.cache import SnapshotCache


def test_askers_of_an_answer_being_computed_wait_for_it_instead_of_computing_it_again(lake):
    cache = SnapshotCache(lake)
    started, release = threading.Event(), threading.Event()
    computed: list[str] = []

    def slow() -> str:
        computed.append("slow")
        started.set()
        release.wait(60)
        return "chart"

    answers: list[str] = []
    first = threading.Thread(target=lambda: answers.append(cache.get("k", slow)))
    first.start()
    assert started.wait(60)
    others = [threading.Thread(target=lambda: answers.append(
        cache.get("k", lambda: computed.append("again") or "other"))) for _ in range(3)]
    for thread in others:
        thread.start()
    assert cache.get("another key", lambda: "other answer") == "other answer"  # not held up
    release.set()
    for thread in [first, *others]:
        thread.join(60)
    assert answers == ["chart"] * 4
    assert computed == ["slow"]


def test_when_the_computation_fails_the_next_asker_computes(lake):
    cache = SnapshotCache(lake)

    def failing():
        raise RuntimeError("lake unreadable")

    with pytest.raises(RuntimeError, match="lake unreadable"):
        cache.get("k", failing)
    assert cache.get("k", lambda: "drawn") == "drawn"
    assert cache.get("k", failing) == "drawn"  # kept now
