"""The copy log: per event hour, which rows of its files are later copies, kept by the landing.

A landing already knows, from the duplicate index (`dup_index`), which rows of the file it
writes repeat an event id the hour held before (or an earlier row of the same file). It appends
one line per file to the hour's log, `state/copies/<YYYY-MM-DDTHH>.log` (retention removes it
with the hour): the file's name and size, its `ingested_at`, the row numbers of its later
copies, and which files the landing compared it with (their count and a digest of their names).
The hourly rollup then takes the hour's later copies from the log instead of grouping every
event id (`rollup_session.hour_views`), and a later hour pairing with this one skips ranking
its copies.

The rollup trusts the log only where it proves itself (`later_copies`), since the lake may also
be written by other hosts, by older versions, by compaction, or by hand: every line must have
been compared with exactly the files of the lines before it, the files must agree with the
rollup's own order of landing (file name order: a landing names its file after every file of
the hour, `lake.new_file_stem`) — a file that sorts before an earlier line's file (written by
an older version whose clock stepped back) may hold no later copy, so it shares no id with
them — and the lines must name exactly the hour's files now, with their sizes. Then each id's first copy is the same in the log's order and in the rollup's. Anything else (a file
landed without a line, a race between hosts, a compaction, a removed file, a torn line) makes
the rollup de-duplicate the hour the full way, as before. An event file is never rewritten
under its name, so a name and a size are its rows. A remote lake keeps no log (an object
store cannot append).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import weakref
import zlib
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from voice_monitor.lake import Lake, file_in_the_way, move_aside

logger = logging.getLogger(__name__)
_MASK = (1 << 64) - 1


def _name_hash(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


def names_digest(names: Iterable[str]) -> str:
    """An order-free digest of a set of file names (a sum of 64-bit hashes), as hex."""
    return f"{sum(map(_name_hash, names)) & _MASK:016x}"


def line(name: str, size: int, ingested_us: tuple[int, int], after: list,
         copies: np.ndarray) -> str:
    """The log line of one file: its `ingested_at` (min, max; µs), `after` = [count, digest]
    of the files its later copies (row numbers) were found against."""
    rows = ",".join(map(str, np.asarray(copies).tolist()))
    return json.dumps({
        "file": name, "size": size, "ingested_at": list(ingested_us), "after": after,
        "copies": rows, "copies_crc": copies_crc(rows),
    }, separators=(",", ":")) + "\n"


def copies_crc(copies) -> str:
    """A CRC-32 of later copies (a log line's row numbers, or a manifest's file -> rows), as
    hex. The file names, sizes and digests of a log are checked against the lake; the row
    numbers cannot be, and a digit changed by damage is another valid row number: the rollup
    then dropped a first copy and counted a later one, without a word."""
    return f"{zlib.crc32(json.dumps(copies, sort_keys=True).encode()):08x}"


def log_path(lake: Lake, hour: datetime) -> Path:
    """The copy log of the event hour starting at `hour` (UTC)."""
    return log_folder(lake) / f"{hour.astimezone(UTC):%Y-%m-%dT%H}.log"


def log_folder(lake: Lake) -> Path:
    """The folder of the copy logs, `state/copies`."""
    return lake.state_dir / "copies"


def append(path: Path, text: str) -> None:
    """Append lines to the log at `path`, in one write (the caller holds the hour's lock)."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
    try:
        fd = os.open(path, flags, 0o644)
    except FileNotFoundError:  # the lake's first log
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, flags, 0o644)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


# per hour index: the names it covered at its last landing here and their digest, so a landing
# hashes only the names added since (an hour of 3,600 flushes would hash 3,600 names each time)
_digests: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _covered(index, name: str) -> list:
    """[count, digest] of the files `index` covered before `name` was added to it.

    An index's `files` only grow (a gone file gets the hour a new index): when they are the
    names seen last time plus `name`, nothing is compared (no pass over thousands of names)."""
    seen, total = _digests.get(index, (set(), 0))
    if len(index.files) != len(seen) + 1 or name in seen:  # others' files were added too
        before = index.files - {name}
        if not seen <= before:
            seen, total = set(), 0
        total = (total + sum(map(_name_hash, before - seen))) & _MASK
        seen = before
    covered = [len(seen), f"{total:016x}"]
    seen.add(name)  # this landing's file: covered by the next landing here
    _digests[index] = (seen, (total + _name_hash(name)) & _MASK)
    return covered


