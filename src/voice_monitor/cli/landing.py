"""CLI commands: ingest, metrics realtime."""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import click

from voice_monitor import disk_space, temp_files
from voice_monitor.cli import one_line
from voice_monitor.cli.common import (
    ORGANIZATION,
    VoiceMonitorError,
    create_lake,
    echo_json,
    json_option,
    lake_error,
    lake_now_json,
    lake_option,
    now_option,
    utc_text,
)
from voice_monitor.counters import CounterStore, open_counters, realtime_metrics
from voice_monitor.lake import Lake
from voice_monitor.landing import InputFileError, LandingResult, ingest_file
from voice_monitor.streaming import check_input_file, unreadable

STDIN = "-"
STDIN_SOURCE = "<stdin>"  # the source quarantine records for what was read from standard input
# the temporary folder (in TMPDIR) a pipe is read into, named after its process
SPOOL_PREFIX = "voice-monitor-stdin-"


def _remove_dead_spools() -> None:
    """Remove the spool folders that ingests killed before they could (`kill -9`, the OOM
    killer) left in the temporary folder: each holds a whole input. Those of live processes,
    and of other hosts sharing the folder, stay (`temp_files.writer_gone`)."""
    base = tempfile.gettempdir()
    try:
        names = os.listdir(base)
    except OSError:
        return
    for name in names:
        if name.startswith(SPOOL_PREFIX):
            writer = name[len(SPOOL_PREFIX):].rpartition(".")[0]  # (then mkdtemp's letters)
            if temp_files.writer_gone(writer):
                shutil.rmtree(os.path.join(base, name), ignore_errors=True)


def _no_folders(ctx, param, files: tuple[str, ...]) -> tuple[str, ...]:
    """A click callback: a folder given as an input is a usage error naming the fix (click's
    own "File 'x' is a directory." named none)."""
    for path in files:
        if path != STDIN and os.path.isdir(path):
            raise click.BadParameter(f"{path!r} is a folder, not an event file; pass the files "
                                     f"in it, e.g. {shlex.quote(path.rstrip('/') or '/')}/*.jsonl")
    return files


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(), callback=_no_folders)
@lake_option(create=True)
@now_option
@json_option
def ingest(files: tuple[str, ...], lake: Lake, now: datetime, as_json: bool) -> None:
    """Land event files (JSON Lines, a JSON array, or Parquet) in the lake; `-` reads standard
    input (a file named - is ./-).

    Bad records go to quarantine with a reason; they are not a failure. A file none of whose
    records reads as JSON (a CSV file, a spreadsheet) is named in a warning on stderr.

    \b
    Example:
      voice-monitor ingest events.jsonl more.parquet --lake ./data
      some-producer | voice-monitor ingest - --lake ./data
    """
    if files.count(STDIN) > 1:
        raise click.UsageError("'-' (standard input) is given more than once; give it once")
    if STDIN in files and (sys.stdin is None or sys.stdin.isatty()):
        state = "closed" if sys.stdin is None else "a terminal"  # (closed: `<&-`, a daemon)
        raise click.UsageError(f"'-' reads events from standard input, which is {state}; pipe "
                               "them in, e.g. voice-monitor ingest - < events.jsonl")
    for path in files:
        if path != STDIN:
            _check_path(path)
    _remove_dead_spools()
    with tempfile.TemporaryDirectory(prefix=f"{SPOOL_PREFIX}{temp_files.writer_name()}.") as folder:
        inputs = [_input(path, Path(folder) / str(n)) for n, path in enumerate(files)]
        create_lake(lake)
        total, done = _land(lake, inputs, now)
        # (while a pipe's spool is still there: `_no_json` reads its head)
        wrong = [((item, part), kind) for item, part in done if (kind := _no_json(item, part))]
    if as_json:
        echo_json(total.as_dict())
    else:
        click.echo(f"accepted {total.accepted} (of which duplicate {total.duplicates}), "
                   f"quarantined {total.quarantined}")
    # the wrong file given (a CSV export): "accepted 0, quarantined 3" alone read as success.
    # A warning, not a failure: the contract's quarantined events are never one (exit 0)
    _warn_kept([x for x, kind in wrong if kind == "no_json"], "no JSON object",
               "ingest reads JSON Lines, a JSON array or Parquet; convert {it} to one of those "
               "(or, cut short, write {it} again whole from {its} source) and ingest that")
    # JSON in another encoding (a JSON Lines export in windows-1252): "convert it to JSON
    # Lines" was no help; re-encoding it is
    _warn_kept([x for x, kind in wrong if kind == "not_utf8"], "JSON that is not UTF-8",
               "ingest reads text as UTF-8 only; convert {it} to UTF-8 (e.g. iconv -f "
               "windows-1252 -t utf-8) and ingest that")


