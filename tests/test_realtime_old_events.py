"""Events landed long after their time are in the real-time window when asked about that time.

The counters count an event only when it lands within 2 hours of its `timestamp`; a file of
February events ingested in December without `--now` is in the lake but in no counter, and
`metrics realtime --now <February>` answered zeros (contract §5: consistent with what has
landed). A window the counters hold nothing for is now counted from the lake's files.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from conftest import event, run_main

from voice_monitor import counters


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
