"""Fault suite, concurrency (contract §4, §5): 8 writer processes landing at once, with rollups,
compaction and readers running the whole time.

Writers run `voice-monitor ingest` repeatedly, some events sent by two writers (true copies).
Readers read every visible Parquet file directly and query through the CLI; rollups run
`rollup hourly` and `compact` in a loop. No reader or rollup may ever fail or see a half-written
file; at the end every total is exact: distinct ids, the `events` view, the counters and the
hourly snapshots, against counts worked out here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from faultkit import NOW_TEXT, cli, event_ids, temp_files, unreadable, visible_files

NOW = datetime(2026, 2, 16, 14, 30, tzinfo=UTC)
WRITERS, FILES, EVENTS, SHARED = 8, 4, 1000, 100
ROLE = ("import sys; sys.path.insert(0, sys.argv[1]); import test_faults_concurrency as t; "
        "t.role(*sys.argv[2:])")


def at(i: int) -> datetime:
    """Spread over 08:00 to 14:29 (the current hour included, for the counters)."""
    return datetime(2026, 2, 16, 8, tzinfo=UTC) + timedelta(seconds=(i * 7919) % (6 * 3600 + 1740))


def line(i: int) -> str:
    return json.dumps({"event_id": f"c-{i}", "event_type": "artifact_received",
                       "timestamp": at(i).isoformat(), "organization_id": f"org-{i % 4}"})


def writer_file(work: Path, w: int, k: int) -> Path:
    """Writer w's k-th file: its own events plus SHARED events of the next writer (copies)."""
    own = range((w * FILES + k) * EVENTS, (w * FILES + k + 1) * EVENTS)
    nxt = ((w + 1) % WRITERS * FILES + k) * EVENTS
    path = work / f"w{w}-{k}.jsonl"
    path.write_text("\n".join([line(i) for i in own] + [line(nxt + j) for j in range(SHARED)]))
    return path


def role(kind: str, lake: str, work: str, *args: str) -> None:
    """One process of the test: writer, reader or roller; problems go to work/<kind>-<pid>.err."""
    import os

    errors, stop = [], Path(work) / "stop"
    out = Path(work) / f"{kind}-{os.getpid()}"
    if kind == "writer":
        for path in args:
            run = cli("ingest", path, "--json", "--lake", lake, "--now", NOW_TEXT)
            if run.code != 0:
                errors.append(f"ingest {path}: {run.err.strip()[-400:]}")
            else:
                _append(f"{out}.dup", json.loads(run.out)["duplicates"])
    while kind != "writer" and not stop.exists():
        if kind == "reader":
            for path in visible_files(Path(lake)):
                if path.suffix != ".parquet":
                    continue
                try:
                    pq.read_table(path)
                except FileNotFoundError:
                    continue  # replaced by compaction or a rollup between listing and reading
                except Exception as exc:  # noqa: BLE001
                    if path.exists():
                        errors.append(f"read {path}: {exc}")
            for argv in (["sql", "select count(*) from events"], ["metrics", "realtime"],
                         ["events", "recent"], ["metrics", "historical", "--start",
                                                "2026-02-16T08:00:00Z", "--end", NOW_TEXT]):
                run = cli(*argv, "--lake", lake, *(["--now", NOW_TEXT] if argv[0] == "metrics" else []))
                if run.code != 0:
                    errors.append(f"{' '.join(argv)}: {run.err.strip()[-400:]}")
        else:
            for argv in (["rollup", "hourly"], ["compact", "--grace-hours", "0"]):
                run = cli(*argv, "--lake", lake, "--now", NOW_TEXT)
                if run.code != 0:
                    errors.append(f"{' '.join(argv)}: {run.err.strip()[-400:]}")
        _append(f"{out}.rounds", 1)
    Path(f"{out}.err").write_text("\n".join(e.replace("\n", " | ") for e in errors))


def _append(path: str, value: int) -> None:
    with open(path, "a") as f:
        f.write(f"{value}\n")


@pytest.mark.slow
def test_eight_writers_with_rollups_and_readers(tmp_path):
    lake, work = tmp_path / "lake", tmp_path / "work"
    work.mkdir()
    cli("init", str(lake))  # without `init` (older versions) the first writer creates it
    here = str(Path(__file__).parent)

    def spawn(kind: str, *args: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", ROLE, here, kind, str(lake), str(work), *args])

    others = [spawn("reader"), spawn("reader"), spawn("roller")]
    writers = [spawn("writer", *[str(writer_file(work, w, k)) for k in range(FILES)])
               for w in range(WRITERS)]
    for proc in writers:
        assert proc.wait(timeout=600) == 0
    time.sleep(1)  # let the readers and the roller see the final lake once more
    (work / "stop").touch()
    for proc in others:
        assert proc.wait(timeout=600) == 0
    errors = [e for f in work.glob("*.err") for e in f.read_text().splitlines() if e]
    rounds = sum(len(f.read_text().split()) for f in work.glob("*.rounds"))
    assert errors == [], "\n".join(errors[:20])

    every = {f"c-{i}" for i in range(WRITERS * FILES * EVENTS)}
    stored = event_ids(lake)
    assert set(stored) == every and unreadable(lake) == []
    assert temp_files(lake) == []
    run = cli("sql", "select count(*) as n from events", "--json", "--lake", str(lake))
    assert json.loads(run.out)[0]["n"] == len(every)
    from voice_monitor import Lake, realtime_metrics
    window = sum(1 for i in range(len(every))
                 if datetime(2026, 2, 16, 13, 31, tzinfo=UTC) <= at(i) <= NOW)
    assert realtime_metrics(Lake(lake), now=NOW)["artifacts_received"] == window
    assert cli("backfill", "--start", "2026-02-16T08:00:00Z", "--end", "2026-02-16T14:00:00Z",
               "--lake", str(lake), "--now", NOW_TEXT).code == 0
    run = cli("sql", "select period_start, event_count from pipeline_hourly where "
              "organization_id is null and event_count > 0", "--json", "--lake", str(lake))
    got = {datetime.fromisoformat(r["period_start"].replace("Z", "+00:00")): r["event_count"]
           for r in json.loads(run.out)}
    hours = Counter(at(i).replace(minute=0, second=0) for i in range(len(every))
                    if at(i) < NOW.replace(minute=0))
    assert got == dict(hours)
    printed = sum(int(x) for f in work.glob("*.dup") for x in f.read_text().split())
    copies = WRITERS * FILES * SHARED  # every shared event was sent twice
    print("FIGURES", json.dumps({"test": "8 concurrent writers", "events": len(every),
                                 "copies_sent": copies, "duplicates_printed": printed,
                                 "reader_and_rollup_rounds": rounds, "errors": len(errors)}))
    assert printed == copies, "ingest printed duplicate counts that are not the real copies"
