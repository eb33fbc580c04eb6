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

import contextlib
import json
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from voice_monitor.arguments import utc_text
from voice_monitor.lake import Lake, new_file_stem

STORE_NAME = "counters.sqlite"
# SQLite's files beside the store: moved with it (a WAL of the damaged store belongs to it)
COMPANIONS = ("-wal", "-shm", "-journal")
# what holds the store's place while its SQLite files are moved aside (`repair`): no SQLite file
PLACEHOLDER = (b"voice-monitor: this counter store was being rebuilt by `voice-monitor lake check"
               b" --move-aside`, which was stopped; run it again\n")


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


def repair(lake: Lake, now: datetime, reason: str) -> tuple[list[tuple[str, str]], int]:
    """Replace the damaged store with one holding the lake's events of the last `STATE_TTL`
    before `now`; returns (what was moved aside: from, to), how many events feed a metric.

    Killed at any point, the store's place holds the damaged store (found again by the next
    `lake check`) or the rebuilt one, never none: a store made afresh by the next landing
    would vouch for a window it holds only part of. So the new store is built in a temp file
    first, the damaged one is linked under corrupt/ (a second name, no copy), SQLite's files
    beside it (whose WAL would be read into the new store) are moved there, and the new
    store is renamed over it. Before SQLite's files are moved, a placeholder that is no
    SQLite file takes the store's place: killed after the move, the damaged store without its
    WAL could pass `quick_check` (the damage, or the last commits, were in the WAL) and be
    used short of them; the placeholder is found by the next check and landing as unreadable."""
    from voice_monitor import integrity
    from voice_monitor.counter_refill import landed_since
    from voice_monitor.counters import STATE_TTL
    from voice_monitor.sqlite_counters import SQLiteCounterStore

    path = store_path(lake)
    fresh = (lake.writer_tmp_dir() if not lake.remote else path.parent) / (
        f".{STORE_NAME}.rebuilt-{new_file_stem()}")
    placeholder = fresh.with_name(f".{STORE_NAME}.placeholder-{new_file_stem()}")
    try:
        events = landed_since(lake, now - STATE_TTL, now)
        store = SQLiteCounterStore(fresh)
        try:
            counted = store.record(events, now) if events.num_rows else 0
        finally:
            store.close()  # its WAL checkpointed and removed: one file to rename
        for end in COMPANIONS:  # (none left by a clean close; never renamed without it)
            if os.path.lexists(f"{fresh}{end}"):
                raise OSError(f"the rebuilt counter store {fresh} kept its {end} file")
        if lake.remote:  # its store is in a local folder: a second name beside it
            moved = _beside([path], reason, place=os.link)
        else:  # a folder in its place holds no store at all: moved, not linked
            moved = integrity.move_aside(lake, [(path, reason)],
                                         place=os.rename if path.is_dir() else os.link)
        beside = companions(lake)
        if beside:
            placeholder.write_bytes(PLACEHOLDER)
            os.replace(placeholder, path)
            moved += (integrity.move_aside(lake, [(p, reason) for p in beside])
                      if not lake.remote else _beside(beside, reason))
        os.replace(fresh, path)
    finally:
        for leftover in (fresh, placeholder):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
    return moved, counted


def _beside(files: list[Path], reason: str, place=os.rename) -> list[tuple[str, str]]:
    """A remote lake's local store files put at `<name>.corrupt-<stem>` beside themselves,
    each with the `.json` note `integrity.move_aside` writes (the CLI names it)."""
    moved, stem = [], new_file_stem()
    for path in files:
        target = path.with_name(f"{path.name}.corrupt-{stem}")
        note = {"original_path": str(path), "moved_at": utc_text(datetime.now(UTC)),
                "error": reason}
        note_path = target.with_name(target.name + ".json")
        try:
            note_path.write_text(json.dumps(note, indent=2) + "\n")
        except OSError:  # (a full disk): no empty note left, the file stays where it is
            note_path.unlink(missing_ok=True)
            raise
        place(path, target)
        moved.append((str(path), str(target)))
    return moved


def companions(lake: Lake) -> list[Path]:
    """SQLite's files beside the store that exist (moved aside with it)."""
    path = store_path(lake)
    return [Path(f"{path}{end}") for end in COMPANIONS if os.path.lexists(f"{path}{end}")]
