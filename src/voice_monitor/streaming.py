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
    first_line_is_an_array,
    not_an_object_line,
    one_object,
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
        raise unreadable(path, exc) from exc
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
            if _first_line_is_an_array(f, path):  # JSON Lines whose first line holds an array
                f.seek(start)
                yield from _line_batches(f, path, batch_bytes)
                return
            f.seek(start)
            yield _unbalanced_array(f, path)
            return
        if first == b"{":
            whole = _one_object(f, path, start)
            if whole is not None:
                yield whole
                return
        yield from _line_batches(f, path, batch_bytes)


def _first_line_is_an_array(f: BinaryIO, path: Path) -> bool:
    """Whether the first line that is not blank, from `f`'s place on, is by itself a JSON
    array that balances (`records.first_line_is_an_array`; a line over MAX_LINE_BYTES is not
    read: no)."""
    try:
        line = f.readline(MAX_LINE_BYTES + 1)
        while line and not line.strip(_BLANK):
            line = f.readline(MAX_LINE_BYTES + 1)
    except OSError as exc:
        raise unreadable(path, exc) from exc
    return len(line) <= MAX_LINE_BYTES and first_line_is_an_array(line)


def _one_object(f: BinaryIO, path: Path, start: int) -> pa.Array | None:
    """A file that is, as a whole, one JSON object spread over lines (a pretty-printed event),
    as one record (`records.one_object`, as `split_file` reads it); None, `f` back at `start`,
    for JSON Lines. Read whole only if its first line that is not blank is no JSON object by
    itself and the file is at most MAX_LINE_BYTES."""
    try:
        size = f.seek(0, 2) - start
        f.seek(start)
        line = f.readline(MAX_LINE_BYTES) if size <= MAX_LINE_BYTES else b"}"
        while line and not line.strip(_BLANK):
            line = f.readline(MAX_LINE_BYTES)
    except OSError as exc:
        raise unreadable(path, exc) from exc
    f.seek(start)
    if not not_an_object_line(line):
        return None
    data = _read(f, path, size)
    f.seek(start)
    return one_object(data, cut_lines(data)[0])


def check_input_file(path: Path) -> None:
    """Raise `InputFileError` now if an input file cannot be opened, is plainly no input format
    (see `_refuse_unsupported`), or is Parquet whose footer cannot be read (corrupt, truncated):
    `ingest` checks every input before landing any. Reads the head and a Parquet footer only:
    damage inside a Parquet row group shows when the row group is read."""
    try:
        with path.open("rb") as f:
            head = _read(f, path, 4)
    except OSError as exc:
        raise unreadable(path, exc) from exc
    if head != b"PAR1":
        _refuse_unsupported(path, head)
        return
    try:
        pq.ParquetFile(path).close()
    except Exception as exc:
        raise corrupt_parquet(path, exc) from exc


def corrupt_parquet(path: Path, exc: Exception) -> InputFileError:
    """The error for a Parquet file whose footer or a row group cannot be read."""
    reason = " ".join(str(exc).split()).rstrip(".") or type(exc).__name__  # on one line
    return InputFileError(f"cannot read Parquet file {str(path)!r}: {reason}; if it is "
                          "corrupt or truncated, write it again from its source")


def unreadable(path: Path | str, exc: OSError) -> InputFileError:
    """The error for an input that cannot be opened or read, naming it and the OS's reason."""
    return InputFileError(f"cannot read {str(path)!r}: {exc.strerror}; check the path")


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
        raise unreadable(path, exc) from exc


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
    return rest, _over_cap(head, size, "a line", "the line", start)


def _first_bytes(pieces: list[bytes], n: int) -> bytes:
    """The first `n` bytes of the pieces joined (copying only those)."""
    head = []
    for piece in pieces:
        head.append(piece[:n])
        n -= len(head[-1])
        if n <= 0:
            break
    return b"".join(head)


