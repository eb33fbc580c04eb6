"""The demo command: a real console-script run, checked against independent counts over the lake."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from voice_monitor import jobs
from voice_monitor.demo.run import MARKER, DemoLakeError, prepare_lake, reason_rule, schedule
from voice_monitor.lake import Lake, connect

END = datetime(2026, 2, 18, 12, 0, tzinfo=UTC)  # a Wednesday: no Sunday retention in one day
START = END - timedelta(days=1)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["voice-monitor", "demo", *args], capture_output=True, text=True,
                          timeout=900)


def count(glob: str, where: str = "true") -> int:
    con = connect()
    try:
        return con.execute(f"select count(*) from read_parquet($g) where {where}",
                           {"g": glob}).fetchall()[0][0]
    finally:
        con.close()


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    lake = tmp_path_factory.mktemp("demo") / "lake"
    # --now, the name every command that depends on time takes (contract §11), is --end here
    done = run_cli("--lake", str(lake), "--days", "1", "--now", "2026-02-18T12:00:00Z", "--json")
    assert done.returncode == 0, done.stderr
    return lake, json.loads(done.stdout)


@pytest.mark.slow
def test_printed_counts_agree_with_the_lake(demo_run):
    lake, summary = demo_run
    landing = summary["landing"]
    assert summary["retention_dropped"] == {"event_rows": 0, "quarantine_rows": 0}
    # the raw log keeps duplicate deliveries, so every accepted row is a row in events/
    assert count(f"{lake}/events/*/*/*.parquet") == landing["accepted"]
    assert count(f"{lake}/quarantine/*/*.parquet") == landing["quarantined"]
    assert sum(landing["quarantine_reasons"].values()) == landing["quarantined"]
    assert landing["accepted"] + landing["quarantined"] == summary["generated"]["records_delivered"]
    # five kinds of invalid record, each its own rule
    assert len(landing["quarantine_reasons"]) == 5
    distinct = landing["accepted"] - landing["duplicates"]
    con = connect()
    try:
        ids = con.execute("select count(distinct (event_id, date_trunc('hour', \"timestamp\"))) "
                          "from read_parquet($g)", {"g": f"{lake}/events/*/*/*.parquet"}).fetchall()[0][0]
    finally:
        con.close()
    assert ids == distinct


@pytest.mark.slow
def test_realtime_metrics_match_a_count_over_the_last_hour(demo_run):
    lake, summary = demo_run
    # window: floor_minute(end) - 59 min .. end, events counted once per event_id
    con = connect()
    try:
        received = con.execute(
            "select count(distinct event_id) from read_parquet($g) where event_type = "
            "'artifact_received' and \"timestamp\" between $lo and $hi",
            {"g": f"{lake}/events/*/*/*.parquet", "lo": END - timedelta(minutes=59), "hi": END},
        ).fetchall()[0][0]
    finally:
        con.close()
    assert received > 0
    assert summary["realtime"]["artifacts_received"] == received


@pytest.mark.slow
def test_every_scheduled_hour_has_snapshots(demo_run):
    lake, summary = demo_run
    # the :30 runs from 12:30 Tue to 11:30 Wed build hours 12:00 Tue .. 10:00 Wed; 11:00 Wed
    # waits for the 12:30 run, after the demo's end
    hour = START
    while hour <= END - timedelta(hours=2):
        for table in ("pipeline_hourly", "stage_hourly"):
            folder = lake / "snapshots" / table / f"date={hour:%Y-%m-%d}" / f"hour={hour:%H}"
            assert list(folder.glob("*.parquet")), folder
        hour += timedelta(hours=1)
    assert not (lake / "snapshots/pipeline_hourly/date=2026-02-18/hour=11").exists()
    # the 01:30 Wed daily run builds Tuesday
    assert list((lake / "snapshots/pipeline_daily/date=2026-02-17").glob("*.parquet"))
    assert summary["flows"]["hourly_rollup"]["runs"] == 24
    assert summary["flows"]["daily_rollup"]["runs"] == 1


@pytest.mark.slow
def test_the_lake_the_demo_leaves_has_daily_rows_equal_to_their_hours(tmp_path):
    # seed 2: a producer's stuck buffer of Tuesday events is flushed after the 01:30 Wednesday
    # daily run, so the hourly runs rebuild Tuesday's hours; the demo leaves Tuesday's daily row
    # as the next daily run would build it, not the stale one (contract §6: daily rows equal
    # what the definitions give over the day's events; every data-quality rule finds nothing)
    from voice_monitor.quality import check_snapshots

    lake = tmp_path / "lake"
    done = run_cli("--lake", str(lake), "--days", "1", "--end", "2026-02-18T12:00:00Z",
                   "--seed", "2", "--artifacts-per-day", "200", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    day, next_day = START.replace(hour=0), END.replace(hour=0)
    con = connect()
    try:
        late = con.execute(
            "select count(*) from read_parquet($g) where \"timestamp\" < $e and ingested_at > $r",
            {"g": f"{lake}/events/*/*/*.parquet", "e": next_day,
             "r": next_day + timedelta(hours=1, minutes=30)}).fetchall()[0][0]
        daily, hourly = (con.execute(
            "select sum(event_count), sum(artifacts_received) from read_parquet($g) "
            "where organization_id is null and period_start >= $d and period_start < $e",
            {"g": f"{lake}/snapshots/{table}/**/*.parquet", "d": day, "e": next_day}).fetchall()[0]
            for table in ("pipeline_daily", "pipeline_hourly"))
    finally:
        con.close()
    assert late > 0  # the case this test is about
    assert daily == hourly
    found = check_snapshots(Lake(lake))
    assert found and all(rows == [] for rows in found.values()), found
    assert summary["flows"]["daily_rollup"]["runs"] == 1
    assert summary["flows"]["daily_rollup"]["caught_up"] == ["2026-02-17"]


@pytest.mark.slow
def test_the_outage_raises_and_resolves_the_circuit_breaker_alert(demo_run):
    _, summary = demo_run
    # the breaker opens 15:12 Tue and closes 16:20; checks run hourly at :30 before 10:00 Wed
    raised = [a for a in summary["alerts"]["raised"] if a["type"] == "circuit_breaker_open"]
    resolved = [a for a in summary["alerts"]["resolved"] if a["type"] == "circuit_breaker_open"]
    assert [a["raised_at"] for a in raised] == ["2026-02-17T15:30:00Z"]
    assert [a["resolved_at"] for a in resolved] == ["2026-02-17T16:30:00Z"]


@pytest.mark.slow
def test_the_first_deployed_hourly_run_after_the_demo_does_only_its_own_hour(demo_run):
    lake, summary = demo_run
    assert summary["flows"]["hourly_rollup"]["check_errors"] == {}  # the data-quality rules pass
    # the demo ran the deployment's steps, compaction included, up to its 11:30 run: the next
    # scheduled run (12:30) compacts and builds only 11:00-12:00, not the whole day again
    facts = jobs.hourly_run(Lake(lake), END + timedelta(minutes=30))
    assert facts["compaction"]["hours"] == ["2026-02-18T11:00:00Z"]
    assert facts["periods"] == ["2026-02-18T11:00:00Z"]
    assert set(facts["quality"].values()) == {0}


@pytest.mark.slow
def test_a_second_run_rebuilds_the_demo_lake_and_runs_sunday_retention(demo_run):
    lake, _ = demo_run
    # Thu 2026-02-12 06:00 .. Sun 2026-02-15 06:00: Sunday 04:30 and 05:00 fall in the range;
    # event retention at Sun 05:00 drops the hours ending at or before Fri 05:00 (48 h earlier)
    done = run_cli("--lake", str(lake), "--days", "3", "--end", "2026-02-15T06:00:00Z",
                   "--artifacts-per-day", "60", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["flows"]["snapshot_retention"]["runs"] == 1
    assert summary["flows"]["event_retention"]["runs"] == 1
    # nothing of the first run is left, and nothing before Fri 05:00 survives retention
    dates = sorted(p.name for p in (lake / "events").iterdir())
    assert dates == ["date=2026-02-13", "date=2026-02-14", "date=2026-02-15"]
    assert min(p.name for p in (lake / "events/date=2026-02-13").iterdir()) >= "hour=05"
    dropped = summary["retention_dropped"]["event_rows"]
    assert dropped > 0
    assert count(f"{lake}/events/*/*/*.parquet") == summary["landing"]["accepted"] - dropped


def test_a_lake_not_made_by_the_demo_is_refused(tmp_path):
    lake = tmp_path / "mine"
    (lake / "events").mkdir(parents=True)
    (lake / "events" / "keep.txt").write_text("precious")
    done = run_cli("--lake", str(lake), "--days", "1")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "not made by the demo" in done.stderr and str(lake) in done.stderr
    assert (lake / "events" / "keep.txt").read_text() == "precious"


def test_the_repositorys_data_folder_with_only_its_readme_is_an_empty_lake(tmp_path):
    # a fresh clone's ./data holds data/README.md: `voice-monitor demo` must accept it
    lake = Lake(tmp_path / "data")
    lake.root.mkdir()
    (lake.root / "README.md").write_text("the default lake")
    prepare_lake(lake)
    assert (lake.root / "README.md").read_text() == "the default lake"
    (lake.root / MARKER).write_text("{}")
    (lake.root / "events").mkdir()
    prepare_lake(lake)  # a demo lake is emptied, the README stays, the lake marker is written
    # (and the room every new lake keeps for retention on a full disk, state/reserve)
    assert sorted(p.name for p in lake.root.iterdir()) == [".voice-monitor-lake", "README.md",
                                                           "state"]
    assert [p.name for p in (lake.root / "state").iterdir()] == ["reserve"]


def test_a_lake_made_by_init_is_an_empty_lake(tmp_path):
    # `voice-monitor init` leaves its marker and state/reserve: nothing the demo would destroy
    init = subprocess.run(["voice-monitor", "init", str(tmp_path / "lake")], capture_output=True,
                          text=True)
    assert init.returncode == 0, init.stderr
    prepare_lake(Lake(tmp_path / "lake"))
    (tmp_path / "lake" / "state" / "mine.txt").write_text("kept")  # but anything more is content
    with pytest.raises(DemoLakeError, match="not made by the demo"):
        prepare_lake(Lake(tmp_path / "lake"))
    assert (tmp_path / "lake" / "state" / "mine.txt").read_text() == "kept"


def test_prepare_lake_empties_only_a_demo_lake(tmp_path):
    lake = Lake(tmp_path / "demo")
    (lake.root / "events" / "date=2026-02-17").mkdir(parents=True)
    (lake.root / MARKER).write_text("{}")
    prepare_lake(lake)
    assert sorted(p.name for p in lake.root.iterdir()) == [".voice-monitor-lake", "state"]
    prepare_lake(Lake(tmp_path / "new" / "lake"))  # a missing directory is created
    assert (tmp_path / "new" / "lake").is_dir()
    other = Lake(tmp_path / "other")
    (other.root / "x").mkdir(parents=True)
    with pytest.raises(DemoLakeError, match="not made by the demo"):
        prepare_lake(other)


def test_days_out_of_range_is_a_usage_error(tmp_path):
    done = run_cli("--lake", str(tmp_path / "x"), "--days", "0")
    assert done.returncode == 2
    assert "--days" in done.stderr
    assert not (tmp_path / "x").exists()


def test_end_and_now_that_differ_are_a_usage_error(tmp_path):
    # --end and --now name one moment: the last one given won without a word
    done = run_cli("--lake", str(tmp_path / "x"), "--days", "1",
                   "--end", "2026-02-18T12:00:00Z", "--now", "2026-02-18T13:00Z")
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert ("--end 2026-02-18T12:00:00Z and --now 2026-02-18T13:00:00Z differ; they are one "
            "moment, the demo's now: give one of them") in done.stderr
    assert not (tmp_path / "x").exists()


def test_schedule_fires_each_flow_at_its_cron_times():
    # Sat 2026-02-14 00:00 .. Mon 2026-02-16 00:00: two days including a Sunday
    start = datetime(2026, 2, 14, tzinfo=UTC)
    end = start + timedelta(days=2)
    plan = schedule(start, end, dense_hours=2)
    fired = {flow: [m for m, due in plan if flow in due] for flow in
             ("hourly_rollup", "daily_rollup", "snapshot_retention", "event_retention",
              "health_check")}
    assert len(fired["hourly_rollup"]) == 48  # every :30
    assert fired["daily_rollup"] == [datetime(2026, 2, 14, 1, 30, tzinfo=UTC),
                                     datetime(2026, 2, 15, 1, 30, tzinfo=UTC)]
    assert fired["snapshot_retention"] == [datetime(2026, 2, 15, 4, 30, tzinfo=UTC)]
    assert fired["event_retention"] == [datetime(2026, 2, 15, 5, 0, tzinfo=UTC)]
    # hourly at :30 from 00:30 Sat to 21:30 Sun (46 runs), then every 5 minutes over the last
    # two hours: 22:00, 22:05, ..., 00:00 (25 runs, 22:30 and 23:30 among them)
    assert len(fired["health_check"]) == 46 + 25
    assert plan[-1][0] == end
    moments = [m for m, _ in plan]
    assert moments == sorted(set(moments)) and moments[0] > start
    # the rollup of an hour runs before the checks that read it
    assert plan[[m for m, _ in plan].index(datetime(2026, 2, 15, 1, 30, tzinfo=UTC))][1] == (
        "hourly_rollup", "daily_rollup", "health_check")


@pytest.mark.parametrize(("reason", "rule"), [
    ('timestamp "2026-02-15T13:28:22.436" has no UTC offset; add \'Z\' or \'+HH:MM\'',
     "timestamp … has no UTC offset"),
    ("duration_ms -4376 must be a finite number >= 0", "duration_ms … must be a finite number >= 0"),
    ("event_id is required", "event_id is required"),
    ("record is not valid JSON", "record is not valid JSON"),
    ('event_id "" must be 1 to 128 characters long (got 0)',
     "event_id … must be 1 to 128 characters long"),
])
def test_quarantine_reasons_group_by_rule(reason, rule):
    assert reason_rule(reason) == rule

