"""A lake folder this user may not list (no read permission) is named by `lake check`, and every
read that needs it fails naming it, while reads of other periods answer.

`lake check` walked the data folders with rglob, which skips a folder it cannot list without a
word: it said "0 unreadable" (exit 0) while an hour of events was read by no command (`sql`
counted 0 rows for it, `events recent` showed none). Run as `nobody`, since root ignores
permissions.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from datetime import UTC, datetime

import pyarrow.parquet as pq
from conftest import as_nobody, event, give_to_nobody
from server_process import STAFF

from voice_monitor.compaction import MARK
from voice_monitor.lake import Lake
from voice_monitor.landing import land_records
from voice_monitor.rollups import run_hourly


def test_a_folder_this_user_cannot_list_fails_lake_check_naming_it(nobodys_folder):
    lake = Lake.create(nobodys_folder / "lake")
    now = datetime(2026, 2, 16, 14, 30, tzinfo=UTC)
    land_records(lake, [event("artifact_received", datetime(2026, 2, 16, h, 5, tzinfo=UTC))
                        for h in (12, 13)], now=now)
    give_to_nobody(nobodys_folder)
    closed = lake.root / "events" / "date=2026-02-16" / "hour=12"
    closed.chmod(0o000)

    done = as_nobody("lake", "check", "--json", "--lake", str(lake.root))
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["unlistable"] == [
        {"path": "events/date=2026-02-16/hour=12", "error": "Permission denied"}]
    (line,) = done.stderr.strip().splitlines()
    assert line == ("voice-monitor: error: 1 lake folder(s) this user cannot list, first "
                    "events/date=2026-02-16/hour=12 (Permission denied); give this user read "
                    f"access (chmod -R u+rX {closed}, or run as the lake's owner)"), line

    done = as_nobody("lake", "check", "--move-aside", "--lake", str(lake.root))
    assert done.returncode == 1 and closed.is_dir()  # access is the fix: never moved
    closed.chmod(0o755)
    done = as_nobody("lake", "check", "--lake", str(lake.root))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "checked 2 file(s): 0 unreadable"


# -- the reads that need such a folder fail naming it; the others answer ----------------------
HOUR_12, HOUR_13 = (datetime(2026, 2, 16, h, 5, tzinfo=UTC) for h in (12, 13))


def _lake_with_two_hours(base) -> Lake:
    """A lake whose events are 2 artifact_received at 12:05 and 3 at 13:05 on 2026-02-16, with
    their hourly snapshots built (as the lake's owner), then given to nobody."""
    lake = Lake.create(base / "lake")
    land_records(lake, [event("artifact_received", HOUR_12, organization_id="org-a")
                        for _ in range(2)]
                 + [event("artifact_received", HOUR_13, organization_id="org-a")
                    for _ in range(3)], now=datetime(2026, 2, 16, 14, 30, tzinfo=UTC))
    run_hourly(lake, datetime(2026, 2, 16, 14, 30, tzinfo=UTC))
    give_to_nobody(base)
    return lake


def _cannot_list(folder) -> str:
    rel = folder.as_posix().split("/lake/", 1)[1]
    return (f"cannot list lake folder {rel} (Permission denied), so the files in it cannot be "
            f"read; give this user read access (chmod -R u+rX {folder}, or run as the lake's "
            "owner)")


def _one_line(done) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    (line,) = done.stderr.strip().splitlines()
    return line


def test_event_reads_that_need_a_folder_this_user_cannot_list_fail_naming_it(nobodys_folder):
    lake = _lake_with_two_hours(nobodys_folder)
    root = str(lake.root)
    closed = lake.root / "events" / "date=2026-02-16" / "hour=12"
    closed.chmod(0o000)

    # sql: the events view needs every hour; before, it counted 3 (hour 13 only), exit 0
    done = as_nobody("sql", "--lake", root, "--json", "select count(*) as n from events")
    assert done.returncode == 1
    assert _one_line(done) == f"voice-monitor: error: SQL failed: Invalid Input Error: " \
                              f"{_cannot_list(closed)}"
    # the other views still answer: 2 hourly snapshots x (platform + org-a) rows
    done = as_nobody("sql", "--lake", root, "--json",
                     "select count(*) as n from pipeline_hourly")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [{"n": 4}]

    # events recent: the window of hour 13 never lists hour 12 (3 events); one with it fails
    done = as_nobody("events", "recent", "--lake", root, "--json",
                     "--start", "2026-02-16T13:00Z", "--end", "2026-02-16T14:00Z")
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["rows"]) == 3
    for window in ([], ["--start", "2026-02-16T12:00Z", "--end", "2026-02-16T13:00Z"]):
        done = as_nobody("events", "recent", "--lake", root, "--json", *window)
        assert done.returncode == 1, (window, done.stdout)  # before: 3 rows, or none, exit 0
        assert _one_line(done) == f"voice-monitor: error: {_cannot_list(closed)}"