def _over_cap(head: bytes, size: int, what: str, this: str, start: int) -> Rejected:
    """The quarantine record of `what` (a line, an array element...) too long to read whole:
    `head`, its first bytes, as raw; its size and `start`, where it starts in the input."""
    raw, kept = _text_of_head(head)
    return Rejected(raw, (
        f"record is {size:,} bytes, over the limit of {MAX_RECORD_BYTES:,} bytes (64 KiB); longer "
        f"than {MAX_LINE_BYTES:,} bytes, the most {what} is read whole, so raw keeps its first "
        f"{kept:,} bytes; {this} starts at byte {start:,} of the input"))


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
    """Finds, read by read, the top-level commas and the closing bracket of a JSON array.

    Each read is scanned once: what crosses reads is the depth, whether a string is open, and
    whether an odd run of backslashes ended the read (so the next byte is escaped). Scanning
    the text of an element still open again with each read was quadratic in a long element.
    """

    def __init__(self) -> None:
        self.kind = np.zeros(256, np.int8)
        self.kind[[91, 123]], self.kind[[93, 125]], self.kind[44] = 1, -1, 2
        self.depth, self.in_string, self.escaped = 1, 0, False  # right after the opening `[`

    def scan(self, data: bytes) -> tuple[np.ndarray, int | None, bool]:
        """(positions in `data` of top-level commas, of the closing `]` or None, broken)."""
        shift = int(self.escaped)  # an escaped first byte is scanned behind its backslash
        raw = np.frombuffer(b"\\" + data if shift else data, np.uint8)
        quotes = unescaped_quotes(raw)
        marks = np.flatnonzero(self.kind[raw])
        marks = marks[(np.searchsorted(quotes, marks) + self.in_string) % 2 == 0]  # outside strings
        step = self.kind[raw[marks]]
        depth = self.depth + np.cumsum(np.where(step == 2, 0, step))
        marks -= shift
        run = len(data) - len(data.rstrip(b"\\")) if data.endswith(b"\\") else 0
        self.escaped = (run + (shift if run == len(data) else 0)) % 2 == 1
        self.in_string = (self.in_string + len(quotes)) % 2
        closed = np.flatnonzero(depth <= 0)
        if len(closed):
            end = int(closed[0])
            if data[marks[end]] != 93 or depth[end] != 0:
                return marks[:0], None, True
            commas = marks[:end][(step[:end] == 2) & (depth[:end] == 1)]
            if len(marks) > end + 1 or data[marks[end] + 1:].strip(_BLANK):
                return commas, int(marks[end]), True  # something after the closing bracket
            return commas, int(marks[end]), False
        if len(depth):
            self.depth = int(depth[-1])
        return marks[(step == 2) & (depth == 1)], None, False


def _array_reads(f: BinaryIO, path: Path, batch_bytes: int
                 ) -> Iterator[tuple[bytes, int, np.ndarray, int | None]]:
    """Each read of a JSON array after its opening `[`: (its text, where it starts in the
    input, its top-level commas, its closing `]` or None). Raises ValueError where the array
    turns out not to balance; nothing is held but the read."""
    scanner = _ArrayScan()
    chunk = b""
    while b"[" not in chunk:  # only blanks come before it (see `read_batches`)
        chunk = _read(f, path, batch_bytes)
    at = f.tell() - len(chunk) + chunk.index(b"[") + 1
    chunk = chunk[chunk.index(b"[") + 1:]
    while True:
        commas, close, broken = scanner.scan(chunk)
        if broken:
            raise ValueError("the array does not balance")
        if close is not None:
            while after := _read(f, path, batch_bytes):
                if after.strip(_BLANK):
                    raise ValueError("text after the closing bracket")
            yield chunk, at, commas, close
            return
        yield chunk, at, commas, None
        at += len(chunk)
        chunk = _read(f, path, batch_bytes)
        if not chunk:
            raise ValueError("the array never closes")


def array_balances(f: BinaryIO, path: Path, batch_bytes: int) -> bool:
    """Whether the JSON array read from `f` has balanced brackets and strings and nothing after
    its closing `]` (else it is one raw record, like `records.split_array` keeps it)."""
    try:
        for _ in _array_reads(f, path, batch_bytes):
            pass
    except ValueError:
        return False
    return True


def _unbalanced_array(f: BinaryIO, path: Path) -> pa.Array | list[Rejected]:
    """A JSON array that does not balance, from `f`'s place on: one raw record, read whole up
    to MAX_LINE_BYTES; a longer one is quarantined from its first 64 KiB, never held whole."""
    start = f.tell()
    size = f.seek(0, 2) - start
    f.seek(start)
    if size <= MAX_LINE_BYTES:
        return split_array(_read(f, path, -1))  # kept whole, as one raw record
    return [_over_cap(_read(f, path, MAX_RECORD_BYTES), size,
                      "an array that does not balance (one record)", "the array", start)]


