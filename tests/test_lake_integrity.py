"""An unreadable lake file never stops the rest of the lake (contract §4).

The lake: artifact_received events in the hours 11:00, 12:00 and 13:00 of 2026-02-16 (no
latency pairing, so no hour reads another), two landings per hour; the second file of 12:00 is
truncated to half its bytes, as a crash of a disk or a bad copy would leave it.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import NOW, event, run_main

from voice_monitor.health.alerts import active_alerts, run_checks
from voice_monitor.integrity import UnreadableFileError
from voice_monitor.lake import Lake
from voice_monitor.landing import land_records
from voice_monitor.queries import (
    EventFilesUnreadableWarning,
    SnapshotFilesUnreadableWarning,
    historical_metrics,
    recent_events,
)

H = timedelta(hours=1)
NOW_ARG = "2026-02-16T14:30:00Z"
HOURS = {11: (2, 1), 12: (3, 4), 13: (1, 2)}  # hour -> events in its first and second landing


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    return run_main(capsys, *argv)


def at(hour: int, minute: int = 5) -> datetime:
    return datetime(2026, 2, 16, hour, minute, tzinfo=UTC)


@pytest.fixture
def broken(lake) -> tuple[Lake, str]:
    """The lake, and the path (relative to it) of the truncated file."""
    for hour, counts in HOURS.items():
        for landing, count in enumerate(counts):
            land_records(lake, [event("artifact_received", at(hour, 10 * landing + i))
                                for i in range(count)], now=NOW)
    bad = lake.event_files(at(12))[1]
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    return lake, bad.relative_to(lake.root).as_posix()


def platform_received(lake: Lake, hour: int) -> int:
    (file,) = lake.snapshot_partition("pipeline_hourly", at(hour, 0)).glob("*.parquet")
    rows = [r for r in pq.read_table(file).to_pylist() if r["organization_id"] is None]
    return rows[0]["artifacts_received"]


def test_the_hourly_rollup_builds_every_other_hour_and_fails_naming_the_file(broken, capsys):
    lake, bad = broken
    code, out, err = run_cli(["rollup", "hourly", "--lake", str(lake.root), "--now", NOW_ARG],
                             capsys)
    assert code == 1
    (line,) = err.strip().splitlines()
    assert bad in line and "voice-monitor lake check --move-aside" in line
    assert "2026-02-16T12:00" in line
    assert "built 2 hour(s): 2026-02-16T11:00Z, 2026-02-16T13:00Z" in out
    assert lake.snapshot_periods("pipeline_hourly") == [at(11, 0), at(13, 0)]
    assert (platform_received(lake, 11), platform_received(lake, 13)) == (3, 3)


def test_a_period_that_failed_is_never_reported_as_nothing_to_build(broken, capsys):
    # `rollup hourly --hour` of the hour holding the file printed "nothing to build: no hour
    # needed a rollup" above its own "failed 2026-02-16T12:00Z: ..." line
    lake, bad = broken
    for argv in (["rollup", "hourly", "--hour", "2026-02-16T12", "--now", NOW_ARG],
                 ["rollup", "daily", "--day", "2026-02-16", "--now", "2026-02-17T01:30:00Z"]):
        code, out, err = run_cli([*argv, "--lake", str(lake.root)], capsys)
        assert code == 1 and bad in err, err
        assert "nothing to build" not in out, out
        assert "failed 2026-02-16" in out, out


def test_the_alert_names_the_file_deduplicates_and_resolves_once_moved_aside(broken, capsys):
    lake, bad = broken
    root = ["--lake", str(lake.root)]
    # the event-window checks read 12:00 and fail; the file is recorded and alerted on
    code, out, err = run_cli(["alerts", "check", *root, "--now", NOW_ARG, "--json"], capsys)
    assert code == 1
    report = json.loads(out)
    (raised,) = [a for a in report["raised"] if a["alert_type"] == "lake_file_unreadable"]
    assert bad in raised["message"] and raised["severity"] == "high"
    assert set(report["errors"]) == {"queue_depth", "disambiguation_backlog",
                                     "circuit_breaker_open", "inactivity"}
    code, out, _ = run_cli(["alerts", "check", *root, "--now", "2026-02-16T14:35:00Z", "--json"],
                           capsys)
    assert [a["alert_type"] for a in json.loads(out)["raised"]] == []  # still active: not again
    code, out, err = run_cli(["lake", "check", "--move-aside", *root], capsys)
    assert code == 0, err
    code, out, err = run_cli(["alerts", "check", *root, "--now", "2026-02-16T14:40:00Z",
                              "--json"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert [a["alert_id"] for a in report["resolved"]] == [raised["alert_id"]]


def test_lake_check_lists_then_moves_aside_with_a_note(broken, capsys):
    lake, bad = broken
    root = ["--lake", str(lake.root)]
    code, out, err = run_cli(["lake", "check", *root], capsys)
    assert code == 1
    assert out.splitlines()[0].startswith(f"unreadable {bad}: ")
    # 6 event files + 1 quarantine-free lake: events only
    assert out.splitlines()[-1] == "checked 6 file(s): 1 unreadable"
    assert bad in err and len(err.strip().splitlines()) == 1
    code, out, err = run_cli(["lake", "check", "--move-aside", *root], capsys)
    assert code == 0, err
    target = lake.root / "corrupt" / bad
    assert target.is_file() and not (lake.root / bad).exists()
    note = json.loads((target.parent / (target.name + ".json")).read_text())
    assert note["original_path"] == bad and "error" in note
    # UTC with Z, as --json and the API write a time (it was 2026-...T09:41:13.475663+00:00)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z", note["moved_at"])
    code, out, _ = run_cli(["lake", "check", *root], capsys)
    assert (code, out.strip()) == (0, "checked 5 file(s): 0 unreadable")
    # the hour builds again from the file that remains: its first landing, 3 events
    code, out, err = run_cli(["rollup", "hourly", "--hour", "2026-02-16T12", *root], capsys)
    assert code == 0, err
    assert platform_received(lake, 12) == 3


def test_compaction_leaves_the_hour_as_it_is_and_compacts_the_others(broken, capsys):
    lake, bad = broken
    before = {p.name: p.read_bytes() for p in lake.event_files(at(12))}
    code, out, err = run_cli(["compact", "--lake", str(lake.root), "--now", "2026-02-16T15:30:00Z"],
                             capsys)
    assert code == 1
    assert bad in err and "2026-02-16T12:00" in err and len(err.strip().splitlines()) == 1
    assert {p.name: p.read_bytes() for p in lake.event_files(at(12))} == before
    for hour in (11, 13):
        (compacted,) = lake.event_files(at(hour))
        assert compacted.stem.endswith("~compacted")
        assert pq.read_metadata(compacted).num_rows == sum(HOURS[hour])


def test_retention_keeps_an_expired_partition_holding_the_file(broken, capsys):
    lake, bad = broken
    # three days later every hour has expired: 11 and 13 go, 12 stays whole
    code, out, err = run_cli(["retention", "--lake", str(lake.root), "--now",
                              "2026-02-19T14:30:00Z"], capsys)
    assert code == 1
    assert "events/date=2026-02-16/hour=12" in err and bad in err
    assert lake.event_hours() == [at(12, 0)]
    assert len(lake.event_files(at(12))) == 2


def test_reading_queries_fail_with_one_line_naming_the_file(broken, capsys):
    lake, bad = broken
    code, out, err = run_cli(["sql", "select count(*) from events", "--lake", str(lake.root)],
                             capsys)
    assert code == 1
    (line,) = err.strip().splitlines()
    assert bad in line and "voice-monitor lake check --move-aside" in line
    # a page of recent events leaves the hour out and says so (test_event_log_unreadable)
    code, out, err = run_cli(["events", "recent", "--lake", str(lake.root)], capsys)
    assert code == 0
    (line,) = err.strip().splitlines()
    assert line.startswith("voice-monitor: warning: recent_events: the events of 1 hour(s) "
                           "(2026-02-16T12:00:00Z) are left out")
    assert bad in line and "voice-monitor lake check --move-aside" in line
    with pytest.warns(EventFilesUnreadableWarning, match="hour=12"):
        recent_events(lake)


def test_a_lake_given_as_a_relative_path_names_the_file_from_the_lake_as_ever(broken, capsys,
                                                                             monkeypatch):
    # sql named '/abs/…/events/…parquet' under '--lake lake' (DuckDB's path, from a resolved
    # glob, was not under the relative root), where every other read names 'events/…'
    lake, bad = broken
    monkeypatch.chdir(lake.root.parent)
    code, _, err = run_cli(["sql", "select count(*) from events", "--lake", lake.root.name],
                           capsys)
    assert code == 1
    assert err.startswith(f"voice-monitor: error: unreadable lake file {bad} (")
    assert err.endswith(f"move it aside with: voice-monitor lake check --move-aside --lake "
                        f"{lake.root.name}\n")
    assert str(lake.root) not in err


def test_the_daily_rollup_builds_every_other_day_when_an_hourly_snapshot_is_unreadable(lake,
                                                                                        capsys):
    # one event at 12:05 on 2026-02-14 and on 2026-02-15; both days' hours built, then one hourly
    # snapshot of the 15th truncated: the 14th builds, the 15th fails naming the file
    for day in (14, 15):
        land_records(lake, [event("artifact_received", datetime(2026, 2, day, 12, 5, tzinfo=UTC))],
                     now=NOW)
    root = ["--lake", str(lake.root)]
    code, _, err = run_cli(["rollup", "hourly", "--now", "2026-02-16T01:30:00Z", *root], capsys)
    assert code == 0, err
    (bad,) = lake.snapshot_partition("pipeline_hourly",
                                     datetime(2026, 2, 15, 7, tzinfo=UTC)).glob("*.parquet")
    bad.write_bytes(bad.read_bytes()[:100])
    # both days are due (neither has a daily snapshot): the 14th builds, the 15th fails
    code, out, err = run_cli(["rollup", "daily", "--now", "2026-02-16T01:30:00Z", "--json", *root],
                             capsys)
    assert code == 1
    assert "pipeline_hourly/date=2026-02-15/hour=07" in err and len(err.strip().splitlines()) == 1
    facts = json.loads(out)
    assert [p[:10] for p in facts["periods"]] == ["2026-02-14"]
    assert [f["period"][:10] for f in facts["failed"]] == ["2026-02-15"]
    (daily,) = lake.snapshot_partition("pipeline_daily",
                                       datetime(2026, 2, 14, tzinfo=UTC)).glob("*.parquet")
    platform = [r for r in pq.read_table(daily).to_pylist() if r["organization_id"] is None]
    assert platform[0]["artifacts_received"] == 1


def test_an_unreadable_alert_record_is_named(lake):
    folder = lake.alerts_dir / "date=2026-02-16"
    folder.mkdir(parents=True)
    (folder / "x.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(UnreadableFileError, match="alerts/date=2026-02-16/x.parquet"):
        active_alerts(lake)
    # the health check does not fall silent over it: it alerts on it (test_alerts_unreadable_log)
    report = run_checks(lake, NOW)
    [alert] = [a for a in report.raised if a.alert_type == "lake_file_unreadable"]
    assert "alerts/date=2026-02-16/x.parquet" in alert.message


def test_damaged_records_of_unreadable_files_never_stop_the_check_or_the_alert(broken, capsys):
    """A record under state/unreadable/ that is not UTF-8 made `lake check`, `alerts check`
    (lake_file_unreadable) and `retention` fail with "'utf-8' codec can't decode byte 0xff";
    one of another shape raised TypeError; one naming a file outside the lake had it alerted on."""
    lake, bad = broken
    root = ["--lake", str(lake.root)]
    records = lake.root / "state" / "unreadable"
    records.mkdir(parents=True, exist_ok=True)
    (records / "a.json").write_bytes(b'{"path": "\xff\xfe"}')
    (records / "b.json").write_text("[1, 2]")
    (records / "c.json").write_text(json.dumps({"path": "../../outside.parquet", "error": "x",
                                                "signature": [1, 2]}))
    (lake.root.parent / "outside.parquet").write_bytes(b"not parquet")
    (records / "d.json").mkdir()  # a folder: "[Errno 21] Is a directory" stopped them too

    code, out, err = run_cli(["lake", "check", *root], capsys)
    assert code == 1, err
    assert [line.split(":")[0] for line in out.splitlines()[:-1]] == [f"unreadable {bad}"]
    code, out, err = run_cli(["alerts", "check", *root, "--now", NOW_ARG, "--json"], capsys)
    (raised,) = [a for a in json.loads(out)["raised"] if a["alert_type"] == "lake_file_unreadable"]
    assert raised["message"].startswith(f"1 unreadable lake file(s): {bad} "), raised["message"]
    assert "lake_file_unreadable" not in json.loads(out)["errors"]
    code, out, err = run_cli(["retention", "--dry-run", *root, "--now", NOW_ARG], capsys)
    assert code == 0, err


def test_retention_with_no_expired_alert_day_never_reads_an_unreadable_alert_file(lake, capsys):
    """The alert store's pruning read the whole history (for the active alerts) before finding
    that no alert day had expired, so one unreadable alert file failed every retention run,
    the dry run included, listing nothing."""
    received = at(11)
    land_records(lake, [event("artifact_received", received, artifact_id=f"a-{i}")
                        for i in range(60)], now=NOW)
    # 60 received at 11:05, none finished, none since: queue_depth (> 50) and inactivity (60 min)
    assert sorted(a.alert_type for a in run_checks(lake, NOW).raised) == ["inactivity",
                                                                          "queue_depth"]
    (alert_file,) = (lake.root / "alerts").rglob("*.parquet")
    data = alert_file.read_bytes()
    alert_file.write_bytes(data[: len(data) // 2])
    root = ["--lake", str(lake.root), "--now", "2026-02-19T00:00:00Z"]  # hour 11 ends 60 h before

    code, out, err = run_cli(["retention", "--dry-run", "--json", *root], capsys)
    assert code == 0, err
    assert json.loads(out)["deleted"] == ["events/date=2026-02-16/hour=11"]
    code, out, err = run_cli(["retention", *root], capsys)
    assert code == 0, err
    assert not (lake.root / "events" / "date=2026-02-16" / "hour=11").exists()
    assert alert_file.read_bytes() == data[: len(data) // 2]  # left where it is, as it is


def test_links_that_lead_nowhere_are_listed_and_moved_aside(lake, capsys):
    """A *.parquet symbolic link to itself (a loop) or to nothing failed every read of events
    ("RuntimeError: Symlink loop", "No files found that match the pattern") and even `sql` over
    other tables, while `lake check` (regular files only) said "0 unreadable"."""
    land_records(lake, [event("artifact_received", at(12, i)) for i in range(3)], now=NOW)
    hour = lake.root / "events" / "date=2026-02-16" / "hour=12"
    (hour / "loop.parquet").symlink_to("loop.parquet")
    (hour / "gone.parquet").symlink_to("/nonexistent/gone.parquet")
    root = ["--lake", str(lake.root)]

    code, out, err = run_cli(["lake", "check", *root], capsys)
    assert code == 1, err
    assert out.splitlines()[:2] == [
        "unreadable events/date=2026-02-16/hour=12/gone.parquet: a symbolic link that leads to "
        "no file (dangling, or a loop)",
        "unreadable events/date=2026-02-16/hour=12/loop.parquet: a symbolic link that leads to "
        "no file (dangling, or a loop)"]
    code, out, err = run_cli(["lake", "check", "--move-aside", *root], capsys)
    assert code == 0, err
    assert not any(p.is_symlink() for p in hour.iterdir())
    assert (lake.root / "corrupt" / "events" / "date=2026-02-16" / "hour=12" / "gone.parquet.json"
            ).is_file()
    code, out, err = run_cli(["sql", "select count(*) as n from events", "--json", *root], capsys)
    assert code == 0, err
    assert json.loads(out)[0]["n"] == 3


def test_a_snapshot_file_whose_column_has_another_type_is_named_and_other_periods_read(lake,
                                                                                      capsys):
    """A pipeline_hourly file whose event_count is text (another table's or version's file):
    every read over its hour failed with Arrow's "Unable to merge: Field event_count has
    incompatible types: int64 vs string", naming no file, and lake check saw nothing wrong."""
    land_records(lake, [event("artifact_received", at(h)) for h in (11, 12, 13)], now=NOW)
    root = ["--lake", str(lake.root)]
    code, _, err = run_cli(["rollup", "hourly", "--now", NOW_ARG, *root], capsys)
    assert code == 0, err
    (bad,) = lake.snapshot_partition("pipeline_hourly", at(12, 0)).glob("*.parquet")
    table = pq.read_table(bad)
    pq.write_table(table.set_column(table.schema.get_field_index("event_count"), "event_count",
                                    table.column("event_count").cast(pa.string())), bad)
    rel = bad.relative_to(lake.root).as_posix()
    why = "not a pipeline_hourly file: column event_count is string, not int64"

    # its hour reads as having no snapshot, warned naming the file; the others as ever
    with pytest.warns(SnapshotFilesUnreadableWarning, match=re.escape(f"{rel} ({why})")) as said:
        rows = historical_metrics(lake, at(11, 0), at(14, 0))
    assert rows["artifacts_received"].to_list() == [1, 0, 1]
    assert [t is None for t in rows["computed_at"].to_list()] == [False, True, False]
    assert said[0].message.files == [(rel, why)] and said[0].message.periods == [at(12, 0)]
    code, out, err = run_cli(["metrics", "historical", "--start", "2026-02-16T11:00Z",
                              "--end", "2026-02-16T14:00Z", "--now", NOW_ARG, *root], capsys)
    assert code == 0 and "unreadable" in out
    assert err.strip() == (
        f"voice-monitor: warning: historical_metrics: 1 hour(s) (2026-02-16T12:00:00Z) read as "
        f"having no snapshot: unreadable lake file {rel} ({why}); move it aside with: "
        f"voice-monitor lake check --move-aside --lake {lake.root}, then build the hour(s) "
        f"again with: voice-monitor backfill --start 2026-02-16T12:00:00Z --end "
        f"2026-02-16T13:00:00Z --lake {lake.root}")
    for hour in (11, 13):
        rows = historical_metrics(lake, at(hour, 0), at(hour + 1, 0))
        assert rows["artifacts_received"].to_list() == [1]
    code, out, err = run_cli(["alerts", "check", "--now", NOW_ARG, "--json", *root], capsys)
    (raised,) = [a for a in json.loads(out)["raised"] if a["alert_type"] == "lake_file_unreadable"]
    assert rel in raised["message"]
    code, out, err = run_cli(["lake", "check", *root], capsys)
    assert code == 1 and out.splitlines()[0] == f"unreadable {rel}: {why}"
    code, out, err = run_cli(["lake", "check", "--move-aside", *root], capsys)
    assert code == 0, err
    rows = historical_metrics(lake, at(11, 0), at(14, 0))
    assert rows["artifacts_received"].to_list() == [1, 0, 1]  # 12:00 has no snapshot now


