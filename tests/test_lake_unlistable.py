"""A lake folder this user may not list (no read permission) is named by `lake check`.

`lake check` walked the data folders with rglob, which skips a folder it cannot list without a
word: it said "0 unreadable" (exit 0) while an hour of events was read by no command (`sql`
counted 0 rows for it). Run as `nobody`, since root ignores permissions.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from conftest import as_nobody, event, give_to_nobody

from voice_monitor.lake import Lake
from voice_monitor.landing import land_records


def test_a_folder_this_user_cannot_list_fails_lake_check_naming_it(nobodys_folder):
    lake = Lake.create(nobodys_folder / "lake")
    now = datetime(2026, 2, 16, 14, 30, tzinfo=UTC)
    land_records(lake, [event("artifact_received", datetime(2026, 2, 16, h, 5, tzinfo=UTC))
                        for h in (12, 13)], now=now)
    give_to_nobody(nobodys_folder)
    closed = lake.root / "events" / "date=2026-02-16" / "hour=12"
    closed.chmod(0o000)

    done = as_nobody("lake", "check", "--json", "--lake", str(lake.root))
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["unlistable"] == [
        {"path": "events/date=2026-02-16/hour=12", "error": "Permission denied"}]
    (line,) = done.stderr.strip().splitlines()
    assert line == ("voice-monitor: error: 1 lake folder(s) this user cannot list, first "
                    "events/date=2026-02-16/hour=12 (Permission denied); give this user read "
                    f"access (chmod -R u+rX {closed}, or run as the lake's owner)"), line

    done = as_nobody("lake", "check", "--move-aside", "--lake", str(lake.root))
    assert done.returncode == 1 and closed.is_dir()  # access is the fix: never moved
    closed.chmod(0o755)
    done = as_nobody("lake", "check", "--lake", str(lake.root))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "checked 2 file(s): 0 unreadable"
