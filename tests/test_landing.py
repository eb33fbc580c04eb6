"""Landing (contract §3-§4): partitions by event time, quarantine rows, duplicates, the CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from conftest import NOW, event, run_main, ts

from voice_monitor.counters import realtime_metrics
from voice_monitor.lake import EVENTS_READER, LAKE_MARKER, Lake, NoLakeError, connect
from voice_monitor.landing import (
    InputFileError,
    LandingResult,
    ingest_file,
    land_lines,
    land_records,
)
from voice_monitor.retention import run_retention


def rel_files(lake: Lake, base: str) -> list[str]:
    """The folders (relative to the lake) holding Parquet files under `base`."""
    return sorted({str(p.parent.relative_to(lake.root)) for p in (lake.root / base).rglob("*.parquet")})


def events_table(lake: Lake, dedupe: bool = False) -> list[tuple]:
    """(event_id, hour, organization_id) of stored events; with `dedupe`, first landed wins."""
    files = [str(p) for p in sorted(lake.events_dir.rglob("*.parquet"))]
    if not files:
        return []
    qualify = ("qualify row_number() over (partition by event_id, date, hour "
               "order by ingested_at, filename, file_row_number) = 1") if dedupe else ""
    reader = EVENTS_READER.replace("union_by_name = true", "union_by_name = true, filename = true, "
                                   "file_row_number = true")
    return connect().execute(
        f"select event_id, hour, organization_id from {reader} {qualify} order by all",
        {"files": files},
    ).fetchall()


def quarantine_rows(lake: Lake) -> list[tuple]:
    files = [str(p) for p in sorted(lake.quarantine_dir.rglob("*.parquet"))]
    return connect().execute(
        "select raw, reason, source, received_at from read_parquet($f) order by raw", {"f": files}
    ).fetchall()


def test_partitions_by_event_time_utc(lake):
    records = [
        event("artifact_received", datetime(2026, 2, 16, 13, 59, 59, 999_000, tzinfo=UTC)),
        event("artifact_received", datetime(2026, 2, 16, 14, tzinfo=UTC)),
        # 23:10 at UTC-5 on the 15th is 04:10 UTC on the 16th
        {"event_id": "ny", "event_type": "artifact_received", "timestamp": "2026-02-15T23:10:00-05:00"},
        # old events land in their own (old) hour: imports and backfills need them
        event("artifact_received", datetime(2025, 12, 31, 23, 0, tzinfo=UTC)),
    ]
    result = land_records(lake, records, now=NOW)
    expected = ["events/date=2025-12-31/hour=23", "events/date=2026-02-16/hour=04",
                "events/date=2026-02-16/hour=13", "events/date=2026-02-16/hour=14"]
    assert result.partitions == expected
    assert rel_files(lake, "events") == expected
    assert rel_files(lake, "quarantine") == []


def test_quarantine_rows_and_path(lake):
    # received just before midnight UTC: the quarantine date is the UTC date of receipt
    now = datetime(2026, 2, 16, 23, 59, 59, tzinfo=UTC)
    lines = ["{not json", '{"event_id": "q1", "event_type": "artifact_received"}']
    result = land_lines(lake, lines, source="upload.jsonl", now=now)
    assert (result.accepted, result.quarantined) == (0, 2)
    assert rel_files(lake, "quarantine") == ["quarantine/date=2026-02-16"]
    assert quarantine_rows(lake) == [
        ('{"event_id": "q1", "event_type": "artifact_received"}', "timestamp is required",
         "upload.jsonl", now),
        ("{not json", "record is not valid JSON", "upload.jsonl", now),
    ]
    assert result.reasons == {"timestamp is required": 1, "record is not valid JSON": 1}


def test_a_deleted_lake_is_not_made_again_by_landing(lake):
    # the Python API holding a Lake whose folder was deleted (or unmounted): landing made
    # quarantine/, events/ and state/ there, a lake without its marker, and answered as usual
    land_records(lake, [event("artifact_received", NOW - timedelta(minutes=1), event_id="e1")],
                 now=NOW)
    shutil.rmtree(lake.root)
    for records in ([{"event_type": "x"}],  # a reject alone, then a valid event
                    [event("artifact_received", NOW - timedelta(minutes=1), event_id="e2")]):
        with pytest.raises(NoLakeError) as raised:
            land_records(lake, records, now=NOW)
        assert str(raised.value) == (f"no lake at {lake.root}; create it with "
                                     f"voice-monitor init {lake.root}")
        assert not lake.root.exists()
    Lake.create(lake.root)  # made again: landing works again
    result = land_records(lake, [event("artifact_received", NOW - timedelta(minutes=1),
                                       event_id="e3")], now=NOW)
    assert (result.accepted, result.quarantined) == (1, 0)
    assert [row[0] for row in events_table(lake)] == ["e3"]


def test_a_lake_landing_made_still_lands_once_retention_emptied_it(tmp_path):
    # `land_records(Lake(path))` makes its lake, marker and all; retention dropping its only
    # hour removes every data folder: the same handle lands again (it was refused as "no lake
    # at ..." when landing made a lake without the marker, which those folders alone made one)
    lake = Lake(tmp_path / "made")
    old = NOW - timedelta(days=40)
    land_records(lake, [event("artifact_received", old, event_id="e1")], now=old)
    assert (lake.root / LAKE_MARKER).is_file()
    dropped = run_retention(lake, NOW).deleted
    assert [p for p in dropped if p.startswith("events/")] == [
        f"events/date={old:%Y-%m-%d}/hour={old:%H}"]
    assert not lake.events_dir.exists() and lake.exists()
    result = land_records(lake, [event("artifact_received", NOW - timedelta(minutes=1),
                                       event_id="e2")], now=NOW)
    assert (result.accepted, result.quarantined) == (1, 0)
    assert [row[0] for row in events_table(lake)] == ["e2"]


def test_a_lake_the_python_api_made_is_a_lake_every_command_opens(tmp_path, capsys):
    # land_records on a Lake whose folder did not exist made events/, quarantine/ and state/
    # but no marker: once retention emptied the data folders, `sql`, `lake check` and the read
    # API refused the lake ("no lake at ..."), and before that it was a lake only by its folders
    lake = Lake(tmp_path / "new")
    result = land_records(lake, [
        event("artifact_received", NOW - timedelta(minutes=10), event_id="e1"),  # hour 14
        event("artifact_received", NOW - timedelta(minutes=50), event_id="e2"),  # hour 13
        event("artifact_received", NOW - timedelta(minutes=20), event_id="e1"),  # e1 again
        {"event_type": "artifact_received"},  # no event_id, no timestamp: quarantined
    ], now=NOW)
    assert (result.accepted, result.duplicates, result.quarantined) == (3, 1, 1)
    assert (lake.root / LAKE_MARKER).is_file() and (lake.state_dir / "reserve").is_file()
    root = str(lake.root)
    # the events view counts the copy of e1 once: e1 and e2; one quarantined record
    code, out, err = run_main(capsys, "sql", "--lake", root, "--json",
                              "select (select count(*) from events) as events, "
                              "(select count(*) from quarantine) as quarantined")
    assert code == 0, err
    assert json.loads(out) == [{"events": 2, "quarantined": 1}]
    assert run_main(capsys, "lake", "check", "--lake", root)[0] == 0
    assert realtime_metrics(lake, now=NOW)["artifacts_received"] == 2  # e1 and e2, once each
    # 31 days on, retention has dropped both hours (48 h) and the quarantine day (30 d): an
    # empty lake, still a lake
    later = NOW + timedelta(days=31)
    run_retention(lake, later)
    assert not lake.events_dir.exists() and not lake.quarantine_dir.exists()
    code, out, err = run_main(capsys, "sql", "--lake", root, "--json",
                              "select count(*) as n from events")
    assert code == 0, err
    assert json.loads(out) == [{"n": 0}]
    assert run_main(capsys, "lake", "check", "--lake", root)[0] == 0
    assert realtime_metrics(lake, now=later)["artifacts_received"] == 0


def test_the_landing_functions_take_a_path_as_the_read_functions_do(tmp_path):
    # land_records("./data", ...) raised AttributeError ('str' object has no attribute
    # 'remote') though every read function takes a path: a str or a pathlib.Path is a lake
    # path here too, and the first landing makes the lake there (as with a Lake handle)
    root = tmp_path / "by path [1]"
    result = land_records(str(root), [
        event("artifact_received", NOW - timedelta(minutes=10), event_id="e1"),
        event("artifact_received", NOW - timedelta(minutes=20), event_id="e2"),
    ], now=NOW)
    assert (result.accepted, result.quarantined) == (2, 0)
    assert (root / LAKE_MARKER).is_file()
    events_file = tmp_path / "more.jsonl"
    events_file.write_text(json.dumps(event("artifact_failed", NOW - timedelta(minutes=5),
                                            event_id="e3")) + "\n")
    assert ingest_file(root, events_file, now=NOW).accepted == 1  # a pathlib.Path
    assert land_lines(str(root), ["not json"], source="t", now=NOW).quarantined == 1
    assert sorted(row[0] for row in events_table(Lake(root))) == ["e1", "e2", "e3"]
    assert realtime_metrics(str(root), now=NOW)["artifacts_received"] == 2
    with pytest.raises(ValueError, match=r"lake 42 is not a path; pass a folder"):
        land_records(42, [event("artifact_received", NOW, event_id="e4")], now=NOW)


def test_a_lake_made_before_the_marker_still_lands(lake):
    # an older lake has no marker: its events/ folder makes it a lake (Lake.exists)
    land_records(lake, [event("artifact_received", NOW - timedelta(minutes=1), event_id="e1")],
                 now=NOW)
    (lake.root / LAKE_MARKER).unlink()
    result = land_records(lake, [event("artifact_received", NOW - timedelta(minutes=2),
                                       event_id="e2")], now=NOW)
    assert result.accepted == 1
    assert sorted(row[0] for row in events_table(lake)) == ["e1", "e2"]


def test_reasons_summarised_by_first_rule(lake):
    result = land_lines(lake, ["{}", "{}"], source="t", now=NOW)
    # both records break three rules; the summary counts them under the first one
    assert result.reasons == {"event_id is required": 2}


def test_ingested_at_is_the_landing_now(lake):
    land_records(lake, [event("artifact_received", NOW - timedelta(minutes=1))], now=NOW)
    files = [str(p) for p in lake.events_dir.rglob("*.parquet")]
    assert connect().execute("select ingested_at from read_parquet($f)", {"f": files}
                             ).fetchall() == [(NOW,)]


def test_duplicates_same_hour_stored_but_counted_once(lake):
    first = event("artifact_received", NOW - timedelta(minutes=10), organization_id="org-1")
    copy = {**first, "organization_id": "org-2"}  # same event_id and hour, different content
    r1 = land_records(lake, [first], now=NOW)
    r2 = land_records(lake, [copy], now=NOW)
    assert (r1.accepted, r1.duplicates) == (1, 0)
    assert (r2.accepted, r2.duplicates) == (1, 1)  # "accepted" includes the duplicate
    hour = 14
    assert events_table(lake) == [(first["event_id"], hour, "org-1"), (first["event_id"], hour, "org-2")]
    assert events_table(lake, dedupe=True) == [(first["event_id"], hour, "org-1")]  # first landed wins
    assert realtime_metrics(lake, now=NOW)["artifacts_received"] == 1
    assert realtime_metrics(lake, "org-1", now=NOW)["artifacts_received"] == 1
    assert realtime_metrics(lake, "org-2", now=NOW)["artifacts_received"] == 0


def test_duplicates_within_one_batch(lake):
    e = event("artifact_received", NOW - timedelta(minutes=3))
    result = land_records(lake, [e, e, e], now=NOW)
    assert (result.accepted, result.duplicates) == (3, 2)
    assert realtime_metrics(lake, now=NOW)["artifacts_received"] == 1


def test_same_event_id_in_another_hour_is_another_event(lake):
    a = event("artifact_received", datetime(2026, 2, 16, 13, 45, tzinfo=UTC))
    b = {**a, "timestamp": ts(datetime(2026, 2, 16, 14, 10, tzinfo=UTC))}
    result = land_records(lake, [a, b], now=NOW)
    assert (result.accepted, result.duplicates) == (2, 0)
    assert len(events_table(lake, dedupe=True)) == 2
    # the window is 13:31 .. 14:30, so both count
    assert realtime_metrics(lake, now=NOW)["artifacts_received"] == 2


def test_blank_lines_are_not_records(lake, tmp_path):
    path = tmp_path / "in.jsonl"
    good = json.dumps(event("artifact_received", NOW - timedelta(minutes=1)))
    path.write_text(f"\n\n{good}\n   \n\t\r\n")
    result = ingest_file(lake, path, now=NOW)
    assert (result.accepted, result.quarantined) == (1, 0)


def test_empty_file_writes_nothing(lake, tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    assert ingest_file(lake, path, now=NOW).as_dict() == LandingResult().as_dict()
    assert not lake.events_dir.exists() and not lake.quarantine_dir.exists()


def test_unreadable_files(lake, tmp_path):
    with pytest.raises(InputFileError, match="cannot read '.*missing.jsonl'.*check the path"):
        ingest_file(lake, tmp_path / "missing.jsonl", now=NOW)
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"PAR1 this is not really parquet")
    with pytest.raises(InputFileError, match="cannot read Parquet file '.*corrupt.parquet'"):
        ingest_file(lake, corrupt, now=NOW)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from voice_monitor.cli import main; main()", *args],
        capture_output=True, text=True,
    )


def test_cli_ingest(lake, tmp_path):
    path = tmp_path / "in.jsonl"
    e = event("artifact_received", NOW - timedelta(minutes=1))
    path.write_text("\n".join([json.dumps(e), json.dumps(e), "oops"]))
    now = ts(NOW)
    done = _cli("ingest", str(path), "--lake", str(lake.root), "--now", now)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "accepted 2 (of which duplicate 1), quarantined 1"
    done = _cli("ingest", str(path), "--lake", str(lake.root), "--now", now, "--json")
    assert json.loads(done.stdout) == {"accepted": 2, "duplicates": 2, "quarantined": 1,
                                       "partitions": ["events/date=2026-02-16/hour=14"]}


def test_cli_ingest_missing_file_is_one_line_error(lake, tmp_path):
    done = _cli("ingest", str(tmp_path / "nope.jsonl"), "--lake", str(lake.root))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("voice-monitor: error: cannot read")
    assert "nope.jsonl" in lines[0]
