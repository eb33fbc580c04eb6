"""The duplicate index skips listing an hour's folder when the hour's lock still holds the
stamp this process left there (`hour_locks.Held`): no one else has landed or compacted there
since. Whenever anyone else has held the lock, the folder is listed and the count stays exact."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta

from voice_monitor import dup_index
from voice_monitor.compaction import compact_hour
from voice_monitor.hour_locks import hour_locks
from voice_monitor.lake import Lake
from voice_monitor.landing import land_records

NOW = datetime(2026, 2, 16, 14, 30, tzinfo=UTC)
H14 = datetime(2026, 2, 16, 14, tzinfo=UTC)


def rec(event_id: str, at: datetime = H14 + timedelta(minutes=5)) -> dict:
    return {"event_id": event_id, "event_type": "artifact_received",
            "timestamp": at.strftime("%Y-%m-%dT%H:%M:%SZ")}


def _count_listings(monkeypatch) -> list:
    calls = []
    real = dup_index._listing

    def listing(lake, hour_us):
        calls.append(hour_us)
        return real(lake, hour_us)

    monkeypatch.setattr(dup_index, "_listing", listing)
    return calls


LANDER = textwrap.dedent("""
    import sys
    from datetime import UTC, datetime
    from voice_monitor.lake import Lake
    from voice_monitor.landing import land_records
    ids = sys.argv[2].split(",")
    records = [{"event_id": i, "event_type": "artifact_received",
                "timestamp": "2026-02-16T14:05:00Z"} for i in ids]
    print(land_records(Lake(sys.argv[1]), records, now=datetime(2026, 2, 16, 14, 30, tzinfo=UTC)).duplicates)
""")


def test_listing_is_skipped_until_another_process_lands_in_the_hour(lake: Lake, monkeypatch):
    listings = _count_listings(monkeypatch)
    assert land_records(lake, [rec("a"), rec("b")], now=NOW).duplicates == 0
    assert len(listings) == 1  # a new index: the folder is listed once
    assert land_records(lake, [rec("c"), rec("a")], now=NOW).duplicates == 1
    # only this process held the lock since: no listing for the check (one to confirm "a")
    assert len(listings) == 2
    assert land_records(lake, [rec("d")], now=NOW).duplicates == 0
    assert len(listings) == 2  # nothing to confirm, nothing listed
    # another process lands "x" and a copy of "b" (a duplicate there)
    other = subprocess.run([sys.executable, "-c", LANDER, str(lake.root), "x,b"],
                           capture_output=True, text=True, timeout=120, check=True)
    assert other.stdout.strip() == "1"
    # its stamp is on the lock: this process lists, finds its file, and counts "x" a copy
    assert land_records(lake, [rec("x"), rec("y")], now=NOW).duplicates == 1
    assert len(listings) == 4  # one to bring the index up to date, one to confirm "x"


def test_a_compaction_in_this_process_makes_the_next_landing_list(lake: Lake, monkeypatch):
    land_records(lake, [rec("a"), rec("b")], now=NOW)
    land_records(lake, [rec("c")], now=NOW)
    assert compact_hour(lake, H14) == 2  # the two files become one, under the hour's lock
    listings = _count_listings(monkeypatch)
    # by hand: a, b and c are in the compacted file; d is new
    assert land_records(lake, [rec("a"), rec("b"), rec("c"), rec("d")], now=NOW).duplicates == 3
    # listed twice: once to rebuild the index from the compacted file, once to confirm a, b, c
    assert len(listings) == 2


def test_each_holder_stamps_the_lock_anew(lake: Lake):
    with hour_locks(lake, [H14]) as first:
        pass
    with hour_locks(lake, [H14]) as second:
        pass
    assert len(first.mine(H14)) == 8
    assert second.found(H14) == first.mine(H14)  # found as the first left it
    assert second.mine(H14) != first.mine(H14)  # and stamped anew