def test_a_closed_date_folder_is_named_and_one_that_can_be_entered_is_read(nobodys_folder):
    lake = _lake_with_two_hours(nobodys_folder)
    root = str(lake.root)
    day = lake.root / "events" / "date=2026-02-16"
    day.chmod(0o000)  # neither listed nor entered: its hours are named by the day
    done = as_nobody("events", "recent", "--lake", root, "--json")
    assert done.returncode == 1
    assert _one_line(done) == f"voice-monitor: error: {_cannot_list(day)}"
    done = as_nobody("events", "recent", "--lake", root, "--json",
                     "--start", "2026-02-15T00:00Z", "--end", "2026-02-16T00:00Z")
    assert (done.returncode, json.loads(done.stdout)["rows"]) == (0, [])  # the day before

    day.chmod(0o111)  # entered but not listed: every hour of it is looked for by name
    done = as_nobody("events", "recent", "--lake", root, "--json",
                     "--start", "2026-02-16T12:00Z", "--end", "2026-02-16T13:00Z")
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["rows"]) == 2
    done = as_nobody("sql", "--lake", root, "select count(*) from events")  # DuckDB's glob
    assert done.returncode == 1  # would skip the whole day: named instead
    assert _one_line(done).endswith(_cannot_list(day))


def test_snapshot_reads_that_need_a_closed_folder_fail_naming_it(nobodys_folder):
    lake = _lake_with_two_hours(nobodys_folder)
    root = str(lake.root)
    closed = lake.root / "snapshots" / "pipeline_hourly" / "date=2026-02-16" / "hour=12"
    closed.chmod(0o000)
    for what in ("historical", "orgs"):  # before: "permission denied ...; give write access"
        done = as_nobody("metrics", what, "--lake", root, "--json",
                         "--start", "2026-02-16T12:00Z", "--end", "2026-02-16T14:00Z")
        assert done.returncode == 1, done.stdout
        assert _one_line(done) == f"voice-monitor: error: {_cannot_list(closed)}"
    done = as_nobody("metrics", "historical", "--lake", root, "--json",
                     "--start", "2026-02-16T13:00Z", "--end", "2026-02-16T14:00Z")
    assert done.returncode == 0, done.stderr
    assert [row["event_count"] for row in json.loads(done.stdout)] == [3]
    # stage rows live in stage_hourly, which this user may list: the four processing stages,
    # each with zeros (only artifact_received landed)
    done = as_nobody("metrics", "stages", "--lake", root, "--json",
                     "--start", "2026-02-16T12:00Z", "--end", "2026-02-16T14:00Z")
    assert done.returncode == 0, done.stderr
    assert [(r["pipeline_stage"], r["started"], r["succeeded"], r["failed"])
            for r in json.loads(done.stdout)] == [
        (stage, 0, 0, 0) for stage in ("transcription", "claims_extraction",
                                        "entity_resolution", "draft_generation")]
    done = as_nobody("sql", "--lake", root, "select count(*) from pipeline_hourly")
    assert done.returncode == 1  # before: 2 rows (hour 13's), exit 0
    assert _one_line(done).endswith(_cannot_list(closed))


def test_a_rollup_fails_the_hour_it_cannot_list_raises_the_alert_and_builds_the_rest(
        nobodys_folder):
    lake = _lake_with_two_hours(nobodys_folder)
    root = str(lake.root)
    for table in ("pipeline_hourly", "stage_hourly"):  # built again below, from the events
        for hour in ("12", "13"):
            shutil.rmtree(lake.root / "snapshots" / table / "date=2026-02-16" / f"hour={hour}")
    closed = lake.root / "events" / "date=2026-02-16" / "hour=12"
    closed.chmod(0o000)

    done = as_nobody("rollup", "hourly", "--lake", root, "--now", "2026-02-16T14:30:00Z")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        f"voice-monitor: error: could not build 2026-02-16T12:00:00Z: {_cannot_list(closed)}")
    # hour 13 (it pairs with nothing earlier) was built from its 3 events; hour 12 not at all,
    # never a snapshot of zero events
    assert _platform_events(lake, "13") == 3
    assert not (lake.root / "snapshots" / "pipeline_hourly" / "date=2026-02-16"
                / "hour=12").exists()

    done = as_nobody("alerts", "check", "--lake", root, "--now", "2026-02-16T14:35:00Z", "--json")
    raised = [a for a in json.loads(done.stdout)["raised"]
              if a["alert_type"] == "lake_file_unreadable"]
    assert [a["message"] for a in raised] == [
        "1 lake folder(s) this user cannot list: events/date=2026-02-16/hour=12; the periods "
        "that need them are not built; give this user read access (chmod -R u+rX "
        f"{closed}, or run as the lake's owner)"]

    closed.chmod(0o755)  # access back: the hour builds (2 events), the alert resolves
    done = as_nobody("rollup", "hourly", "--lake", root, "--now", "2026-02-16T14:30:00Z")
    assert done.returncode == 0, done.stderr
    assert _platform_events(lake, "12") == 2
    done = as_nobody("alerts", "check", "--lake", root, "--now", "2026-02-16T14:40:00Z", "--json")
    assert [a["alert_type"] for a in json.loads(done.stdout)["resolved"]] == [
        "lake_file_unreadable"]


