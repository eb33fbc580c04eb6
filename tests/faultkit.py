"""Helpers of the fault suite: run the real CLI entry point, list its commands, read the lake.

`cli()` calls `voice_monitor.cli.main` in this process (what the console script runs, without
paying a Python start per call); an exception that escapes it is what a user would see as a
traceback, so it is returned as such rather than raised.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import traceback
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import click
import pyarrow.parquet as pq
import pytest

NOW_TEXT = "2026-02-16T14:30:00Z"
# commands not run in loops: demo takes about a minute, serve starts a server
SKIP = {"demo", "serve"}
CREATING = {"ingest", "init", "demo", "serve"}


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]

    @property
    def traceback(self) -> bool:
        return "Traceback (most recent call last)" in self.err


def cli(*argv: str) -> Run:
    from voice_monitor.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with redirect_stdout(out), redirect_stderr(err):
        try:
            main(list(argv))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:  # noqa: BLE001 - escaping the entry point = a traceback
            traceback.print_exc(file=err)
            code = 99
    return Run(code, out.getvalue(), err.getvalue())


def commands() -> dict[str, click.Command]:
    """Every leaf command of `voice-monitor --help`, by its path ("metrics realtime")."""
    from voice_monitor.cli import cli as group

    ctx = click.Context(group)
    found: dict[str, click.Command] = {}

    def walk(g: click.Group, path: list[str]) -> None:
        for name in g.list_commands(ctx):
            command = g.get_command(ctx, name)
            if isinstance(command, click.Group):
                walk(command, [*path, name])
            elif command is not None:
                found[" ".join([*path, name])] = command

    walk(group, [])
    return found


def argv_for(path: str, command: click.Command, lake: Path, work: Path) -> list[str]:
    """A well-formed invocation of one command against `lake` (inputs made in `work`)."""
    events = work / "one.jsonl"
    events.write_text(json.dumps({"event_id": "cmd-1", "event_type": "artifact_received",
                                  "timestamp": "2026-02-16T14:00:00Z"}) + "\n")
    orgs = work / "orgs.csv"
    orgs.write_text("organization_id,name\norg-a,Acme\n")
    positional = {
        "alerts ack": ["1", "--by", "oncall"],
        "backfill": ["--start", "2026-02-16T10:00:00Z", "--end", "2026-02-16T14:00:00Z"],
        "catalog": [str(work / "catalog.duckdb")],
        "events timeline": ["art-1"],
        "ingest": [str(events)],
        "orgs load": [str(orgs)],
        "sql": ["select count(*) from events"],
    }
    if path == "init":
        return [path, str(lake)]
    options = {opt for p in command.params for opt in getattr(p, "opts", [])}
    argv = [*path.split(), *positional.get(path, [])]
    if "--lake" in options:
        argv += ["--lake", str(lake)]
    if "--now" in options:
        argv += ["--now", NOW_TEXT]
    return argv


def no_lake_line(path: Path) -> re.Pattern:
    p = re.escape(str(path))
    return re.compile(rf"no lake at ['\"]?{p}['\"]?; create it with voice-monitor init ['\"]?{p}")


def visible_files(lake: Path) -> list[Path]:
    """Every file a reader could see: the lake but its .tmp/ and state/ folders, which are not
    entered (a writer's temp folder may vanish while rglob walked it: FileNotFoundError; os.walk
    skips a folder that went away)."""
    found = []
    for folder, dirs, files in os.walk(lake):
        dirs[:] = [d for d in dirs if d not in (".tmp", "state")]
        found.extend(Path(folder, name) for name in files)
    return found


def fingerprint(path: Path) -> tuple:
    """(path, inode, size, mtime in ns): a file with the same fingerprint was not written since."""
    st = path.stat()
    return path, st.st_ino, st.st_size, st.st_mtime_ns


def unreadable(lake: Path, folder: str = "", read: set | None = None) -> list[str]:
    """Parquet files under lake/folder that do not read whole. `read` (fingerprints of files
    read whole by an earlier call on this lake) skips those not written since, and grows."""
    bad = []
    for path in visible_files(lake):
        if path.suffix != ".parquet" or not path.is_relative_to(lake / folder):
            continue
        mark = fingerprint(path)
        if read is not None and mark in read:
            continue
        try:
            pq.read_table(path)
        except Exception as exc:  # noqa: BLE001
            bad.append(f"{path.relative_to(lake)}: {exc}")
            continue
        if read is not None:
            read.add(mark)
    return bad


def event_ids(lake: Path, known: dict | None = None) -> list[str]:
    """Every stored event_id (copies included), read from the files directly; `known`
    (fingerprint -> ids, from earlier calls) spares reading files not written since."""
    ids: list[str] = []
    for path in sorted((lake / "events").rglob("*.parquet")):
        if ".tmp" not in path.parts:
            mark = fingerprint(path)
            if known is None or mark not in known:
                got = pq.read_table(path, columns=["event_id"]).column("event_id").to_pylist()
                if known is None:
                    ids += got
                    continue
                known[mark] = got
            ids += known[mark]
    return ids


def assert_readable(lake, read: set | None = None) -> None:
    """DuckDB reads every file a reader could see (all of a Lake but .tmp/, state/ and the
    marker; each must be Parquet), then all the event files at once through the events reader.
    `read` as for `unreadable`: files read before and not written since are not read again."""
    from voice_monitor.lake import EVENTS_READER, LAKE_MARKER, connect

    con = connect()
    skip = (lake.tmp_dir, lake.state_dir)
    for path in lake.root.rglob("*"):
        if path.is_file() and path.name != LAKE_MARKER and not any(
                path.is_relative_to(s) for s in skip):
            assert path.suffix == ".parquet", f"unexpected file {path}"
            mark = fingerprint(path)
            if read is None or mark not in read:
                con.execute("select count(*) from read_parquet($f)", {"f": str(path)}).fetchall()
                if read is not None:
                    read.add(mark)
    files = [str(p) for p in lake.events_dir.rglob("*.parquet")]
    if files:
        con.execute(f"select count(*) from {EVENTS_READER}", {"files": files}).fetchall()


def deduplicated_ids(lake) -> tuple[int, set[str]]:
    """(rows after de-duplication, distinct event ids) of a Lake's events, in DuckDB: one row
    per (event_id, date, hour), the first landed."""
    from voice_monitor.lake import EVENTS_READER, connect

    files = [str(p) for p in lake.events_dir.rglob("*.parquet")]
    if not files:
        return 0, set()
    rows = connect().execute(
        f"""select event_id from {EVENTS_READER.replace("union_by_name = true",
            "union_by_name = true, filename = true, file_row_number = true")}
            qualify row_number() over (partition by event_id, date, hour
                                       order by ingested_at, filename, file_row_number) = 1""",
        {"files": files},
    ).fetchall()
    return len(rows), {r[0] for r in rows}


def temp_files(lake: Path) -> list[Path]:
    tmp = lake / ".tmp"
    return [p for p in tmp.rglob("*") if p.is_file()] if tmp.exists() else []


def write_events(path: Path, prefix: str, hours: dict[int, int], day: str = "2026-02-16") -> list[str]:
    """JSON Lines of artifact_received events: hours {hour: how many}; returns the ids."""
    ids, lines = [], []
    for hour, n in hours.items():
        for i in range(n):
            event_id = f"{prefix}-{hour}-{i}"
            ids.append(event_id)
            lines.append(json.dumps({
                "event_id": event_id, "event_type": "artifact_received",
                "timestamp": f"{day}T{hour:02d}:{i * 59 // max(n, 1) % 60:02d}:00Z",
                "organization_id": "org-a", "artifact_id": f"art-{event_id}"}))
    path.write_text("\n".join(lines) + "\n")
    return ids


@pytest.fixture(name="disk")
def disk_fixture(tmp_path):
    """A 2 MB tmpfs at tmp_path/disk, unmounted at teardown."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root; run as root to test a full disk")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(mount: Path) -> Path:
    """Fill the filesystem to the last byte with one file; return it."""
    filler = mount / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for size in (1 << 16, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                continue
    finally:
        os.close(fd)
    return filler


# -- a lake with a corrupt file ----------------------------------------------------------
HOURS = {11: 40, 12: 30, 13: 20}


@pytest.fixture(name="corrupt_lake")
def corrupt_lake_fixture(tmp_path) -> tuple[Path, Path]:
    """Events in hours 11, 12 and 13; hour 12 has a second file, cut in half."""
    lake = tmp_path / "lake"
    write_events(tmp_path / "a.jsonl", "a", HOURS)
    assert cli("ingest", str(tmp_path / "a.jsonl"), "--lake", str(lake), "--now", NOW_TEXT).code == 0
    hour12 = lake / "events" / "date=2026-02-16" / "hour=12"
    before = set(hour12.glob("*.parquet"))
    write_events(tmp_path / "b.jsonl", "b", {12: 10})
    assert cli("ingest", str(tmp_path / "b.jsonl"), "--lake", str(lake), "--now", NOW_TEXT).code == 0
    (bad,) = set(hour12.glob("*.parquet")) - before
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    return lake, bad


def platform_count(lake: Path, hour: int) -> int | None:
    folder = lake / "snapshots" / "pipeline_hourly" / "date=2026-02-16" / f"hour={hour:02d}"
    files = sorted(folder.glob("*.parquet"))
    if not files:
        return None
    rows = [r for f in files for r in pq.read_table(f).to_pylist() if r["organization_id"] is None]
    assert len(rows) == 1
    return rows[0]["event_count"]
