"""The event files this host's landings wrote into a lake on an object store (contract §5, §13).

The embedded counter store of a lake on an object store is a local SQLite file
(`storage.local_state_dir`): it counts only the events landed through it. Another host (or a
process of this one with another `VOICE_MONITOR_STATE_DIR` or `HOME`) landing into the same lake
counts in a store of its own, so a read of this one missed its events without a word (three
processes gave 5, 1 and 6 of 6 events). So each event file a landing writes there is noted
beside the store, in `landed/<date>T<hour>.txt` (one name a line, appended), and a real-time
read lists the window's hour folders (one LIST each, one or two): a file no landing through this
store wrote means the store does not hold the whole window, and the read counts the window from
the lake's files instead (`uncounted.count` answers False; lake_window.py). Exact, not O(1):
several hosts landing into one lake should share counters in Redis (VOICE_MONITOR_COUNTERS).

A lake in a local folder keeps its store in the lake itself, shared by every process that lands
there: nothing is noted. The notes of an hour go once nothing was added to them for `KEEP`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from voice_monitor.lake import Lake, floor_hour

log = logging.getLogger("voice_monitor.counters")
FOLDER = "landed"
KEEP = timedelta(hours=3)  # longer than any real-time window reaches back (2 hours of state)
_warned: set[str] = set()  # lakes whose fallback was logged (once a process)


def _notes(lake: Lake, date: str, hour: str) -> Path:
    return lake.local_state_dir / FOLDER / f"{date}T{hour}.txt"


def record(lake: Lake, folder: Any, name: str) -> None:
    """Note that this host writes the event file `name` into the hour `folder` (a lake on an
    object store; `Lake.write_file`, before its PUT: a name noted for a PUT that then failed
    names no file). Never raises: an unnoted file only makes reads of its window count from
    the lake's files."""
    date, hour = folder.parent.name.partition("=")[2], folder.name.partition("=")[2]
    path = _notes(lake, date, hour)
    line = (name + "\n").encode()
    try:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)  # one write of a short line: appends never interleave
            first = os.fstat(fd).st_size == len(line)
        finally:
            os.close(fd)
        if first:  # a new hour's notes: those no landing added to for KEEP go
            _prune(path.parent)
    except OSError as exc:
        log.warning("could not note the event file %s as landed by this host at %s (%s); "
                    "real-time reads of its hour count from the lake's files", name, path, exc)


def _prune(folder: Path) -> None:
    cut = time.time() - KEEP.total_seconds()
    for entry in os.scandir(folder):
        with contextlib.suppress(OSError):
            if entry.name.endswith(".txt") and entry.stat().st_mtime < cut:
                os.unlink(entry.path)


def landed_elsewhere(lake: Lake, start: datetime, now: datetime) -> list[str]:
    """The event files of the hours from `start` to `now` that no landing through this host's
    store wrote (another host's, another state folder's), [] if none or the lake is local."""
    if not lake.remote:
        return []
    strangers: list[str] = []
    for hour in sorted({floor_hour(start), floor_hour(now)}):
        files = lake.event_files(hour)
        if not files:
            continue
        try:
            own = set(_notes(lake, f"{hour:%Y-%m-%d}", f"{hour:%H}").read_text().split("\n"))
        except (FileNotFoundError, NotADirectoryError, UnicodeDecodeError):
            own = set()
        strangers += [str(f) for f in files if f.name not in own]
    if strangers and str(lake.root) not in _warned:
        _warned.add(str(lake.root))
        log.warning("real-time counts of %s are read from the lake's files: %d event file(s) of "
                    "the window (%s) were landed by another host, or with another "
                    "VOICE_MONITOR_STATE_DIR, whose counts this host's store does not hold; set "
                    "VOICE_MONITOR_COUNTERS=redis://host:port/db on every host for shared, O(1) "
                    "counts", lake.root, len(strangers), strangers[0])
    return strangers