class _Element:
    """An array element read piece by piece (it goes on past a read), joined once: held whole
    up to MAX_LINE_BYTES, beyond that only its first 64 KiB while its size is counted on, as
    `_long_line` reads a line. The blanks around it are not its text (`records.split_array`)."""

    def __init__(self, at: int) -> None:
        self.at = at  # where it starts in the input (its first byte that is not blank, once seen)
        self.pieces: list[bytes] | None = []
        self.held = 0
        self.size = 0  # bytes from its first that is not blank
        self.trail = 0  # blank bytes at its end, so far
        self.head = b""

    def add(self, piece: bytes) -> None:
        if not piece:
            return
        if not self.size:
            text = piece.lstrip(_BLANK)
            self.at += len(piece) - len(text)
            piece = text
            if not piece:
                return
        self.size += len(piece)
        if piece[-1] in _BLANK:
            kept = len(piece.rstrip(_BLANK))
            self.trail = len(piece) - kept + (self.trail if kept == 0 else 0)
        else:
            self.trail = 0
        if self.pieces is None:
            return
        self.pieces.append(piece)
        self.held += len(piece)
        if self.size - self.trail > MAX_LINE_BYTES:
            self.head, self.pieces = _first_bytes(self.pieces, MAX_RECORD_BYTES), None
        elif self.held > MAX_LINE_BYTES:  # long only by the blanks after it: hold 64 KiB of them
            self.pieces = [_first_bytes(self.pieces, self.size - self.trail + MAX_RECORD_BYTES)]
            self.held = len(self.pieces[0])

    def text(self) -> bytes:
        """Its text and (some of) the blanks after it; only for one not too long to hold."""
        assert self.pieces is not None
        return b"".join(self.pieces)

    def rejected(self) -> Rejected | None:
        """Its quarantine record if it was too long to hold: its first 64 KiB, size, place."""
        if self.pieces is not None:
            return None
        size = self.size - self.trail
        return _over_cap(self.head[:size], size, "an array element", "the element", self.at)


def _array_batches(f: BinaryIO, path: Path, batch_bytes: int
                   ) -> Iterator[pa.Array | list[Rejected]]:
    """The elements of a balanced JSON array, a read at a time: those that end in the read,
    cut by `records.split_array`; one too long to hold is its quarantine record."""
    first = True  # nothing yielded yet (an empty range then is `[]`, else an empty element)
    element: _Element | None = None  # the one still open at the end of the reads so far
    for chunk, at, commas, close in _array_reads(f, path, batch_bytes):
        ends = commas if close is None else np.append(commas, close)
        if element is None:
            element = _Element(at)
        if not len(ends):
            element.add(chunk)
            continue
        cut, last = int(ends[0]), int(ends[-1])
        element.add(chunk[:cut])
        rejected = element.rejected()
        if rejected is not None:
            yield [rejected]
            first = False
            text = None if cut == last else memoryview(chunk)[cut + 1:last]
        else:
            text = b"".join([element.text(), memoryview(chunk)[cut:last]])
        if text is not None:
            elements = split_array(b"".join([b"[", text, b"]"]))
            if not len(elements) and not (first and close is not None):
                elements = pa.array([b""], pa.large_binary())  # an empty element: `[1,]`
            first = False
            if len(elements):
                yield elements
        element = None
        if close is None:
            element = _Element(at + last + 1)
            element.add(chunk[last + 1:])


# -- Parquet ------------------------------------------------------------------------------

def parquet_batches(path: Path, rows: int | None = None) -> Iterator[TypedRows | pa.Array]:
    """The rows of a Parquet file as typed columns, `rows` (default `PARQUET_ROWS`) at a time
    (as JSON texts if the batch holds bytes that are not UTF-8: `parquet_text`)."""
    rows = rows or PARQUET_ROWS
    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:
        raise corrupt_parquet(path, exc) from exc
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
            raise corrupt_parquet(path, exc) from exc
        yield batch
