"""Input files read in batches, so that landing one needs memory for a batch, not the file.

JSON Lines are read in byte ranges cut after a newline; a JSON array is cut at the commas
between its elements, a range at a time (after one pass that checks its brackets and strings
balance: only then can elements land before the end of the file is seen); Parquet is read a
row batch at a time. A JSON batch holds the raw records of `records.split_file`, in file order;
a Parquet batch is `typed.TypedRows`, its typed columns (no JSON round trip); a JSON Lines
batch is a `LineBatch`, which also keeps the file's own text of its records.
"""

from __future__ import annotations

import queue
import re
import shlex
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from voice_monitor.mappings import Rejected
from voice_monitor.parquet_text import checked_batch
from voice_monitor.records import (
    BOM,
    MAX_RECORD_BYTES,
    as_raw,
    cut_lines,
    split_array,
    unescaped_quotes,
)
from voice_monitor.typed import TypedRows

BATCH_BYTES = 16 << 20  # about 60,000 realistic events; landing one needs ~10x this in memory
PARQUET_ROWS = 61_440
# the longest line read whole (the collector's body cap, group_commit.DEFAULT_MAX_BODY_BYTES):
# a longer one is quarantined from its first 64 KiB, never held whole (see `_long_line`)
MAX_LINE_BYTES = 16 << 20
_BLANK = b" \t\r\n"
_NOT_BLANK = re.compile(rb"[^ \t\r\n]")


T = TypeVar("T")


