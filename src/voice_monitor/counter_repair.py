"""A damaged embedded counter store, found by `lake check` and rebuilt from the lake.

The real-time counters hold nothing the lake does not: every event they count is landed first
(contract §5). A `state/counters.sqlite` that SQLite cannot read (a disk that filled mid-write,
a bad copy, a crash on a file system that lies about fsync) stops every landing, with the fix
named. Moving it aside by hand left the window short: a new store counted from the next landing
only and, having seen that landing, vouched for the whole window, so `metrics realtime` said 1
while 4 had landed in the hour. `lake check --move-aside` instead moves it to `corrupt/` like an
unreadable lake file and counts, in a new store, the lake's events of the store's horizon
(`counters.STATE_TTL`), as a starting collector does (server/catch_up.py).
"""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from voice_monitor.lake import Lake

STORE_NAME = "counters.sqlite"
# SQLite's files beside the store: moved with it (a WAL of the damaged store belongs to it)
COMPANIONS = ("-wal", "-shm", "-journal")


def store_path(lake: Lake) -> Path:
    """The embedded store's file (in `state/`, or a remote lake's local state folder)."""
    return lake.local_state_dir / STORE_NAME


def store_problem(lake: Lake) -> str | None:
    """Why the lake's embedded counter store cannot be read (SQLite's own check of every page
    and index, `pragma quick_check`), or None: also when there is none yet. Opened read-only:
    a check never writes to it."""
    path = store_path(lake)
    if not os.path.lexists(path):
        return None
    if not path.is_file():
        return "not a file"
    try:
        con = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True)
        try:
            rows = con.execute("pragma quick_check").fetchall()
        finally:
            con.close()
    except sqlite3.OperationalError:
        # locked, a full disk (no room for its -shm), unreadable to this user: no verdict on
        # the file, and a landing names what is wrong
        return None
    except sqlite3.DatabaseError as exc:  # "file is not a database", "malformed"
        return f"{type(exc).__name__}: {exc}"
    if rows != [("ok",)]:
        return "sqlite quick_check: " + "; ".join(str(row[0]) for row in rows[:3])
    return None


def rebuild(lake: Lake, now: datetime) -> int:
    """Count the lake's events of the last `STATE_TTL` before `now` in the embedded store (a
    new one, once the damaged one is moved aside); how many of them feed a metric."""
    from voice_monitor.counter_refill import landed_since
    from voice_monitor.counters import STATE_TTL, open_counters

    events = landed_since(lake, now - STATE_TTL, now)
    if not events.num_rows:
        return 0  # nothing to count: no store made just for that
    store = open_counters(lake, url="")  # the embedded store, whatever else is configured
    try:
        return store.record(events, now)
    finally:
        store.close()


def companions(lake: Lake) -> list[Path]:
    """SQLite's files beside the store that exist (moved aside with it)."""
    path = store_path(lake)
    return [Path(f"{path}{end}") for end in COMPANIONS if os.path.lexists(f"{path}{end}")]