def test_files_that_cannot_be_combined_but_none_unreadable_are_counted_not_listed(lake, capsys):
    """Each pipeline_hourly file is fine alone (an extra column is another version's), but
    `note` is int64 in two and text in one: the read failed naming every file it combined,
    one quoted path each (a year of hours: 8,760 of them). It now says how many, where, and
    which file has the rarer type."""
    land_records(lake, [event("artifact_received", at(h)) for h in (11, 12, 13)], now=NOW)
    root = ["--lake", str(lake.root)]
    code, _, err = run_cli(["rollup", "hourly", "--now", NOW_ARG, *root], capsys)
    assert code == 0, err
    folder = lake.root / "snapshots" / "pipeline_hourly"
    for hour, note in ((11, pa.array([7], pa.int64())), (12, pa.array(["x"])),
                       (13, pa.array([8], pa.int64()))):
        (path,) = lake.snapshot_partition("pipeline_hourly", at(hour, 0)).glob("*.parquet")
        table = pq.read_table(path)
        assert table.num_rows == 1  # the platform's row (the events have no organization)
        pq.write_table(table.append_column("note", note), path)
    said = (f"Unable to merge: Field note has incompatible types: int64 vs string (combining 3 "
            f"files under {folder}/date=2026-02-16, hour=11 to hour=13; column note is int64 "
            f"in 2, string in 1; the first string one: {folder}/date=2026-02-16/hour=12/"
            "part-0.parquet)")

    with pytest.raises(pa.ArrowInvalid) as failed:
        historical_metrics(lake, at(11, 0), at(14, 0))
    assert str(failed.value) == said
    code, out, err = run_cli(["metrics", "historical", "--start", "2026-02-16T11:00Z",
                              "--end", "2026-02-16T14:00Z", "--now", NOW_ARG, *root], capsys)
    assert code == 1 and err.strip() == f"voice-monitor: error: {said}"
    code, out, err = run_cli(["lake", "check", *root], capsys)  # none of them is unreadable
    assert code == 0 and out.strip() == "checked 9 file(s): 0 unreadable", out