def record_landing(lake: Lake, pending: dict, written: dict[int, str], events: pa.Table,
                   hours: np.ndarray, duplicate: np.ndarray) -> None:
    """Log each file a landing wrote (under the hours' locks, after `dup_index.landed`).

    `pending` is `dup_index.duplicate_flags`' (hour -> (index, …)), `written` hour -> file
    name, `events` in hour order with `hours` and the `duplicate` flags of the same rows. A
    line that cannot be written is left out: the rollup then de-duplicates the hour itself.
    """
    # here, not at the top: the rollup reads logs and never needs pyarrow.compute (~50 ms)
    from voice_monitor.checked import hour_runs

    if lake.remote:
        return
    stamps = events.column("ingested_at")
    whole = _span(stamps)  # one `now` per landing: then every hour's span is the batch's
    for hour, start, end in hour_runs(hours):
        name = written.get(int(hour))
        if name is None or int(hour) not in pending:
            continue
        index = pending[int(hour)][0]
        ingested = whole if whole[0] == whole[1] else _span(stamps.slice(start, end - start))
        start_of_hour = _hour_start(int(hour))
        try:
            size = os.stat(lake.event_partition(start_of_hour) / name).st_size
            append(log_path(lake, start_of_hour), line(name, size, ingested, _covered(index, name),
                                                       np.flatnonzero(duplicate[start:end])))
        except OSError as exc:
            # the log is a shortcut: without the line the hour is de-duplicated in full
            _not_written(lake, exc)


_unwritten: set[str] = set()  # the copy-log folders this process could not write to, said once


def _not_written(lake: Lake, exc: OSError) -> None:
    """Say once per process and lake, in the log, that its copy logs are not written and why
    (a file where `state/copies` should be: its name and the mv): the landings go on, and the
    hourly rollup de-duplicates their hours in full, more slowly, without another word."""
    folder = log_folder(lake)
    if str(folder) in _unwritten:
        return
    _unwritten.add(str(folder))
    blocked = file_in_the_way(folder / "x.log")
    why = (f"{str(blocked)!r} is a file, not a folder; move it out of the lake "
           f"({move_aside(blocked)})"
           if blocked is not None else f"{type(exc).__name__}: {exc}")
    logger.warning("landings in %s write no copy log (%s); until they do, the hourly rollup "
                "de-duplicates each of their hours in full", lake.root, why)


def _span(stamps: pa.ChunkedArray) -> tuple[int, int]:
    """(min, max) of `ingested_at` values, in µs."""
    import pyarrow.compute as pc  # loaded by the landing already; see record_landing

    span = pc.min_max(stamps)
    return span["min"].value, span["max"].value


def _hour_start(hour: int) -> datetime:
    return datetime.fromtimestamp(hour * 3600, UTC)


def forget(lake: Lake, hours: Iterable[datetime]) -> None:
    """Remove the logs of event hours retention dropped (a late landing starts a new one)."""
    for hour in hours:
        log_path(lake, hour).unlink(missing_ok=True)


def later_copies(path: Path, files: list[list]) -> dict[str, str] | None:
    """The later copies in the hour's files (name -> row numbers "3,17,…", files with none
    left out), if its log at `path` proves them for exactly `files` ([name, size] each, as
    `rollup_plan.describe` lists them); else None (see the module's docstring)."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError):  # no log (or none readable): the full way
        return None
    listed = {name: size for name, size in files}
    seen: set[str] = set()
    total, latest, copies = 0, None, {}
    try:
        for raw in text.splitlines():
            entry = json.loads(raw)
            name = entry["file"]
            if (entry["after"] != [len(seen), f"{total:016x}"] or name in seen
                    or listed.get(name) != entry["size"]
                    or entry.get("copies_crc") != copies_crc(entry["copies"])):
                return None
            # a file that sorts before an earlier line's (an older version named files by its
            # clock alone) must share no id with the files before it (no later copies): then
            # every id's first copy is the same in either order
            if latest is not None and name < latest and entry["copies"]:
                return None
            latest = max(latest or name, name)
            seen.add(name)
            total = (total + _name_hash(name)) & _MASK
            if entry["copies"]:
                copies[name] = entry["copies"]
    except (ValueError, KeyError, TypeError):
        return None  # a torn or foreign line
    return copies if seen == set(listed) else None
