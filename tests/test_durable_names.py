"""A landing answers only once the names of its new files are durable, not only their bytes:
every folder a rename or a new folder changed is fsync'd before `land_records` returns (a power
loss could otherwise forget a file that was acknowledged)."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime

import pytest

from voice_monitor.lake import Lake, sync_folders
from voice_monitor.landing import land_records

NOW = datetime(2026, 2, 16, 14, 30, tzinfo=UTC)


def good(event_id: str, at: str = "2026-02-16T14:05:00Z") -> dict:
    return {"event_id": event_id, "event_type": "artifact_received", "timestamp": at}


@pytest.fixture
def synced(monkeypatch) -> list[int]:
    """Inodes of the folders fsync'd (files are left out: their bytes are synced anyway)."""
    folders: list[int] = []
    guard = threading.Lock()
    real = os.fsync

    def fsync(fd: int) -> None:
        stat = os.fstat(fd)
        if os.path.stat.S_ISDIR(stat.st_mode):
            with guard:
                folders.append(stat.st_ino)
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return folders


def inodes(*folders) -> set[int]:
    return {os.stat(f).st_ino for f in folders}


def test_a_first_landing_syncs_every_folder_it_made_or_renamed_into(lake: Lake, synced):
    result = land_records(lake, [good("a"), good("b", "2026-02-16T15:01:00Z"), {"event_id": "c"}],
                          now=NOW.replace(hour=15, minute=10))
    assert (result.accepted, result.quarantined) == (2, 1)
    events = lake.root / "events"
    day = events / "date=2026-02-16"
    quarantine = lake.root / "quarantine"
    # by hand: two new hour folders under a new day folder under events/, and a new day folder
    # of quarantine holding the reject
    expected = inodes(events, day, day / "hour=14", day / "hour=15",
                      quarantine, quarantine / "date=2026-02-16")
    assert expected <= set(synced)


def test_a_landing_into_an_existing_hour_syncs_it_and_the_folders_above(lake: Lake, synced):
    land_records(lake, [good("a")], now=NOW)
    synced.clear()
    land_records(lake, [good("b")], now=NOW)
    events = lake.root / "events"
    # the hour, and its day and events/ too: another landing, in another hour and so under
    # another lock, may have made the day folder and not synced events/ yet when this answers
    assert inodes(events, events / "date=2026-02-16", events / "date=2026-02-16" / "hour=14") \
        <= set(synced)
    assert lake.root.stat().st_ino not in synced  # nothing above events/ is this landing's


def test_folders_synced_side_by_side_are_each_synced_and_a_failure_is_raised(tmp_path, monkeypatch):
    folders = [tmp_path / name for name in ("a", "b", "c", "d")]
    for folder in folders:
        folder.mkdir()
    bad = os.stat(folders[1]).st_ino
    synced: list[int] = []
    guard = threading.Lock()

    def fsync(fd: int) -> None:
        inode = os.fstat(fd).st_ino
        if inode == bad:
            raise OSError(5, "Input/output error (b)")
        with guard:
            synced.append(inode)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(OSError, match=r"\(b\)"):
        sync_folders([*folders, folders[0]])  # a folder named twice is synced once
    assert sorted(synced) == sorted(inodes(folders[0], folders[2], folders[3]))
    synced.clear()
    sync_folders(folders[2:])
    assert sorted(synced) == sorted(inodes(*folders[2:]))