def _warn_kept(inputs: list[tuple[_Input, LandingResult]], holds: str, fix: str) -> None:
    """One warning line on stderr naming `inputs` (each landed, every record quarantined),
    what they hold and `fix` (its {it} and {its} said for one input or several)."""
    if not inputs:
        return
    named = " and ".join(item.shown for item, _ in inputs)
    n = sum(part.quarantined for _, part in inputs)
    one = len(inputs) == 1
    it, its, is_ = ("it", "its", "is") if one else ("them", "their", "are")
    kept = f"{its} {n} records are" if n > 1 else "its one record is"
    click.echo(
        f"voice-monitor: warning: {named} {'holds' if one else 'hold'} {holds} ({kept} "
        f"kept in quarantine; do not ingest {it} again as {'it' if one else 'they'} {is_}): "
        + fix.format(it=it, its=its), err=True)


# the rules a record that is no JSON text at all breaks (`LandingResult.reasons` keys start so)
_NOT_UTF8 = "record is not valid UTF-8"
_NOT_JSON = ("record is not valid JSON", _NOT_UTF8, "record is JSON but not an object")


def _no_json(item: _Input, part: LandingResult) -> str | None:
    """Whether none of an input's records (one at least) read as a JSON object: every one was
    quarantined for that. "not_utf8": none was UTF-8 and the input starts as JSON does (JSON in
    another encoding), else "no_json"; None if not so. A Parquet file's rows are never this (a
    row of text that is not UTF-8 breaks the rule, not the format)."""
    if part.accepted or not part.quarantined or not all(
            rule.startswith(_NOT_JSON) for rule in part.reasons):
        return None
    try:
        with item.path.open("rb") as f:
            head = f.read(4096)
    except OSError:
        return None  # (gone since it landed: not said rather than guessed)
    if head.startswith(b"PAR1"):
        return None
    json_like = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"[")
    if json_like and all(rule.startswith(_NOT_UTF8) for rule in part.reasons):
        return "not_utf8"
    return "no_json"


@dataclass(frozen=True)
class _Input:
    """One input of `ingest`: `path` is what is read (for a pipe, its spool), `source` what
    quarantine records, `shown` how messages name it."""

    path: Path
    source: str
    shown: str
    spooled: bool = False


def _check_path(path: str) -> None:
    """Refuse a path that cannot be read before anything lands, so a bad argument among several
    never leaves the files before it landed and those after it not. A pipe is only checked for
    read permission here: opening it would take what its writer sends (`_input` reads it)."""
    try:
        if not _is_pipe(path):
            check_input_file(Path(path))
        elif not os.access(path, os.R_OK):
            raise unreadable(path, PermissionError(13, os.strerror(13), path))
    except OSError as exc:
        raise VoiceMonitorError(f"{unreadable(path, exc)} (nothing was ingested)") from exc
    except InputFileError as exc:
        raise VoiceMonitorError(f"{exc} (nothing was ingested)") from exc


def _is_pipe(path: str) -> bool:
    """Whether `path` is a pipe or anything else but a regular file (raises OSError if it is
    not there)."""
    return not stat.S_ISREG(os.stat(path).st_mode)


