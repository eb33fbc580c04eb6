"""Files out of place in the lake (contract §4): a folder under events/ that is not
`date=YYYY-MM-DD/hour=HH`, or a Parquet file beside the partitions, never stops the rest of the
lake; `voice-monitor lake check` lists each with the fix, and `--move-aside` moves it.

The lake: 2 artifact_received events at 11:05 and 3 at 12:05 of 2026-02-16. A copy of the
11:00 file (2 events) is put in each stray place, so a reader that read one would count 2 more.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime

import pytest
from conftest import NOW, event, run_main

from voice_monitor.lake import Lake
from voice_monitor.landing import land_records

NOW_ARG = "2026-02-16T14:30:00Z"
STRAYS = ["events/date=garbage/hour=07/x.parquet", "events/date=2026-02-16/hour=99/x.parquet",
          "events/date=2026-13-45/hour=01/x.parquet", "events/date=2026-02-16/hour=7/x.parquet",
          "events/date=2026-02-16/x.parquet", "events/x.parquet"]


def at(hour: int, minute: int = 5) -> datetime:
    return datetime(2026, 2, 16, hour, minute, tzinfo=UTC)


@pytest.fixture
def stray_lake(lake) -> Lake:
    land_records(lake, [event("artifact_received", at(11, i)) for i in range(2)], now=NOW)
    land_records(lake, [event("artifact_received", at(12, i)) for i in range(3)], now=NOW)
    (source,) = lake.event_files(at(11))
    for rel in STRAYS:
        (lake.root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, lake.root / rel)
    return lake


def test_sql_and_reads_see_only_the_files_in_place(stray_lake, capsys):
    root = ["--lake", str(stray_lake.root)]
    code, out, err = run_main(capsys, "sql", *root, "--json",
                              "select count(*) as n, count(distinct hour) as hours from events")
    assert code == 0, err
    assert json.loads(out) == [{"n": 5, "hours": 2}]  # 2 at 11:00 + 3 at 12:00, no copy
    code, out, err = run_main(capsys, "events", "recent", *root, "--json")
    assert code == 0, err
    assert len(json.loads(out)["rows"]) == 5
    assert stray_lake.event_hours() == [at(11, 0), at(12, 0)]  # hour=99 is no hour 03:00 next day


def test_rollups_retention_and_checks_run_past_the_strays(stray_lake, capsys):
    root = ["--lake", str(stray_lake.root), "--now", NOW_ARG]
    code, out, err = run_main(capsys, "rollup", "hourly", *root)
    assert code == 0, err
    # the hours with events and the previous complete hour (13:00, empty); no hour from a stray
    assert "built 3 hour(s): 2026-02-16T11:00Z, 2026-02-16T12:00Z, 2026-02-16T13:00Z" in out
    for argv in (["rollup", "daily"], ["retention", "--dry-run"],
                 ["alerts", "check"], ["compact"]):
        code, out, err = run_main(capsys, *argv, *root)
        assert code == 0, (argv, err)


def test_lake_check_lists_each_stray_with_the_fix_and_moves_it_aside(stray_lake, capsys):
    root = ["--lake", str(stray_lake.root)]
    code, out, err = run_main(capsys, "lake", "check", *root)
    assert code == 1
    listed = [line.split(":")[0].removeprefix("out of place ") for line in out.splitlines()
              if line.startswith("out of place ")]
    assert sorted(listed) == sorted(STRAYS)
    assert out.splitlines()[-1] == "checked 8 file(s): 0 unreadable, 6 out of place"
    (line,) = err.strip().splitlines()
    assert "6 out-of-place" in line and "voice-monitor lake check --move-aside" in line
    code, out, err = run_main(capsys, "lake", "check", "--move-aside", *root)
    assert code == 0, err
    for rel in STRAYS:
        assert not (stray_lake.root / rel).exists()
        assert (stray_lake.root / "corrupt" / rel).is_file()
    code, out, _ = run_main(capsys, "lake", "check", *root)
    assert (code, out.strip()) == (0, "checked 2 file(s): 0 unreadable")


# -- another table's file inside an hour folder ---------------------------------------------
@pytest.fixture
def foreign_lake(lake, capsys) -> tuple[Lake, str]:
    """11:00 (2 events) and 12:00 (3 events), hourly snapshots built, and 12:00's pipeline
    snapshot file copied into events/…/hour=12/ (a bad copy): returns the lake and its path."""
    land_records(lake, [event("artifact_received", at(11, i)) for i in range(2)], now=NOW)
    land_records(lake, [event("artifact_received", at(12, i)) for i in range(3)], now=NOW)
    code, _, err = run_main(capsys, "rollup", "hourly", "--lake", str(lake.root), "--now", NOW_ARG)
    assert code == 0, err
    (snapshot,) = lake.snapshot_partition("pipeline_hourly", at(12, 0)).glob("*.parquet")
    rel = "events/date=2026-02-16/hour=12/snapshot-copy.parquet"
    shutil.copy(snapshot, lake.root / rel)
    return lake, rel


def test_another_tables_file_fails_the_periods_that_need_it_naming_it(foreign_lake, capsys):
    lake, rel = foreign_lake
    root = ["--lake", str(lake.root), "--now", NOW_ARG]
    code, out, err = run_main(capsys, "rollup", "hourly", "--hour", "2026-02-16T12", *root)
    assert code == 1
    (line,) = err.strip().splitlines()
    assert rel in line and "not an events file: no column event_id" in line
    assert "voice-monitor lake check --move-aside" in line
    assert run_main(capsys, "rollup", "hourly", "--hour", "2026-02-16T11", *root)[0] == 0
    # compaction never merges it in: the hour is left as it is
    code, out, err = run_main(capsys, "compact", *root)
    assert code == 1 and rel in err
    assert (lake.root / rel).is_file() and len(lake.event_files(at(12))) == 2
    # sql: events fails naming it; another table still answers
    code, out, err = run_main(capsys, "sql", "--lake", str(lake.root), "select count(*) from events")
    assert code == 1 and rel in err
    code, out, err = run_main(capsys, "sql", "--lake", str(lake.root), "--json",
                              "select count(*) as n from pipeline_hourly where scope = 'platform'")
    assert (code, json.loads(out)) == (0, [{"n": 3}]), err  # 11:00, 12:00, 13:00
    code, out, err = run_main(capsys, "alerts", "check", *root, "--json")
    raised = [a for a in json.loads(out)["raised"] if a["alert_type"] == "lake_file_unreadable"]
    assert len(raised) == 1 and rel in raised[0]["message"]


def test_lake_check_lists_another_tables_file_and_moves_it_aside(foreign_lake, capsys):
    lake, rel = foreign_lake
    root = ["--lake", str(lake.root)]
    code, out, err = run_main(capsys, "lake", "check", *root)
    assert code == 1
    assert f"unreadable {rel}: not an events file: no column event_id, event_type, timestamp" in out
    code, out, err = run_main(capsys, "lake", "check", "--move-aside", *root)
    assert code == 0, err
    assert (lake.root / "corrupt" / rel).is_file()
    code, out, err = run_main(capsys, "sql", "--lake", str(lake.root), "--json",
                              "select count(*) as n from events")
    assert (code, json.loads(out)) == (0, [{"n": 5}]), err



def test_retention_drops_an_expired_hour_but_not_the_files_it_does_not_own(foreign_lake, capsys):
    """Retention dropped another table's file (and any stray) with its expired partition:
    it now drops the partition's own files, leaves the others where they were, and the run
    fails naming each, with the fix (as for an unreadable file, the run is not a success)."""
    lake, rel = foreign_lake
    notes = lake.root / "events/date=2026-02-16/hour=11/notes.txt"
    notes.write_text("hand-written notes\n")
    snapshot = (lake.root / rel).read_bytes()
    code, out, err = run_main(capsys, "retention", "--lake", str(lake.root),
                              "--now", "2026-02-19T14:30:00Z")  # every hour has expired
    assert code == 1
    (line,) = err.strip().splitlines()
    assert line == (
        "voice-monitor: error: kept expired partition events/date=2026-02-16/hour=11 (and 1 "
        "more): its own files were dropped; events/date=2026-02-16/hour=11/notes.txt is not "
        "a Parquet file, not retention's to delete: move it out of the lake")
    assert ("kept events/date=2026-02-16/hour=12: its own files were dropped; "
            f"{rel} is not an events file: no column event_id, event_type, timestamp, not "
            "retention's to delete: move it aside with: voice-monitor lake check --move-aside "
            f"--lake {lake.root}") in out
    # each hour's events are gone (and remembered as dropped); what was not theirs stays
    assert lake.event_hours() == [at(12, 0)]  # the snapshot copy, which holds no events
    assert lake.event_files(at(11)) == [] and notes.read_text() == "hand-written notes\n"
    assert [p.name for p in lake.event_files(at(12))] == ["snapshot-copy.parquet"]
    assert (lake.root / rel).read_bytes() == snapshot
    assert out.startswith("deleted 2 partition(s)")  # 11:00 and 12:00: their events
    # moved aside as told, the next run has nothing left to keep
    assert run_main(capsys, "lake", "check", "--move-aside", "--lake", str(lake.root))[0] == 0
    notes.unlink()
    code, out, err = run_main(capsys, "retention", "--lake", str(lake.root),
                              "--now", "2026-02-19T14:30:00Z")
    assert code == 0, err

def test_a_stray_folder_on_an_object_store_lake_leaves_the_rest_readable(tmp_path):
    import os

    from voice_monitor import adhoc, storage

    lake = Lake.create(f"memory://strays-{os.getpid()}-{tmp_path.name}")
    land_records(lake, [event("artifact_received", at(11, i)) for i in range(2)], now=NOW)
    (source,) = lake.event_files(at(11))
    data = source.fs.cat_file(source.path)
    for rel in STRAYS[:2]:  # date=garbage, hour=99
        storage.put(lake.root / rel, data)
    # (read-only mode cannot open memory:// files at all, so the test runs it trusted)
    result = adhoc.run_query(lake, "select count(*), count(distinct hour) from events",
                             allow_writes=True)
    assert result.rows == [(2, 1)]


def test_landing_into_an_hour_holding_another_tables_file_names_it_and_the_fix(
        foreign_lake, tmp_path, capsys):
    # the landing reads the hour's event ids (duplicates): it failed with DuckDB's "schema
    # mismatch in glob" and a hint to run with --debug
    import subprocess
    import sys
    from pathlib import Path

    lake, rel = foreign_lake
    path = tmp_path / "late.jsonl"
    path.write_text(json.dumps(event("artifact_received", at(12, 40), event_id="e-late")) + "\n")
    root = ["--lake", str(lake.root), "--now", NOW_ARG]
    # a new process, as on the command line (this one's index of the hour, kept since its own
    # landing there, does not list the folder again)
    done = subprocess.run([str(Path(sys.executable).parent / "voice-monitor"), "ingest",
                           str(path), *root], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert rel in line and "not an events file" in line
    assert "voice-monitor lake check --move-aside" in line
    # once it is moved aside the same file lands; another hour lands meanwhile
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps(event("artifact_received", at(11, 40))) + "\n")
    assert run_main(capsys, "ingest", str(other), *root)[0] == 0
    assert run_main(capsys, "lake", "check", "--move-aside", "--lake", str(lake.root))[0] == 0
    code, out, err = run_main(capsys, "ingest", str(path), *root)
    assert code == 0, err


def test_a_folder_named_like_a_parquet_file_in_an_hour_is_not_read_as_one(lake, capsys):
    """Spark and DuckDB write a partitioned Parquet "file" as a folder (spark.parquet/part-0…):
    copied into an hour folder, it failed that hour's rollup for ever ('is a directory'), naming
    `lake check --move-aside` as the fix, which found nothing to move. The folder is no file of
    the hour; it and the files inside it are out of place, listed and moved aside."""
    land_records(lake, [event("artifact_received", at(11, i)) for i in range(2)], now=NOW)
    (source,) = lake.event_files(at(11))
    inside = "events/date=2026-02-16/hour=11/spark.parquet/part-0.parquet"
    (lake.root / inside).parent.mkdir()
    shutil.copy(source, lake.root / inside)  # the same 2 events: read, they would count 4
    root = ["--lake", str(lake.root)]
    code, out, err = run_main(capsys, "rollup", "hourly", "--hour", "2026-02-16T11", *root,
                              "--now", NOW_ARG)
    assert code == 0, err
    code, out, err = run_main(capsys, "sql", *root, "--json",
                              "select artifacts_received from pipeline_hourly where "
                              "scope = 'platform'")
    assert (code, json.loads(out)) == (0, [{"artifacts_received": 2}]), err
    code, out, err = run_main(capsys, "lake", "check", *root)
    assert code == 1
    listed = [line.split(": ")[0] for line in out.splitlines()[:2]]
    assert listed == [f"out of place {inside.rsplit('/', 1)[0]}", f"out of place {inside}"]
    code, out, err = run_main(capsys, "lake", "check", "--move-aside", *root)
    assert code == 0, err
    assert (lake.root / "corrupt" / inside).is_file()  # the folder, moved whole
    assert not (lake.root / inside).parent.exists()
    code, out, err = run_main(capsys, "rollup", "hourly", "--hour", "2026-02-16T11", *root,
                              "--now", NOW_ARG)
    assert code == 0, err


def test_a_folder_named_organizations_parquet_is_listed_and_moved_aside(lake, capsys):
    """dimensions/organizations.parquet written by Spark is a folder: the organizations view
    failed ('is a directory') naming `lake check --move-aside`, which listed only the file inside
    it and, once that was moved, nothing, so the view failed for ever. The folder itself is out
    of place: listed, and moved aside whole."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    land_records(lake, [event("artifact_received", at(11))], now=NOW)
    folder = lake.root / "dimensions" / "organizations.parquet"
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"organization_id": ["org-1"], "name": ["Acme"]}),
                   folder / "part-00000.parquet")
    root = ["--lake", str(lake.root)]
    code, out, err = run_main(capsys, "lake", "check", "--json", *root)
    assert code == 1
    assert [row["path"] for row in json.loads(out)["out_of_place"]] == [
        "dimensions/organizations.parquet", "dimensions/organizations.parquet/part-00000.parquet"]
    code, out, err = run_main(capsys, "lake", "check", "--move-aside", *root)
    assert code == 0, err
    assert out.splitlines()[-1] == "checked 2 file(s): 0 unreadable, 2 out of place, 1 moved aside"
    # the folder's line as without --move-aside: its readers fail on it, so not "(no command
    # reads it)", which was added once it had been moved (no folder there any more)
    assert out.splitlines()[0].endswith("(voice-monitor ingest; orgs load FILE.csv for names)")
    assert out.splitlines()[1].endswith("(no command reads it)")  # the file inside it
    assert not folder.exists()
    assert (lake.root / "corrupt" / "dimensions" / "organizations.parquet" / "part-00000.parquet"
            ).is_file()
    code, out, err = run_main(capsys, "sql", *root, "--json", "select * from organizations")
    assert (code, json.loads(out)) == (0, []), err
    assert run_main(capsys, "lake", "check", *root)[0] == 0
