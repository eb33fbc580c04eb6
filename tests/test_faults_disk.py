"""Fault suite, a full disk (contract §4, §11): the lake on a 2 MB tmpfs the test mounts.

Ingest on the full disk exits non-zero with one line and loses nothing acknowledged; the lake
stays readable; every other command either works or says in one line why not; once space is
back, landing the same file again gives every event exactly once and no temp file is left.
Needs root for `mount`; skipped with the reason otherwise.
"""

from __future__ import annotations

import json
import os

import pytest
from faultkit import (
    NOW_TEXT,
    SKIP,
    argv_for,
    cli,
    commands,
    disk_fixture,  # noqa: F401 - provides the `disk` fixture
    event_ids,
    fill,
    temp_files,
    unreadable,
)
from faultkit import write_events as events_file


@pytest.mark.slow
def test_full_disk(disk, tmp_path):
    lake = disk / "lake"
    first = events_file(tmp_path / "first.jsonl", "first", {12: 100, 13: 100})
    run = cli("ingest", str(tmp_path / "first.jsonl"), "--lake", str(lake), "--now", NOW_TEXT)
    assert run.code == 0, run.err
    big = events_file(tmp_path / "big.jsonl", "big", {h: 4000 for h in range(8, 14)})
    filler = fill(disk)

    run = cli("ingest", str(tmp_path / "big.jsonl"), "--lake", str(lake), "--now", NOW_TEXT)
    assert run.code != 0, "ingest on a full disk exited 0"
    assert not run.traceback and len(run.err_lines) == 1, run.err
    assert unreadable(lake) == []
    assert set(first) <= set(event_ids(lake)), "acknowledged events lost"

    work = tmp_path / "work"
    work.mkdir()
    outcomes, problems = {}, []
    for path, command in sorted(commands().items()):
        if path in SKIP or path == "init":
            continue
        run = cli(*argv_for(path, command, lake, work))
        outcomes[path] = run.code
        if run.traceback or len(run.err_lines) > 1:
            problems.append(f"{path}: {run.err.strip().splitlines()[-1]}")
        elif run.code != 0 and path in ("events recent", "sql"):  # reading Parquet needs no space
            problems.append(f"{path} (reading needs no space): {run.err.strip()}")
    assert unreadable(lake) == []

    filler.unlink()
    os.sync()
    run = cli("ingest", str(tmp_path / "big.jsonl"), "--json", "--lake", str(lake),
              "--now", NOW_TEXT)
    assert run.code == 0, run.err
    stored = event_ids(lake)
    landed_by_loop = {"cmd-1"} if outcomes["ingest"] == 0 else set()
    assert set(stored) == set(first) | set(big) | landed_by_loop
    run = cli("sql", "select count(*) as n from events", "--json", "--lake", str(lake))
    assert json.loads(run.out)[0]["n"] == len(set(stored))
    assert temp_files(lake) == [], "temp files left after the next landing"
    print("FIGURES", json.dumps({"test": "full disk", "acknowledged": len(first),
                                 "refused_then_landed": len(big), "commands": len(outcomes),
                                 "failed": sum(c != 0 for c in outcomes.values()),
                                 "crashed": len(problems), "lost": 0}))
    assert problems == [], "\n".join(problems)