def _input(path: str, spool: Path) -> _Input:
    """An input ready to land. A pipe (`-`, a FIFO, `<(zcat x.gz)`) is read whole into `spool`
    now, before anything lands, and checked as a file is (gzip, a Parquet footer): telling the
    formats apart and reading a Parquet footer need a seekable file. Memory stays bounded."""
    if path == STDIN:
        item = _Input(spool, STDIN_SOURCE, "standard input", spooled=True)
        _spool(sys.stdin.buffer, item)
        return item
    try:
        pipe = _is_pipe(path)
    except OSError:
        pipe = False  # gone since it was checked: ingest_file names the path and the error
    if not pipe:
        return _Input(Path(path), path, repr(path))
    item = _Input(spool, path, repr(path), spooled=True)
    try:
        stream = open(path, "rb")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise VoiceMonitorError(f"{unreadable(path, exc)} (nothing was ingested)") from exc
    with stream:
        _spool(stream, item)
    return item


def _spool(stream, item: _Input) -> None:
    """Copy a pipe to `item.path` and check it; an error names the pipe as given."""
    try:
        with item.path.open("wb") as out:
            while True:
                try:
                    chunk = stream.read(1 << 20)
                except OSError as exc:
                    raise VoiceMonitorError(f"cannot read {item.shown}: {exc.strerror} "
                                            "(nothing was ingested)") from exc
                if not chunk:
                    break
                out.write(chunk)
    except OSError as exc:
        if not disk_space.is_full(exc):
            raise
        # the pipe is read whole into the temporary folder first (TMPDIR), not into the lake
        item.path.unlink(missing_ok=True)
        raise VoiceMonitorError(disk_space.message(
            item.path.parent, f"{item.shown} is read whole into this temporary folder before "
            "it lands; nothing was ingested", "free space there, or set TMPDIR to a folder "
            "with room, then run the command again")) from exc
    try:
        check_input_file(item.path)
    except InputFileError as exc:
        raise VoiceMonitorError(f"{_named(item, exc)} (nothing was ingested)") from exc


def _named(item: _Input, exc: BaseException) -> str:
    """An error's one line, naming a spooled pipe as the user gave it."""
    text = " ".join(str(exc).split()) if isinstance(exc, InputFileError) else one_line(exc)
    if not item.spooled:
        return text
    spool = str(item.path)
    text = text.replace(f"gunzip -k {spool}", f"gunzip -c FILE | voice-monitor ingest {STDIN}")
    return text.replace(repr(spool), item.shown).replace(spool, item.shown)


def _land(lake: Lake, inputs: list[_Input], now: datetime
          ) -> tuple[LandingResult, list[tuple[_Input, LandingResult]]]:
    """Land the inputs in turn: the total, and each input's own result. An input that breaks
    part way (a damaged Parquet row group, a read error) stops the command with an error naming
    what landed, so that only the rest is ingested again (a file landed again is stored again,
    its events counted once)."""
    total = LandingResult()
    done: list[tuple[_Input, LandingResult]] = []
    store = _Counting(lake)
    try:
        for n, item in enumerate(inputs):
            part = LandingResult()
            try:
                ingest_file(lake, item.path, now=now, source=item.source, into=part,
                            counters=store)
            except Exception as exc:
                landed = any(r.accepted or r.quarantined for _, r in [*done, (item, part)])
                if not landed and not store.uncounted and not isinstance(exc, InputFileError):
                    raise  # e.g. a lake this process may not write to: lake_option says so
                # a full disk, a store this user may not write, a lake over two file systems:
                # the one line lake_option gives, with what landed
                exc = lake_error(exc, lake)
                raise VoiceMonitorError(_failed(item, exc, done, part, inputs[n + 1:],
                                                store.uncounted)) from exc
            done.append((item, part))
            total.add(part)
    finally:
        store.close()
    return total, done


