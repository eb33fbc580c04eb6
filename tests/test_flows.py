"""Flow wiring (style rule 9, second layer): each flow under one Prefect test harness.

The library logic is tested without Prefect elsewhere; here: a flow calls it with the right
lake and `now`, returns and logs small facts, defaults `now` to the scheduled start time, and a
corrupt source fails the run (Failed, not Completed).
"""

from __future__ import annotations

import inspect
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from conftest import NOW, event

from voice_monitor import rollups
from voice_monitor.counters import CounterStoreError
from voice_monitor.lake import Lake
from voice_monitor.landing import land_records

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "flows"))  # flow files import their sibling `_shared`, as Prefect does

import _shared  # noqa: E402
import daily_rollup  # noqa: E402
import event_retention  # noqa: E402
import hourly_rollup  # noqa: E402
import snapshot_retention  # noqa: E402
from prefect.client.orchestration import get_client  # noqa: E402
from prefect.flow_engine import run_flow  # noqa: E402
from prefect.flows import load_flow_from_entrypoint  # noqa: E402
from prefect.states import Failed, Scheduled  # noqa: E402

H = timedelta(hours=1)


@pytest.fixture
def flow_lake(lake, monkeypatch, prefect_harness) -> Lake:
    """The test's lake, as the flows find it: through VOICE_MONITOR_LAKE."""
    monkeypatch.setenv("VOICE_MONITOR_LAKE", str(lake.root))
    return lake


