"""A first end-to-end check of landing: values worked out by hand."""

from datetime import timedelta

from conftest import NOW, event

from voice_monitor.landing import land_records


def test_land_splits_accepted_and_quarantined(lake):
    records = [
        event("artifact_received", NOW - timedelta(minutes=5), organization_id="org-1"),
        event("artifact_received", NOW - timedelta(hours=1, minutes=5)),
        {"event_type": "artifact_received"},  # no event_id, no timestamp
    ]
    result = land_records(lake, records, now=NOW)
    assert (result.accepted, result.duplicates, result.quarantined) == (2, 0, 1)
    assert result.partitions == ["events/date=2026-02-16/hour=13", "events/date=2026-02-16/hour=14"]