def _platform_events(lake: Lake, hour: str) -> int:
    folder = lake.root / "snapshots" / "pipeline_hourly" / "date=2026-02-16" / f"hour={hour}"
    rows = pq.read_table(folder).to_pylist()
    return next(r["event_count"] for r in rows if r["organization_id"] is None)


def test_the_api_answers_500_naming_a_folder_the_server_cannot_list(nobodys_folder):
    lake = _lake_with_two_hours(nobodys_folder)
    closed = lake.root / "events" / "date=2026-02-16" / "hour=12"
    closed.chmod(0o000)
    # the app started in a new interpreter (this Python, whose standard library nobody cannot
    # read: it is imported first), which then turns itself into nobody; a fork of this process,
    # whose threads hold locks the child would wait on for ever, hung in the full suite. Its
    # answers come back as JSON
    script = textwrap.dedent(f"""
        import importlib.readers, json, os, pwd, traceback
        from fastapi.testclient import TestClient
        from voice_monitor.server.app import create_app
        with TestClient(create_app({str(lake.root)!r}, staff_tokens=[{STAFF!r}])) as http:
            # a first page as root, which may list the folder: what answering imports, imported
            http.get("/api/v1/events", headers={{"Authorization": "Bearer {STAFF}"}})
            nobody = pwd.getpwnam("nobody")
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            answers = [http.get("/api/v1/events", headers={{"Authorization": "Bearer {STAFF}"}},
                                params=params)
                       for params in ({{"start": "2026-02-16T13:00:00Z",
                                        "end": "2026-02-16T14:00:00Z"}}, {{}})]
        print(json.dumps([[a.status_code, a.json()] for a in answers]), flush=True)
        os._exit(0)  # (not the interpreter's teardown, which aborts after TestClient: note16)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**os.environ, "HOME": "/tmp"}, timeout=300)
    assert done.returncode == 0, done.stderr
    (ok, page), (closed_status, closed_detail) = json.loads(done.stdout.strip().splitlines()[-1])
    assert (ok, len(page["rows"])) == (200, 3)  # hour 13's: the window never lists hour 12
    assert closed_status == 500  # before: 200 with hour 13's 3 events only
    assert closed_detail == {"detail": "cannot list lake folder events/date=2026-02-16/hour=12; "
                                       "give the server's user read access to it (the "
                                       "server's log says how)"}


def test_compaction_leaves_an_hour_it_cannot_list_and_compacts_the_rest(nobodys_folder):
    lake = _lake_with_two_hours(nobodys_folder)
    closed = lake.root / "events" / "date=2026-02-16" / "hour=12"
    closed.chmod(0o000)
    done = as_nobody("compact", "--lake", str(lake.root), "--now", "2026-02-16T16:30:00Z")
    assert done.returncode == 1  # before: hour 12 passed over without a word, exit 0
    assert _one_line(done) == ("voice-monitor: error: left hour 2026-02-16T12:00:00Z "
                               f"uncompacted: {_cannot_list(closed)}")
    (merged,) = (lake.root / "events" / "date=2026-02-16" / "hour=13").iterdir()
    assert merged.stem.endswith(MARK) and pq.read_metadata(merged).num_rows == 3


def test_retention_keeps_an_expired_hour_it_cannot_list_and_drops_the_rest(nobodys_folder):
    lake = _lake_with_two_hours(nobodys_folder)
    day = lake.root / "events" / "date=2026-02-16"
    closed = day / "hour=12"
    closed.chmod(0o000)
    # both hours ended more than 48 h before this now; the hourly snapshots are kept 7 days
    done = as_nobody("retention", "--lake", str(lake.root), "--now", "2026-02-19T14:30:00Z")
    assert done.returncode == 1  # before: "permission denied ...; give write access", none
    assert _one_line(done) == ("voice-monitor: error: kept expired partition "  # dropped
                               f"events/date=2026-02-16/hour=12: {_cannot_list(closed)}")
    assert sorted(p.name for p in day.iterdir()) == ["hour=12"]  # hour 13 dropped
    closed.chmod(0o755)
    done = as_nobody("retention", "--lake", str(lake.root), "--now", "2026-02-19T14:30:00Z")
    assert done.returncode == 0, done.stderr
    assert not day.exists()