def rows(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def test_hourly_rollup_flow_builds_the_previous_hour(flow_lake):
    # 13:10 and 13:20 on 2026-02-16: one for org-1, one without an organization, landed apart
    land_records(flow_lake, [
        event("artifact_received", NOW - 80 * timedelta(minutes=1), organization_id="org-1")],
        now=NOW)
    land_records(flow_lake, [event("artifact_received", NOW - 70 * timedelta(minutes=1))], now=NOW)
    assert len(flow_lake.event_files(NOW - H)) == 2
    facts = hourly_rollup.hourly_rollup(now="2026-02-16T14:30:00Z")
    # the closed hour 13:00 was compacted into one file before it was rolled up
    (compacted,) = flow_lake.event_files(NOW - H)
    assert compacted.stem.endswith("~compacted")
    assert facts["periods"] == ["2026-02-16T13:00:00Z"]  # the hour before 14:30
    assert facts["partitions"] == ["snapshots/pipeline_hourly/date=2026-02-16/hour=13",
                                   "snapshots/stage_hourly/date=2026-02-16/hour=13"]
    assert facts["refused"] == []
    pipeline = rows(flow_lake.snapshot_partition("pipeline_hourly", NOW - 90 * timedelta(minutes=1))
                    / "part-0.parquet")
    # platform row (all events: 2) and the org-1 row (1)
    received = {r["organization_id"]: r["artifacts_received"] for r in pipeline}
    assert received == {None: 2, "org-1": 1}
    assert facts["rows"]["pipeline_hourly"] == 2


def test_daily_rollup_flow_builds_yesterday_from_hourly_rows(flow_lake):
    land_records(flow_lake, [
        event("artifact_received", NOW - 2 * H, organization_id="org-1"),   # 12:30 on the 16th
        event("artifact_failed", NOW - 2 * H, organization_id="org-1"),
        event("artifact_received", NOW + 9 * H),                            # 23:30 on the 16th
    ], now=NOW + 10 * H)
    rollups.run_hourly(flow_lake, datetime(2026, 2, 17, 0, 30, tzinfo=UTC))
    facts = daily_rollup.daily_rollup(now=datetime(2026, 2, 17, 1, 30, tzinfo=UTC))
    assert facts["periods"] == ["2026-02-16T00:00:00Z"]
    assert facts["partitions"] == ["snapshots/pipeline_daily/date=2026-02-16",
                                   "snapshots/stage_daily/date=2026-02-16"]
    daily = rows(flow_lake.snapshot_partition("pipeline_daily", NOW) / "part-0.parquet")
    by_org = {r["organization_id"]: (r["artifacts_received"], r["artifacts_failed"]) for r in daily}
    assert by_org == {None: (2, 1), "org-1": (1, 1)}  # platform: both received, the one failure


def test_event_retention_flow_drops_hours_past_48h(flow_lake):
    land_records(flow_lake, [event("artifact_received", NOW - 50 * H),   # hour ends 49.5 h ago
                             event("artifact_received", NOW - 47 * H)],  # hour ends 46.5 h ago
                 now=NOW)
    facts = event_retention.event_retention(now=NOW)
    assert (facts["deleted"], facts["counts"]) == (1, {"events": 1})
    # now - 48 h, in UTC with Z as every other output (it printed '+00:00')
    assert facts["cutoffs"]["events"] == "2026-02-14T14:30:00Z"
    assert flow_lake.event_hours() == [datetime(2026, 2, 14, 15, tzinfo=UTC)]


def test_event_retention_flow_logs_what_it_dropped_then_fails_on_a_corrupt_counter_store(
        flow_lake, caplog):
    # the run failed on the store with the expired hour already gone, and no line said so
    land_records(flow_lake, [event("artifact_received", NOW - 50 * H)], now=NOW)
    store = flow_lake.root / "state" / "counters.sqlite"
    store.write_bytes(bytes(store.stat().st_size))
    with pytest.raises(CounterStoreError, match=rf"^the real-time counter store {store} cannot "
                                                r"be read \(file is not a database\); move it"):
        event_retention.event_retention(now=NOW)
    assert "dropped partition events/date=2026-02-14/hour=12" in caplog.text  # 50 h before NOW
    assert flow_lake.event_hours() == []


def test_event_retention_flow_logs_what_it_dropped_then_fails_on_a_malformed_store(
        flow_lake, caplog):
    # a store damaged past its first page opens, and the prune failed with SQLite's bare
    # "database disk image is malformed" after the drop, which no line named
    land_records(flow_lake, [event("artifact_received", NOW - 50 * H)], now=NOW)
    store = flow_lake.root / "state" / "counters.sqlite"
    whole = store.read_bytes()
    page = int.from_bytes(whole[16:18], "big")  # the header's page size; the schema page kept
    store.write_bytes(whole[:page] + b"\xff" * (len(whole) - page))
    with pytest.raises(CounterStoreError, match=rf"^the real-time counter store {store} cannot "
                                                r"be read \(database disk image is malformed\); "
                                                r"move it aside"):
        event_retention.event_retention(now=NOW)
    assert "dropped partition events/date=2026-02-14/hour=12" in caplog.text  # 50 h before NOW
    assert flow_lake.event_hours() == []


def test_event_retention_flow_logs_what_it_dropped_then_fails_on_an_unreadable_alert_file(
        flow_lake, caplog):
    # the expired alert day's file is unreadable: the run dropped the event hour, then failed
    # on that file (the alert store prunes itself), and no line said the hour was dropped
    from voice_monitor.health.alerts import run_checks
    from voice_monitor.integrity import UnreadableFileError

    land_records(flow_lake, [event("artifact_received", NOW - 50 * H, artifact_id=f"a-{i}")
                             for i in range(60)], now=NOW)
    assert run_checks(flow_lake, NOW).raised  # inactivity: an alert file of 2026-02-16
    (alert_file,) = (flow_lake.root / "alerts").rglob("*.parquet")
    alert_file.write_bytes(alert_file.read_bytes()[:100])
    with pytest.raises(UnreadableFileError, match="^unreadable lake file alerts/") as failed:
        event_retention.event_retention(now=NOW + timedelta(days=91))
    assert "dropped partition events/date=2026-02-14/hour=12" in caplog.text  # 50 h before NOW
    assert "dropped 1 partition(s) {'events': 1}, then failed" in caplog.text
    assert failed.value.retention_report.deleted == ["events/date=2026-02-14/hour=12"]
    assert flow_lake.event_hours() == []


def test_snapshot_retention_flow_dry_run_then_real(flow_lake):
    old_hour = NOW - 8 * 24 * H   # 2026-02-08T14:30 -> the 14:00 hour, past the 7-day cut-off
    rollups.run_hourly(flow_lake, NOW, hour=old_hour)
    dry = snapshot_retention.snapshot_retention(now=NOW, dry_run=True)
    assert (dry["dry_run"], dry["deleted"]) == (True, 2)
    assert len(flow_lake.snapshot_periods("pipeline_hourly")) == 1
    real = snapshot_retention.snapshot_retention(now=NOW)
    assert real["counts"] == {"snapshots/pipeline_hourly": 1, "snapshots/stage_hourly": 1}
    assert flow_lake.snapshot_periods("pipeline_hourly") == []


def test_default_now_is_the_scheduled_start_time(flow_lake):
    """A run scheduled for NOW but executed months later still uses NOW as its `now`."""
    land_records(flow_lake, [event("artifact_received", NOW - 50 * H),
                             event("artifact_received", NOW - 47 * H)], now=NOW)
    flow = event_retention.event_retention
    with get_client(sync_client=True) as client:
        flow_run = client.create_flow_run(flow, parameters={}, state=Scheduled(scheduled_time=NOW))
    assert flow_run.expected_start_time == NOW
    state = run_flow(flow, flow_run=flow_run, return_type="state")
    assert state.is_completed()
    # with the real clock (later than 2026-02-16) both hours would be gone; with NOW, one stays
    assert flow_lake.event_hours() == [datetime(2026, 2, 14, 15, tzinfo=UTC)]


def test_corrupt_source_fails_the_run_visibly(flow_lake):
    land_records(flow_lake, [event("artifact_received", NOW - 80 * timedelta(minutes=1))], now=NOW)
    garbage = flow_lake.event_partition(NOW - H) / "00000000000000000000-garbage.parquet"
    garbage.write_bytes(b"this is not parquet at all")
    state = hourly_rollup.hourly_rollup(now=NOW, return_state=True)
    assert state.is_failed()
    with pytest.raises(Exception, match="garbage"):
        state.result()
    # nothing was written for the hour
    assert flow_lake.snapshot_periods("pipeline_hourly") == []


@pytest.mark.parametrize("name", ["hourly_rollup", "daily_rollup", "event_retention",
                                  "snapshot_retention", "health_check"])
def test_a_flow_on_a_path_with_no_lake_fails_and_creates_nothing(name, tmp_path, monkeypatch,
                                                                 prefect_harness):
    import health_check

    flows = {"hourly_rollup": hourly_rollup.hourly_rollup, "daily_rollup": daily_rollup.daily_rollup,
             "event_retention": event_retention.event_retention,
             "snapshot_retention": snapshot_retention.snapshot_retention,
             "health_check": health_check.health_check}
    missing = tmp_path / "unmounted" / "lake"
    monkeypatch.setenv("VOICE_MONITOR_LAKE", str(missing))
    state = flows[name](now=NOW, return_state=True)
    assert state.is_failed()
    with pytest.raises(Exception, match=f"^no lake at {missing}; create it with voice-monitor init"):
        state.result()
    assert not (tmp_path / "unmounted").exists()


def test_a_corrupt_hour_fails_the_run_and_every_other_hour_builds(flow_lake):
    # 11:10 (2 events) and 13:10 (1 event) are fine; 12:00 holds a file that is not Parquet
    land_records(flow_lake, [event("artifact_received", NOW - 200 * timedelta(minutes=1)),
                             event("artifact_received", NOW - 199 * timedelta(minutes=1)),
                             event("artifact_received", NOW - 80 * timedelta(minutes=1))], now=NOW)
    garbage = flow_lake.event_partition(NOW - 2 * H) / "00000000000000000000-garbage.parquet"
    garbage.parent.mkdir(parents=True)
    garbage.write_bytes(b"this is not parquet at all")
    state = hourly_rollup.hourly_rollup(now=NOW, return_state=True)
    assert state.is_failed()
    with pytest.raises(Exception, match="hour=12/00000000000000000000-garbage.parquet"):
        state.result()
    hours = [datetime(2026, 2, 16, h, tzinfo=UTC) for h in (11, 13)]
    assert flow_lake.snapshot_periods("pipeline_hourly") == hours
    # compaction merged the two files of 11:00 and left 12:00 as it was
    assert [f.name for f in flow_lake.event_files(NOW - 2 * H)] == [garbage.name]


def test_retries_are_for_transient_io_only():
    for flow_task in (hourly_rollup.compact_closed_hours, hourly_rollup.build_hourly_snapshots,
                      daily_rollup.build_daily_snapshots,
                      event_retention.drop_expired_events,
                      snapshot_retention.drop_expired_snapshots):
        assert flow_task.retries == 2
        assert flow_task.retry_condition_fn is _shared.retry_on_io
    assert _shared.retry_on_io(None, None, Failed(data=FileNotFoundError("gone")))
    assert not _shared.retry_on_io(None, None, Failed(data=ValueError("corrupt")))


def test_a_store_that_does_not_answer_is_transient_io_and_retried():
    # an S3 lake's store down for a moment: botocore's errors are no OSError, so the flows
    # failed at once where a folder's I/O error would have been retried (contract §8)
    from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

    for error in (EndpointConnectionError(endpoint_url="http://minio:9000/lake"),
                  ConnectTimeoutError(endpoint_url="http://minio:9000/lake"),
                  ReadTimeoutError(endpoint_url="http://minio:9000/lake")):
        assert _shared.retry_on_io(None, None, Failed(data=error)), error
    try:  # the same failure as raised on, with a cause of its own
        try:
            raise EndpointConnectionError(endpoint_url="http://minio:9000/lake")
        except EndpointConnectionError as exc:
            raise RuntimeError("listing the lake failed") from exc
    except RuntimeError as wrapped:
        assert _shared.retry_on_io(None, None, Failed(data=wrapped))


def test_run_now_parses_and_defaults_to_utc():
    assert _shared.run_now("2026-02-16T14:30:00Z") == NOW
    assert _shared.run_now("2026-02-16T09:30:00-05:00") == NOW
    assert _shared.run_now(datetime(2026, 2, 16, 14, 30)) == NOW  # naive = UTC
    assert _shared.run_now(NOW).tzinfo == UTC


def test_prefect_yaml_deploys_every_flow_with_its_docstring():
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    deployments = {d["name"]: d for d in config["deployments"]}
    expected = {  # contract §8
        "hourly-rollup": "30 * * * *", "daily-rollup": "30 1 * * *",
        "snapshot-retention": "30 4 * * 0", "event-retention": "0 5 * * 0",
        "health-check": "*/5 * * * *",
    }
    assert {name: d["schedules"][0]["cron"] for name, d in deployments.items()} == expected
    for name, d in deployments.items():
        assert d["schedules"][0]["timezone"] == "UTC"
        assert d["concurrency_limit"] == 1
        assert d["work_pool"]["name"] == "voice-monitor"
        path = d["entrypoint"].split(":")[0]
        if not (ROOT / path).exists():
            continue  # health_check.py belongs to the alerts work; checked once it exists
        cwd = os.getcwd()
        os.chdir(ROOT)
        try:
            flow = load_flow_from_entrypoint(d["entrypoint"])
        finally:
            os.chdir(cwd)
        assert flow.name == name
        assert flow.description and flow.description == inspect.getdoc(flow.fn)
    flow_files = {p.name for p in (ROOT / "flows").glob("*.py") if not p.name.startswith("_")}
    assert flow_files <= {d["entrypoint"].split(":")[0].split("/")[1] for d in deployments.values()}


@pytest.mark.parametrize("script", ["hourly_rollup.py", "daily_rollup.py", "snapshot_retention.py",
                                    "event_retention.py", "health_check.py"])
def test_a_bad_now_on_a_flow_script_is_one_line_naming_it(script, tmp_path):
    """`python flows/hourly_rollup.py garbage` printed Prefect's multi-line parameter validation
    error (after starting a temporary server); contract §11: one line naming the value and the
    fix, exit non-zero. Checked before Prefect starts, by the time rule every entry point uses,
    and before Prefect is even imported (seconds, for a typo): a `prefect` that fails on import
    stands first on the path."""
    import subprocess

    poisoned = tmp_path / "poisoned"
    (poisoned / "prefect").mkdir(parents=True)
    (poisoned / "prefect" / "__init__.py").write_text("raise ImportError('prefect imported')\n")
    env = {**os.environ, "VOICE_MONITOR_LAKE": str(tmp_path / "lake"),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PYTHONPATH": os.pathsep.join(
               filter(None, [str(poisoned), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, str(ROOT / "flows" / script), "garbage"], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr == (f"{script}: usage error: now 'garbage' is not an ISO-8601 time; use "
                           "e.g. 2026-02-16T14:30:00Z\n")
    assert not (tmp_path / "lake").exists()


def test_a_flow_script_takes_one_now_or_none():
    assert _shared.script_now(["hourly_rollup.py"]) is None
    assert _shared.script_now(["hourly_rollup.py", "2026-02-16T14:30:00+05:30"]) == datetime(
        2026, 2, 16, 9, 0, tzinfo=UTC)
    with pytest.raises(SystemExit) as refused:
        _shared.script_now(["hourly_rollup.py", "2026-02-16T14:30:00Z", "extra"])
    assert refused.value.code == 2


@pytest.mark.parametrize(("given", "inside", "after"), [(None, "120", "20"), ("45", "45", "45"),
                                                      ("20", "20", "20")])
def test_runs_started_by_voice_monitor_give_prefects_temporary_server_time(given, inside, after):
    """Prefect waits 20 s for its temporary server, which a loaded 2-core host misses ("Timed out
    while attempting to connect to ephemeral Prefect API server"): the flow scripts and the Dask
    fan-out wait 120 s; a timeout the user set stands, 20 (Prefect's default) too: an explicit
    20 was taken for the default and raised to 120."""
    import subprocess

    env = {k: v for k, v in os.environ.items()
           if k != "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"}
    if given is not None:
        env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = given
    code = ("from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS as S\n"
            "from voice_monitor.temporary_server import patient_start\n"
            "with patient_start():\n    print(S.value())\nprint(S.value())\n")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.split() == [inside, after]


def test_a_temporary_server_that_does_not_start_is_one_line_with_the_fix(tmp_path):
    """The script failed with Prefect's RuntimeError and its traceback, naming no fix."""
    import subprocess

    Lake.create(tmp_path / "lake")
    env = {**os.environ, "VOICE_MONITOR_LAKE": str(tmp_path / "lake"),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_HOME": str(tmp_path / "home"),
           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "0"}  # (the user's: it stands)
    env.pop("PREFECT_API_URL", None)
    done = subprocess.run([sys.executable, str(ROOT / "flows" / "health_check.py")], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert ("health_check.py: Prefect's temporary server did not start (Timed out while "
            "attempting to connect to ephemeral Prefect API server.); point PREFECT_API_URL at a "
            "running server (prefect server start), or allow it longer with "
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=300\n") in done.stderr