def ahead(items: Iterator[T]) -> Iterator[T]:
    """`items`, each made on a thread of its own while the caller works on the one before:
    at most two in memory (the next is started only once the caller has taken the last).
    An exception in making one is raised to the caller in its place; a caller that stops
    early stops the thread."""
    handoff: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def make() -> None:
        try:
            for item in items:
                if not _hand(handoff, stop, (item, None)):
                    return
                handoff.join()  # taken: only now make the next
            _hand(handoff, stop, (None, StopIteration()))
        except BaseException as exc:  # noqa: BLE001 (handed to the caller, raised there)
            _hand(handoff, stop, (None, exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # a generator's files are closed on this thread, which ran it

    thread = threading.Thread(target=make, name="voice-monitor-ahead", daemon=True)
    try:
        thread.start()
    except RuntimeError:  # no thread may start at interpreter exit (a producer's last flush)
        yield from items
        return
    try:
        while True:
            item, error = handoff.get()
            handoff.task_done()
            if isinstance(error, StopIteration):
                return
            if error is not None:
                raise error
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # let a blocked hand-off through, then the thread ends
            try:
                handoff.get(timeout=0.05)
                handoff.task_done()
            except queue.Empty:
                pass
        thread.join()


def _hand(handoff: queue.Queue, stop: threading.Event, entry: tuple) -> bool:
    while not stop.is_set():
        try:
            handoff.put(entry, timeout=0.05)
            return True
        except queue.Full:
            continue
    return False


class InputFileError(Exception):
    """An input file cannot be read at all (missing, unreadable, not a supported format)."""


def read_batches(path: Path, batch_bytes: int = BATCH_BYTES
                 ) -> Iterator[LineBatch | pa.Array | TypedRows | list[Rejected]]:
    """The raw records of an input file (JSON Lines, a JSON array, or Parquet), batch by batch.

    The file is opened (and a Parquet file's footer read) before the first batch is yielded,
    so a file that cannot be read at all raises `InputFileError` before anything lands.
    """
    try:
        f = path.open("rb")
    except OSError as exc:
        raise InputFileError(f"cannot read {str(path)!r}: {exc.strerror}; check the path") from exc
    with f:
        head = _read(f, path, 4)
        if head == b"PAR1":
            yield from parquet_batches(path)
            return
        _refuse_unsupported(path, head)
        start = len(BOM) if head.startswith(BOM) else 0
        f.seek(start)
        first = _first_byte(f, path)
        f.seek(start)
        if first == b"[":
            if array_balances(f, path, batch_bytes):
                f.seek(start)
                yield from _array_batches(f, path, batch_bytes)
                return
            f.seek(start)
            yield split_array(_read(f, path, -1))  # kept whole, as one raw record
            return
        yield from _line_batches(f, path, batch_bytes)


def _refuse_unsupported(path: Path, head: bytes) -> None:
    """A file that is plainly no input format is an error, not lines of garbage to quarantine:
    gzip (decompress it first), or a `.parquet` file without Parquet's leading magic bytes."""
    if head.startswith(b"\x1f\x8b"):
        raise InputFileError(f"{str(path)!r} is gzip-compressed; decompress it first "
                             f"(gunzip -k {shlex.quote(str(path))}) and ingest the result")
    if path.suffix.lower() == ".parquet":
        raise InputFileError(f"cannot read Parquet file {str(path)!r}: it does not start with "
                             "Parquet's magic bytes PAR1 (corrupt, or not Parquet); write it "
                             "again from its source, or if it holds JSON Lines or a JSON array, "
                             "give it a .jsonl or .json name")


def _read(f: BinaryIO, path: Path, size: int) -> bytes:
    try:
        return f.read(size)
    except OSError as exc:
        raise InputFileError(f"cannot read {str(path)!r}: {exc.strerror}; check the path") from exc


def _first_byte(f: BinaryIO, path: Path) -> bytes:
    """The first byte that is not ASCII white space (as `bytes.lstrip` counts it), or b''."""
    while chunk := _read(f, path, 1 << 16):
        rest = chunk.lstrip()
        if rest:
            return rest[:1]
    return b""


@dataclass(frozen=True)
class LineBatch:
    """A batch of JSON Lines: its records (`records.cut_lines`), and the file's text of them
    where it is exactly those records each followed by `\n` (`joined`, else None), which
    Arrow's JSON reader takes as it stands: validation need not join the records again."""

    records: pa.LargeBinaryArray
    joined: pa.Buffer | None

    def __len__(self) -> int:
        return len(self.records)

    def to_pylist(self) -> list:
        return self.records.to_pylist()


def _line_batches(f: BinaryIO, path: Path, batch_bytes: int
                  ) -> Iterator[LineBatch | list[Rejected]]:
    carry = b""  # the start of a line not ended yet
    while chunk := _read(f, path, batch_bytes):
        end = chunk.find(b"\n")
        if end >= 0 and len(carry) + end <= MAX_LINE_BYTES:
            data = carry + chunk
        else:  # one line longer than a batch, or ending here but over the cap
            data, rejected = _long_line(f, path, carry, chunk, batch_bytes)
            if rejected is not None:
                yield [rejected]
        cut = data.rfind(b"\n") + 1
        if cut == 0:  # the file's last line, no newline after it
            carry = data
            continue
        carry = data[cut:]
        text = memoryview(data)[:cut]  # (no copy)
        lines, as_read = cut_lines(text)
        if len(lines):
            yield LineBatch(lines, pa.py_buffer(text) if as_read else None)
    if carry:
        lines, _ = cut_lines(carry)  # no newline at its end
        if len(lines):
            yield LineBatch(lines, None)


def _long_line(f: BinaryIO, path: Path, carry: bytes, chunk: bytes, batch_bytes: int
               ) -> tuple[bytes, Rejected | None]:
    """Read on to the end of the line `carry` starts, from `chunk` on: (the text from the
    line's start to the end of the read holding its newline, None), the pieces joined once
    (adding each to the ones before copied them all again: quadratic). A line longer than
    MAX_LINE_BYTES is not held (also when it ends in `chunk`): (the text after its newline, its
    quarantine record: its first 64 KiB, size, place)."""
    start = f.tell() - len(carry) - len(chunk)  # the line's first byte in the file
    pieces: list[bytes] | None = [carry]
    size = len(carry)
    blank = not _NOT_BLANK.search(carry)
    head = b""
    while True:
        if pieces is not None and size > MAX_LINE_BYTES:
            head, pieces = _first_bytes(pieces, MAX_RECORD_BYTES), None
        end = chunk.find(b"\n")
        piece = chunk if end < 0 else chunk[:end]
        blank = blank and not _NOT_BLANK.search(piece)
        size += len(piece)
        if end >= 0 or not chunk:
            break
        if pieces is not None:
            pieces.append(chunk)
        chunk = _read(f, path, batch_bytes)
    if pieces is not None:
        if size <= MAX_LINE_BYTES:
            return b"".join(pieces) + chunk, None
        head = _first_bytes([*pieces, piece], MAX_RECORD_BYTES)
    rest = chunk[end + 1:] if end >= 0 else b""
    if blank:  # a line of blanks is no record, however long
        return rest, None
    raw, kept = _text_of_head(head)
    return rest, Rejected(raw, (
        f"record is {size:,} bytes, over the limit of {MAX_RECORD_BYTES:,} bytes (64 KiB); longer "
        f"than {MAX_LINE_BYTES:,} bytes, the most a line is read whole, so raw keeps its first "
        f"{kept:,} bytes; the line starts at byte {start:,} of the input"))


def _first_bytes(pieces: list[bytes], n: int) -> bytes:
    """The first `n` bytes of the pieces joined (copying only those)."""
    head = []
    for piece in pieces:
        head.append(piece[:n])
        n -= len(head[-1])
        if n <= 0:
            break
    return b"".join(head)


def _text_of_head(head: bytes) -> tuple[str, int]:
    """The first bytes of a line as quarantine keeps them, and how many: a UTF-8 character the
    cut split is left out (up to 3 bytes); text that is not UTF-8 is escaped (`as_raw`)."""
    for trim in range(4):
        try:
            return head[:len(head) - trim].decode("utf-8"), len(head) - trim
        except UnicodeDecodeError:
            continue
    return as_raw(head), len(head)


# -- JSON arrays --------------------------------------------------------------------------

class _ArrayScan:
    """Finds, range by range, the top-level commas and the closing bracket of a JSON array.

    Every range handed to `scan` starts where an element starts (right after the opening `[`
    or a top-level comma): outside any string, one level deep. So no state crosses ranges but
    the text of the element still open, which the caller hands over again with the next range.
    """

    def __init__(self) -> None:
        self.kind = np.zeros(256, np.int8)
        self.kind[[91, 123]], self.kind[[93, 125]], self.kind[44] = 1, -1, 2

    def scan(self, data: bytes, depth0: int) -> tuple[np.ndarray, int | None, bool]:
        """(positions of top-level commas, position of the closing `]` or None, broken)."""
        raw = np.frombuffer(data, np.uint8)
        quotes = unescaped_quotes(raw)
        marks = np.flatnonzero(self.kind[raw])
        marks = marks[np.searchsorted(quotes, marks) % 2 == 0]  # outside strings only
        if len(quotes) % 2:
            marks = marks[marks < quotes[-1]]  # after a string still open nothing is known yet
        step = self.kind[raw[marks]]
        depth = depth0 + np.cumsum(np.where(step == 2, 0, step))
        closed = np.flatnonzero(depth <= 0)
        if len(closed):
            end = int(closed[0])
            if raw[marks[end]] != 93 or depth[end] != 0:
                return marks[:0], None, True
            commas = marks[:end][(step[:end] == 2) & (depth[:end] == 1)]
            if len(marks) > end + 1 or data[marks[end] + 1:].strip(_BLANK):
                return commas, int(marks[end]), True  # something after the closing bracket
            return commas, int(marks[end]), False
        return marks[(step == 2) & (depth == 1)], None, False


def _array_ranges(f: BinaryIO, path: Path, batch_bytes: int) -> Iterator[tuple[bytes, bool]]:
    """(text of whole elements with the commas between them, whether it is the last) per range;
    raises ValueError where the array turns out not to balance."""
    scanner = _ArrayScan()
    carry = b""
    while b"[" not in carry:  # only blanks come before it (see `read_batches`)
        carry = _read(f, path, batch_bytes)
    carry, eof = carry[carry.index(b"[") + 1:], False
    while True:
        if not eof:
            chunk = _read(f, path, batch_bytes)
            eof = not chunk
            carry += chunk
        commas, close, broken = scanner.scan(carry, 1)
        if broken:
            raise ValueError("the array does not balance")
        if close is not None:
            while not eof and (chunk := _read(f, path, batch_bytes)):
                if chunk.strip(_BLANK):
                    raise ValueError("text after the closing bracket")
            yield carry[:close], True
            return
        if eof:
            raise ValueError("the array never closes")
        if len(commas):
            cut = int(commas[-1])
            yield carry[:cut], False
            carry = carry[cut + 1:]


def array_balances(f: BinaryIO, path: Path, batch_bytes: int) -> bool:
    """Whether the JSON array read from `f` has balanced brackets and strings and nothing after
    its closing `]` (else it is one raw record, like `records.split_array` keeps it)."""
    try:
        for _ in _array_ranges(f, path, batch_bytes):
            pass
    except ValueError:
        return False
    return True


def _array_batches(f: BinaryIO, path: Path, batch_bytes: int) -> Iterator[pa.Array]:
    first = True
    for text, last in _array_ranges(f, path, batch_bytes):
        elements = split_array(b"[" + text + b"]")
        if not len(elements) and not (first and last):
            elements = pa.array([b""], pa.large_binary())  # an empty element between commas: `[1,]`
        first = False
        if len(elements):
            yield elements


# -- Parquet ------------------------------------------------------------------------------

def parquet_batches(path: Path, rows: int = PARQUET_ROWS) -> Iterator[TypedRows | pa.Array]:
    """The rows of a Parquet file as typed columns, a row batch at a time (as JSON texts if
    the batch holds bytes that are not UTF-8: `parquet_text`)."""
    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:
        raise InputFileError(f"cannot read Parquet file {str(path)!r}: {exc}") from exc
    for batch in _parquet_iter(parquet, path, rows):
        yield checked_batch(pa.Table.from_batches([batch]))


def _parquet_iter(parquet: pq.ParquetFile, path: Path, rows: int) -> Iterator[pa.RecordBatch]:
    batches = parquet.iter_batches(batch_size=rows)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except Exception as exc:
            raise InputFileError(f"cannot read Parquet file {str(path)!r}: {exc}") from exc
        yield batch
