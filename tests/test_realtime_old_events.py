"""Events landed long after their time are in the real-time window when asked about that time.

The counters count an event only when it lands within 2 hours of its `timestamp`; a file of
February events ingested in December without `--now` is in the lake but in no counter, and
`metrics realtime --now <February>` answered zeros (contract §5: consistent with what has
landed). A window the counters hold nothing for is now counted from the lake's files.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from conftest import event, run_main, use_counter_store

from voice_monitor import counters
from voice_monitor.landing import land_records


def at(hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2026, 2, 16, hour, minute, second, tzinfo=UTC)


def test_old_events_ingested_without_now_are_counted_for_their_window(lake, tmp_path, capsys):
    received = event("artifact_received", at(14, 0), organization_id="org-a")
    records = [
        received, dict(received),  # a copy: counted once
        event("artifact_received", at(13, 45), organization_id="org-b"),
        event("artifact_failed", at(14, 10), organization_id="org-a"),
        event("transcription_failed", at(14, 20), organization_id="org-b"),
        event("entity_needs_disambiguation", at(14, 5)),  # no organization: platform only
        event("transcription_started", at(14, 6), organization_id="org-a"),  # counts nowhere
        event("drafts_generated", at(13, 30, 59), organization_id="org-a"),  # before 13:31
        event("artifact_completed", at(14, 30, 1), organization_id="org-a"),  # after now
    ]
    path = tmp_path / "february.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    code, _, err = run_main(capsys, "ingest", str(path), "--lake", str(lake.root))  # clock's now
    assert (code, err) == (0, "")

    def realtime(*org: str) -> dict:
        code, out, err = run_main(capsys, "metrics", "realtime", "--lake", str(lake.root),
                                  "--now", "2026-02-16T14:30:00Z", "--json", *org)
        assert (code, err) == (0, "")
        return json.loads(out)

    zero = dict.fromkeys(counters.METRICS, 0)
    platform = realtime()
    assert {m: platform[m] for m in counters.METRICS} == {
        **zero, "artifacts_received": 2, "artifacts_failed": 1, "failures": 2,
        "entities_resolved": 1}
    org_a = realtime("--org", "org-a")
    assert {m: org_a[m] for m in counters.METRICS} == {
        **zero, "artifacts_received": 1, "artifacts_failed": 1, "failures": 1}
    org_b = realtime("--org", "org-b")
    assert {m: org_b[m] for m in counters.METRICS} == {
        **zero, "artifacts_received": 1, "failures": 1}
    # the library call, the API's and the CLI's read, gives the same
    direct = counters.realtime_metrics(lake, now=at(14, 30))
    assert {m: direct[m] for m in counters.METRICS} == {m: platform[m] for m in counters.METRICS}
    # at 15:29:30 the window starts at 14:30:00: of org-a's events only the completion is in it
    later = counters.realtime_metrics(lake, "org-a", now=at(15, 29, 30))
    assert {m: later[m] for m in counters.METRICS} == {**zero, "artifacts_completed": 1}


@pytest.fixture(params=["sqlite", "redis"])
def store_kind(request, monkeypatch) -> str:
    return use_counter_store(request.param, request, monkeypatch)


def _received(lake, *org: str) -> int:
    return counters.realtime_metrics(lake, *org, now=at(14, 30))["artifacts_received"]


def test_a_past_window_the_counters_pruned_in_part_is_counted_from_the_lake(lake, store_kind):
    """A read at a `now` in the past (`metrics realtime --now`, a health check run that started
    late) after a later landing: that landing's now keeps counter state for 2 hours before it,
    so the counters hold only the window's later minutes. They answered those as the window."""
    land_records(lake, [event("artifact_received", at(13, 40), organization_id="org-a")
                        for _ in range(6)]
                 + [event("artifact_received", at(14, 20)) for _ in range(4)], now=at(14, 30))
    assert (_received(lake), _received(lake, "org-a")) == (10, 6)
    # 16:00 keeps what is stamped from 14:00 on: 13:40 is gone from the counters
    land_records(lake, [event("artifact_received", at(16, 0))], now=at(16, 0))
    # the window [13:31, 14:30] holds the 6 events of 13:40 (org-a) and the 4 of 14:20
    assert (_received(lake), _received(lake, "org-a")) == (10, 6)


def test_a_past_window_a_later_landing_left_out_in_part_is_counted_from_the_lake(lake, store_kind):
    """Events landed more than 2 hours after their time count nothing in the counters; when the
    window also holds counted events, the counters' answer was short of them (on Redis too,
    which kept no horizon: 4)."""
    land_records(lake, [event("artifact_received", at(14, 20)) for _ in range(4)],
                 now=at(14, 30))
    # landed at 16:00, stamped 13:45: in the lake, in no counter
    land_records(lake, [event("artifact_received", at(13, 45)) for _ in range(3)],
                 now=at(16, 0))
    assert _received(lake) == 7


def test_an_idle_organization_on_a_live_store_is_read_without_a_scan(lake, monkeypatch):
    """The counters counted the window (the platform has events in it): an organization with
    none is zero from the store, an O(1) read (contract §5), not a scan of the window's hour
    files at every poll of a dashboard."""
    land_records(lake, [event("artifact_received", at(14, 20), organization_id="org-a")
                        for _ in range(3)], now=at(14, 30))

    def scan(*args, **kwargs):
        raise AssertionError("the window's files were read for an idle organization")

    monkeypatch.setattr("voice_monitor.lake_window.scope_counts", scan)
    assert (_received(lake), _received(lake, "org-a"), _received(lake, "org-idle")) == (3, 3, 0)
