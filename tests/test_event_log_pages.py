"""recent_events keeps its last pages while the files they were read from are the same, and reads
again as soon as a file is added to (or removed from) an hour it read, or a newer hour appears."""

from __future__ import annotations

from datetime import UTC, datetime

from conftest import NOW, event

from voice_monitor import event_log
from voice_monitor.compaction import compact_hour
from voice_monitor.landing import land_records
from voice_monitor.queries import recent_events


def at(hh: int, mm: int) -> datetime:
    return datetime(2026, 2, 16, hh, mm, tzinfo=UTC)


def ids(page) -> list[str]:
    return page.rows["event_id"].to_list()


def test_a_page_is_kept_until_its_hours_files_change(lake, monkeypatch):
    queried: list[int] = []
    real = event_log._newest
    monkeypatch.setattr(event_log, "_newest",
                        lambda con, params, wanted: queried.append(wanted) or real(con, params, wanted))
    land_records(lake, [event("artifact_received", at(11, m), event_id=f"old-{m}") for m in (1, 2)],
                 now=NOW)
    land_records(lake, [event("artifact_received", at(13, m), event_id=f"new-{m}") for m in (1, 2)],
                 now=NOW)
    # limit 2: the newest hour (13:00) fills the page and one more row is looked for in 11:00
    assert ids(recent_events(lake, limit=2)) == ["new-2", "new-1"]
    asked = len(queried)
    assert asked >= 1
    assert ids(recent_events(lake, limit=2)) == ["new-2", "new-1"] and len(queried) == asked
    assert ids(recent_events(lake, limit=3)) == ["new-2", "new-1", "old-2"]  # another question
    asked = len(queried)

    # a late event in 13:00 (a new file there): read again
    land_records(lake, [event("artifact_received", at(13, 30), event_id="late")], now=NOW)
    assert ids(recent_events(lake, limit=3)) == ["late", "new-2", "new-1"] and len(queried) > asked
    asked = len(queried)
    # a newer hour: read again
    land_records(lake, [event("artifact_received", at(14, 5), event_id="newest")], now=NOW)
    assert ids(recent_events(lake, limit=3)) == ["newest", "late", "new-2"] and len(queried) > asked
    asked = len(queried)
    assert ids(recent_events(lake, limit=3)) == ["newest", "late", "new-2"] and len(queried) == asked
    # 13:00 compacted (its two files replaced by one): read again, same answer
    assert compact_hour(lake, at(13, 0)) == 2
    assert ids(recent_events(lake, limit=3)) == ["newest", "late", "new-2"] and len(queried) > asked


def test_a_page_that_read_every_hour_is_read_again_when_an_older_hour_appears(lake):
    land_records(lake, [event("artifact_received", at(13, 1), event_id="a")], now=NOW)
    assert ids(recent_events(lake, limit=5)) == ["a"]  # not full: every hour was read
    land_records(lake, [event("artifact_received", at(9, 1), event_id="late-old")], now=NOW)
    assert ids(recent_events(lake, limit=5)) == ["a", "late-old"]
