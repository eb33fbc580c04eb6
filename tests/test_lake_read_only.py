"""A lake on a read-only mount (a snapshot, an analyst's mount): every reading command answers,
and a command that must write says in one line that the lake is read-only and what to do.

`metrics realtime` failed with "OperationalError: unable to open database file (run with --debug
for the traceback)" (the embedded counter store opens its SQLite file for writing), `lake check`
failed writing its record of unreadable files, and `ingest` failed with the same OperationalError
naming neither the file nor the fix. Needs root to bind-mount (as the full-disk tests do).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from datetime import UTC, datetime

import pytest
from conftest import assert_one_line_error, event, run_main

from voice_monitor.landing import land_records


def at(hour: int, minute: int) -> datetime:
    return datetime(2026, 2, 16, hour, minute, tzinfo=UTC)


@pytest.fixture
def read_only_lake(lake):
    """The lake with events landed, then bind-mounted read-only over itself."""
    land_records(lake, [
        event("artifact_received", at(13, 40), organization_id="org-a"),
        event("artifact_received", at(13, 50), organization_id="org-b"),
        event("artifact_received", at(14, 10)),
        event("transcription_failed", at(14, 20), organization_id="org-a"),
        event("artifact_completed", at(12, 10), organization_id="org-a"),  # before the window
    ], now=at(14, 29))
    lake.alerts_dir.mkdir()  # (as the first health check makes it)
    if os.geteuid() != 0:
        pytest.skip("a read-only bind mount needs root")
    root = str(lake.root)
    done = subprocess.run(["mount", "--bind", root, root], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {done.stderr.strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", root], check=True, capture_output=True)
        with pytest.raises(OSError):
            (lake.root / "probe").write_text("x")
        yield lake
    finally:
        subprocess.run(["umount", "-l", root], check=False)


def test_realtime_metrics_read_a_read_only_lake(capsys, read_only_lake):
    lake = read_only_lake
    code, out, err = run_main(capsys, "metrics", "realtime", "--lake", str(lake.root),
                              "--now", "2026-02-16T14:30:00Z", "--json")
    assert code == 0, err
    got = json.loads(out)
    # window 13:31 .. 14:30: three received (two of them with an organization), one failure
    assert (got["artifacts_received"], got["failures"], got["artifacts_completed"]) == (3, 1, 0)
    code, out, err = run_main(capsys, "metrics", "realtime", "--lake", str(lake.root),
                              "--now", "2026-02-16T14:30:00Z", "--org", "org-a", "--json")
    assert code == 0, err
    got = json.loads(out)
    assert (got["artifacts_received"], got["failures"]) == (1, 1)


def test_lake_check_reads_a_read_only_lake(capsys, read_only_lake):
    code, out, err = run_main(capsys, "lake", "check", "--lake", str(read_only_lake.root))
    assert code == 0, err
    assert "0 unreadable" in out


def test_retention_dry_run_reads_a_read_only_lake(capsys, read_only_lake):
    """`retention --dry-run` only lists, as the docs say it answers on a read-only lake; it
    failed taking the alert log's lock (`alerts/.lock`, a file it opened for writing)."""
    code, out, err = run_main(capsys, "retention", "--dry-run", "--now", "2026-02-19T00:00:00Z",
                              "--json", "--lake", str(read_only_lake.root))
    assert code == 0, err
    # the hours 12, 13 and 14 of 2026-02-16 ended 48 h or more before the 19th began
    assert json.loads(out)["counts"]["events"] == 3, out


def test_writing_to_a_read_only_lake_is_one_line_naming_it(capsys, read_only_lake, tmp_path):
    lake = read_only_lake
    path = tmp_path / "more.jsonl"
    path.write_text(json.dumps(event("artifact_received", at(14, 25))) + "\n")
    for argv in (["ingest", str(path)], ["rollup", "hourly", "--now", "2026-02-16T15:30:00Z"],
                 ["alerts", "check", "--now", "2026-02-16T14:30:00Z"]):
        code, _, err = run_main(capsys, *argv, "--lake", str(lake.root))
        assert_one_line_error(code, err, status=1)
        assert "read-only" in err.lower() and str(lake.root) in err, err
        assert "write access" in err, err
        assert "--debug" not in err, err


def test_a_collector_starting_on_a_read_only_lake_with_nothing_to_count_is_quiet(
        caplog, read_only_lake):
    """serve on a read-only lake logged 'the real-time counters could not catch up' at every
    start once the catch-up opened the store first (123b6aa), though its events are older than
    the counters' horizon and the store has no mark to clear. Events within the horizon that
    cannot be counted are still said."""
    from voice_monitor.server.catch_up import catch_up

    with caplog.at_level(logging.DEBUG, logger="voice_monitor.collector"):
        assert catch_up(read_only_lake) == 0  # (the events are of 2026-02-16)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="voice_monitor.collector"):
        assert catch_up(read_only_lake, now=at(14, 30)) == 0
    [said] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert "could not catch up" in said