def test_the_record_of_an_unreadable_file_says_when_in_the_contracts_time_form(broken, capsys):
    """state/unreadable/<hash>.json wrote seen_at as '2026-…T…+00:00', where every other time
    the lake writes for people and scripts is ISO-8601 UTC with Z (docs/queries.md)."""
    lake, bad = broken
    before = datetime.now(UTC)
    code, _, err = run_cli(["lake", "check", "--lake", str(lake.root)], capsys)
    assert code == 1, err
    (record,) = (lake.root / "state" / "unreadable").glob("*.json")
    entry = json.loads(record.read_text())
    assert entry["path"] == bad
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", entry["seen_at"]), entry
    assert before <= datetime.fromisoformat(entry["seen_at"]) <= datetime.now(UTC)


def lake_with_an_unreadable_alert_file(lake) -> str:
    """Events at 11:05 on 2026-02-16 raising two alerts, whose alert file is then cut in half;
    the file's path relative to the lake."""
    land_records(lake, [event("artifact_received", at(11), artifact_id=f"a-{i}")
                        for i in range(60)], now=NOW)
    assert len(run_checks(lake, NOW).raised) == 2  # queue_depth, inactivity
    (alert_file,) = (lake.root / "alerts").rglob("*.parquet")
    data = alert_file.read_bytes()
    alert_file.write_bytes(data[: len(data) // 2])
    return alert_file.relative_to(lake.root).as_posix()


def test_retention_that_fails_on_an_expired_unreadable_alert_file_lists_what_it_dropped(
        lake, capsys):
    """91 days on, the event hour and the alert day have both expired: retention dropped the
    hour, then failed on the alert file, and only the failure was said: the hour was gone
    without a line. Now it lists it first."""
    bad = lake_with_an_unreadable_alert_file(lake)
    code, out, err = run_cli(["retention", "--lake", str(lake.root),
                              "--now", "2026-05-18T14:30:00Z"], capsys)
    assert code == 1
    assert out.splitlines() == ["deleted 1 partition(s), then failed (below)",
                                "  events                     1",
                                "  events/date=2026-02-16/hour=11"]
    assert err.startswith(f"voice-monitor: error: unreadable lake file {bad} "), err
    assert not (lake.root / "events" / "date=2026-02-16").exists()
    code, out, err = run_cli(["retention", "--json", "--lake", str(lake.root),
                              "--now", "2026-05-18T14:30:00Z"], capsys)
    assert code == 1 and out == ""  # nothing more dropped: only the error
    assert err.startswith(f"voice-monitor: error: unreadable lake file {bad} "), err


def test_move_aside_with_a_file_where_corrupt_should_be_names_it_and_the_fix(broken, capsys):
    # 'corrupt' (where unreadable files are moved) a file: the move failed with OSError's
    # "[Errno 20] Not a directory: '…/corrupt/events/date=2026-02-16/hour=12'", no fix
    lake, bad = broken
    (lake.root / "corrupt").write_text("not a folder")
    code, out, err = run_cli(["lake", "check", "--move-aside", "--lake", str(lake.root)], capsys)
    assert code == 1
    assert err.strip() == (
        f"voice-monitor: error: lake folder '{lake.root / 'corrupt'}' is a file, not a folder; "
        f"move it out of the lake (mv {lake.root / 'corrupt'} {lake.root / 'corrupt'}.moved) "
        "and run the command again")
    assert (lake.root / bad).exists()  # left where it was
    (lake.root / "corrupt").rename(lake.root / "corrupt.moved")
    code, out, err = run_cli(["lake", "check", "--move-aside", "--lake", str(lake.root)], capsys)
    assert code == 0, err
    assert (lake.root / "corrupt" / bad).exists()