class _Counting:
    """The lake's counter store, opened at its first use as `ingest_file` opens it, that keeps
    how many events the landing whose count failed had placed in the lake (`uncounted`): a
    landing places its events' files, then counts them (landing.py), so a count that fails
    (Redis gone, the store's disk full) fails with those events in the lake, noted to be counted
    by the next landing or read (uncounted.py). Every other use goes to the store itself."""

    def __init__(self, lake: Lake):
        self._lake = lake
        self._store: CounterStore | None = None
        self._handed = 0  # events in the batch last prepared
        self.uncounted = 0

    def _opened(self) -> CounterStore:
        if self._store is None:
            self._store = open_counters(self._lake)
        return self._store

    def prepare(self, events, now: datetime) -> object:
        self._handed = events.num_rows
        return self._opened().prepare(events, now)

    def commit(self, prepared: object) -> int:
        try:
            return self._opened().commit(prepared)
        except BaseException:
            self.uncounted = self._handed  # placed: commit comes after the files are in place
            raise

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    def __getattr__(self, name: str):
        return getattr(self._opened(), name)


def _failed(item: _Input, exc: Exception, done: list[tuple[_Input, LandingResult]],
            part: LandingResult, rest: list[_Input], uncounted: int = 0) -> str:
    """The error of an input that broke while landing: what it was, what landed before it
    (each input and its counts; `uncounted`: events of `item` placed in the lake by a landing
    whose count then failed), and what to ingest again."""
    reason = _named(item, exc)
    landed = [f"{i.shown} ({_counts(r)})" for i, r in done]
    partly = bool(part.accepted or part.quarantined or uncounted)
    if uncounted:
        # (the batch's own counts are lost with its failure: its events only are known)
        counted = f"{_counts(part)}, then " if part.accepted or part.quarantined else ""
        landed.append(f"part of {item.shown} ({counted}{uncounted} events not yet counted by "
                      "the real-time counters: kept, they are counted at the next landing or "
                      "read once the counter store works again)")
    elif partly:
        landed.append(f"part of {item.shown} ({_counts(part)})")
    if not landed:
        return f"{reason} (nothing was ingested)"
    again = [f"the rest of {item.shown}" if partly else item.shown, *(i.shown for i in rest)]
    when = "once the counter store works again, " if uncounted else ""
    text = (f"{reason}; landed before this error: {', '.join(landed)}; not landed: "
            f"{', '.join(again)}: {when}ingest only those again")
    if partly:
        # quarantine keeps every record it is given, copies too: say so rather than "once"
        requarantined = (f"; its {part.quarantined} quarantined record(s) are quarantined again"
                         if part.quarantined else "")
        text += (f" (the part of {item.shown} that landed then counts as duplicates, "
                 f"once{requarantined})")
    return text


def _counts(result: LandingResult) -> str:
    return (f"accepted {result.accepted}, of which duplicate {result.duplicates}, "
            f"quarantined {result.quarantined}")


@click.group()
def metrics() -> None:
    """Read metrics: real-time counters, historical snapshots, stage and organization breakdowns.

    Tables show rates in %, latencies in s and cost in $; --json keeps the stored values.

    \b
    Example:
      voice-monitor metrics realtime
      voice-monitor metrics historical --start 2026-02-15T00:00Z --end 2026-02-16T00:00Z
      voice-monitor metrics orgs --json
    """


@metrics.command()
@click.option("--org", "organization_id", default=None, callback=ORGANIZATION,
              help="An organization id (default: the platform).")
@lake_now_json
def realtime(organization_id: str | None, lake: Lake, now: datetime, as_json: bool) -> None:
    """Counts for the rolling last hour (the current minute and the 59 before it).

    \b
    Example:
      voice-monitor metrics realtime --org org-7 --now 2026-02-16T14:30:00Z --json
    """
    result = realtime_metrics(lake, organization_id, now=now)
    if as_json:
        echo_json(result)
        return
    for key, value in result.items():  # the window's times as --now takes them: UTC with Z
        click.echo(f"{key:26} {utc_text(value) if isinstance(value, datetime) else value}")


def register(main: click.Group) -> None:
    """Add this module's commands to the main group."""
    main.add_command(ingest)
    main.add_command(metrics)
