"""A landing's hour files, written beside its duplicate count and placed under the hours' locks.

A landing writes one Parquet file per event hour. Writing one (encoding, then fsync) takes a few
ms that depend on nothing in the lake; only choosing the file's name and renaming it into its
hour must happen under the hour's lock, after the duplicate count (names sort in landing order,
and the first landed copy of an event wins). So `stage` starts writing each hour's file into the
writer's `.tmp/` folder on a thread of its own while the landing takes its locks and counts its
duplicates, and `Staged.place` waits for the files and renames them in, under the locks. Another
process landing in the same hours then waits for a lock only as long as a count and a rename,
not a write and an fsync. A crash before the rename leaves a temporary file that `clean_tmp`
removes (a dead writer's folder). On an object store a file appears by one PUT: nothing is
staged there (`stage` returns None) and the landing writes under the locks as before.
"""

from __future__ import annotations

import os
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from voice_monitor.checked import hour_runs
from voice_monitor.folder_sync import ProcessPool
from voice_monitor.lake import Lake, make_folder, new_file_stem, write_parquet
from voice_monitor.schema import DICTIONARY_COLUMNS

# fewer events than this are written hour after hour: starting threads would cost more than
# the encoding they share (a few ms for thousands of events)
PARALLEL_WRITE_ROWS = 20_000

_writers = ProcessPool(os.cpu_count() or 2, "voice-monitor-hour-files")


class Staged:
    """Hour files being written to `.tmp/`, to be placed into their hours (`place`)."""

    def __init__(self, lake: Lake, futures: list[Future]):
        self.lake = lake
        self._futures = futures

    def place(self, written: dict[int, str], after: dict[int, int] | None = None) -> list[Path]:
        """Rename each hour's file into its hour, under a fresh name that sorts after every file
        landed before it (the caller holds the hours' locks; `after`: hour -> the newest clock
        of the hour's names, `dup_index.HourIndex.newest`); `written` gets hour (hours since
        the epoch) -> the file's name, as each one is in place. Returns the folders to fsync
        before the landing answers (`lake.sync_folders`; done after the locks are let go)."""
        changed: list[Path] = []
        files = [file for future in self._futures for file in future.result()]  # all, or none
        for hour, tmp in files:
            folder = self.lake.event_partition(datetime.fromtimestamp(hour * 3600, UTC))
            changed += make_folder(folder)
            name = new_file_stem((after or {}).get(hour, -1)) + ".parquet"
            os.replace(tmp, folder / name)
            written[hour] = name
        return changed

    def discard(self, written: dict[int, str]) -> None:
        """Remove the files that were not placed (the count or a write failed); waits for them."""
        for future in self._futures:
            try:
                files = future.result()
            except Exception:  # noqa: S112 (`_write_temps` removed its own files)
                continue
            for hour, tmp in files:
                if hour not in written:
                    tmp.unlink(missing_ok=True)


def stage(lake: Lake, events: pa.Table, hours: np.ndarray) -> Staged | None:
    """Start writing the hour files of `events` (in hour order, `hours` each one's hour) to
    `.tmp/`; None on an object store, or when no thread may start (interpreter shutdown: a
    producer flushing from atexit), where the caller writes them itself."""
    if lake.remote:
        return None
    parts = [(hour, events.slice(start, end - start)) for hour, start, end in hour_runs(hours)]
    # a large landing writes its hours side by side (Parquet encoding releases the GIL)
    tasks = [[part] for part in parts] if events.num_rows >= PARALLEL_WRITE_ROWS else [parts]
    futures = []
    try:
        for task in tasks:
            futures.append(_writers().submit(_write_temps, lake, task))
    except RuntimeError as exc:
        if "interpreter shutdown" not in str(exc):
            raise
        Staged(lake, futures).discard({})
        return None
    return Staged(lake, futures)


def beside(write, *args) -> Future | None:
    """Run `write(*args)` on a writer thread (the caller waits for the future before it answers);
    None where it ran at once, on this thread (interpreter shutdown: no thread may start)."""
    try:
        return _writers().submit(write, *args)
    except RuntimeError as exc:
        if "interpreter shutdown" not in str(exc):
            raise
    write(*args)
    return None


def _write_temps(lake: Lake, parts: list[tuple[int, pa.Table]]) -> list[tuple[int, Path]]:
    files: list[tuple[int, Path]] = []
    try:
        for hour, table in parts:
            files.append((hour, lake.temp_path()))
            write_parquet(table, files[-1][1], use_dictionary=DICTIONARY_COLUMNS)
    except BaseException:
        for _, tmp in files:
            tmp.unlink(missing_ok=True)
        raise
    return files
