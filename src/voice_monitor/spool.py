"""The durable producer's spool: append-only segment files in a directory of its own, held
exclusively through a lock file (see `producer`)."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Mapping
from pathlib import Path

from voice_monitor import disk_space
from voice_monitor.lake import file_in_the_way, move_aside
from voice_monitor.mappings import Rejected, dumps
from voice_monitor.records import split_lines

SEGMENT_SUFFIX = ".jsonl"
SET_ASIDE = "too-large"  # events a collector refuses even alone: one file each, never resent
HELD_OPEN = 64  # segments kept readable through a descriptor once their landing failed (`Segment`)


class ProducerError(Exception):
    """The producer cannot do what was asked: closed, spool in use, or batches not landed."""


class SpoolLockedError(ProducerError):
    """Another producer holds the spool directory."""


class SpoolGoneError(ProducerError):
    """The spool's folder was deleted or unmounted under a running durable producer."""


class Segment:
    """One closed segment file, read through a descriptor held open from its rotation (or, left
    by a crashed predecessor, from its first read): its records stay readable even once the
    file is deleted (with its folder, or alone), so the producer can hand them back instead of
    losing them without a word."""

    def __init__(self, path: Path, fd: int | None = None, size: int | None = None):
        self.path = path
        self.fd = fd
        self.size = size  # bytes when found (a leftover not opened yet), for the loss's line

    def read(self) -> list[bytes | Rejected]:
        """Its records (opening it first if it is a leftover; FileNotFoundError if gone)."""
        if self.fd is None:
            self.fd = os.open(self.path, os.O_RDONLY)
        return parse_segment(os.pread(self.fd, os.fstat(self.fd).st_size, 0))

    def gone(self) -> bool:
        """Whether its file is no longer at its path (see `Spool.gone`)."""
        try:
            here = os.stat(self.path)
        except OSError:
            return True
        if self.fd is None:
            return False
        written = os.fstat(self.fd)
        return (here.st_dev, here.st_ino) != (written.st_dev, written.st_ino)

    def release(self) -> None:
        """Close its descriptor (the file, if still there, stays for the next producer)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def unlink(self) -> None:
        self.path.unlink(missing_ok=True)
        self.release()


def spool_line(record: Mapping) -> bytes:
    """One spool line: the record's JSON text, or a marked line for a record refused as it is."""
    data = dumps(record)
    return data if isinstance(data, bytes) else data.to_line()


class Spool:
    """Append-only segment files in one directory, held exclusively through a lock file."""

    def __init__(self, directory: Path):
        self.directory = directory
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            blocked = (file_in_the_way(directory)
                       if isinstance(exc, (FileExistsError, NotADirectoryError)) else None)
            if blocked is not None:  # said only "[Errno 20] Not a directory", naming no fix
                raise ProducerError(
                    f"cannot use spool directory {str(directory)!r}: {str(blocked)!r} is a "
                    f"file, not a folder; move it aside ({move_aside(blocked)}) and start the "
                    "producer again"
                ) from exc
            raise ProducerError(f"cannot use spool directory {str(directory)!r}: {exc}") from exc
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise SpoolLockedError(
                f"spool directory {str(directory)!r} is in use by another producer; give each "
                "producer its own name= (or spool_dir=)"
            ) from None
        # segments of a crashed predecessor: landed first, oldest first
        self.leftovers = [Segment(path, size=_size(path))
                          for path in sorted(directory.glob("*" + SEGMENT_SUFFIX))]
        self._seq = 0
        self.lines = 0  # lines in the open segment
        self.size = 0  # and their bytes
        self.path, self.fd = self._new_segment()

    def _new_segment(self) -> tuple[Path, int]:
        self._seq += 1
        path = self.directory / f"{time.time_ns():020d}-{os.getpid()}-{self._seq:06d}{SEGMENT_SUFFIX}"
        # read-write: a segment whose file is gone is still read through its descriptor (`salvage`)
        return path, os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o644)

    def write(self, data: bytes) -> None:
        """Append one line, whole or not at all; the caller holds the producer's lock."""
        view = memoryview(data)
        try:
            while view:  # a short write (a disk nearly full) is finished, or undone below
                view = view[os.write(self.fd, view):]
        except OSError as exc:
            # the part written is cut off again: the next line would be glued to it, and the
            # two quarantined as one broken record (an event emitted again after the error)
            os.ftruncate(self.fd, self.size)
            if disk_space.is_full(exc):
                raise disk_space.NoSpaceError(
                    self.directory, "the event was not spooled; the ones before it are kept",
                    "free space on that file system (or give the producer a spool_dir with "
                    "room), then emit the event again") from exc
            raise
        self.size += len(data)
        self.lines += 1

    def gone(self) -> bool:
        """Whether the open segment's file is no longer at its path: its folder deleted (with
        the lake it lies in, the default) or unmounted. Lines written now would reach a file
        nobody will ever read (two stats)."""
        try:
            here, written = os.stat(self.path), os.fstat(self.fd)
        except OSError:
            return True
        return (here.st_dev, here.st_ino) != (written.st_dev, written.st_ino)

    def salvage(self) -> list[bytes | Rejected]:
        """The records of the open segment, read through its descriptor (its file may be
        gone), which is emptied; the caller holds the producer's lock."""
        data = os.pread(self.fd, self.size, 0) if self.size else b""
        os.ftruncate(self.fd, 0)
        self.lines = self.size = 0
        return parse_segment(data) if data else []

    def rotate(self) -> Segment | None:
        """Start a new segment and return the closed one (None if it is empty), its descriptor
        still open: a spool deleted before it is read loses nothing."""
        if not self.lines:
            return None
        closed = Segment(self.path, self.fd)
        self.path, self.fd = self._new_segment()
        self.lines = self.size = 0
        return closed

    def set_aside(self, line: bytes) -> Path:
        """Write one event to a file of its own under `too-large/` (synced), out of the way of
        the segments, and return its path."""
        folder = self.directory / SET_ASIDE
        folder.mkdir(exist_ok=True)
        self._seq += 1
        path = folder / f"{time.time_ns():020d}-{os.getpid()}-{self._seq:06d}{SEGMENT_SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(line + b"\n")
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        return path

    def close(self) -> None:
        os.close(self.fd)
        if not self.lines:
            self.path.unlink(missing_ok=True)
        os.close(self._lock_fd)  # releases the flock


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def parse_segment(data: bytes) -> list[bytes | Rejected]:
    """The records of a spool segment's bytes. A partial last line (a crash mid-write) is
    kept, raw: it is quarantined, like any record that cannot land; nothing in a segment can
    stop it."""
    lines = split_lines(data).to_pylist()
    return [Rejected.from_line(line) or line if line[:1] == b"\x00" else line for line in lines]
