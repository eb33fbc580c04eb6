"""Rollups fanned out on Dask (contract §13): a backfill and a multi-hour rebuild run as Prefect
tasks on a real Dask cluster give the same snapshot rows as the in-process run on a copy of
the same lake; without VOICE_MONITOR_DASK nothing changes."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from conftest import event
from servers import dask_cluster

from voice_monitor import rollups
from voice_monitor.fanout import DaskPeriods, period_mapper
from voice_monitor.lake import SNAPSHOT_TABLES, Lake
from voice_monitor.landing import land_records

pytestmark = pytest.mark.slow

START = datetime(2026, 2, 10, tzinfo=UTC)
H = timedelta(hours=1)


def small_days(lake: Lake, days: int) -> datetime:
    """A few events every 5 hours over `days` days, two organizations, latencies that pair
    across hours; returns a `now` after the last day."""
    records = []
    for k in range(0, days * 24, 5):
        at = START + k * H + timedelta(minutes=50)
        org = "org-a" if k % 2 else "org-b"
        art = f"art-{k}"
        records += [
            event("artifact_received", at, artifact_id=art, organization_id=org),
            event("transcription_started", at, artifact_id=art, organization_id=org),
            # 20 min later, in the next hour: pairs with the start through the look-back
            event("transcription_completed", at + timedelta(minutes=20), artifact_id=art,
                  organization_id=org, metadata={"confidence_score": 0.5 + k / 1000}),
            event("artifact_completed" if k % 3 else "artifact_failed",
                  at + timedelta(minutes=30), artifact_id=art, organization_id=org,
                  metadata={"ai_cost_usd": 0.01 * k}),
        ]
    now = START + timedelta(days=days, hours=1)
    land_records(lake, records, now=now)
    return now


def snapshot_rows(lake: Lake) -> dict[str, list[tuple]]:
    """Every row of every snapshot table but `computed_at`, sorted."""
    out = {}
    con = duckdb.connect()
    for table in SNAPSHOT_TABLES:
        files = sorted(str(f) for f in (lake.snapshots_dir / table).rglob("*.parquet"))
        rel = con.read_parquet(files, hive_partitioning=False)
        columns = [c for c in rel.columns if c != "computed_at"]
        out[table] = sorted(rel.select(*columns).fetchall(), key=repr)
    return out


DAYS = 2
END = START + timedelta(days=DAYS)


@pytest.fixture(scope="module")
def lakes(tmp_path_factory) -> dict:
    """A lake with two days of events, unbuilt, and a copy backfilled in-process (the answer)."""
    base = tmp_path_factory.mktemp("fanout")
    unbuilt = Lake(base / "unbuilt")
    now = small_days(unbuilt, DAYS)
    shutil.copytree(unbuilt.root, base / "built")
    built = Lake(base / "built")
    report = rollups.backfill(built, START, END, now, progress=False)
    return {"unbuilt": unbuilt, "built": built, "now": now, "report": report}


def copy(lake: Lake, to: Path) -> Lake:
    shutil.copytree(lake.root, to)
    return Lake(to)


def same_report(a: rollups.RollupReport, b: rollups.RollupReport) -> None:
    assert (a.periods, a.rows, a.refused) == (b.periods, b.rows, b.refused)


@pytest.fixture(scope="module")
def local_cluster(tmp_path_factory):
    """`dask scheduler` and two `dask worker` processes on 127.0.0.1."""
    with dask_cluster(tmp_path_factory.mktemp("dask")) as address:
        yield address


def test_backfill_on_dask_equals_in_process(lakes, tmp_path, prefect_harness, local_cluster):
    expected = lakes["report"]
    # 48 hours, then 2 days
    assert expected.periods == [START + k * H for k in range(48)] + [START, START + H * 24]
    remote = copy(lakes["unbuilt"], tmp_path / "dask")
    got = rollups.backfill(remote, START, END, lakes["now"], progress=False,
                           map_periods=DaskPeriods(local_cluster))
    same_report(expected, got)
    local_rows, remote_rows = snapshot_rows(lakes["built"]), snapshot_rows(remote)
    assert local_rows == remote_rows
    # every hour has its platform row; an organization has rows in the 10 hours with its
    # events (k = 0, 5, ..., 45) and the 10 after them (completions); each day 1 + 2 orgs
    assert len(local_rows["pipeline_hourly"]) == 48 + 20
    assert len(local_rows["pipeline_daily"]) == 2 * 3


def test_hourly_rebuild_of_many_late_hours_on_dask(lakes, tmp_path, prefect_harness,
                                                   local_cluster):
    local = copy(lakes["built"], tmp_path / "local")
    remote = copy(lakes["built"], tmp_path / "dask")
    now = lakes["now"]
    # late events land in three old hours of both copies
    late = [event("artifact_received", START + h * H + timedelta(minutes=1), organization_id="org-c")
            for h in (3, 17, 30)]
    for lake in (local, remote):
        land_records(lake, late, now=now)
    expected = rollups.run_hourly(local, now)
    got = rollups.run_hourly(remote, now, map_periods=DaskPeriods(local_cluster))
    same_report(expected, got)
    # rebuilt: the three hours; the hours whose latencies looked back over one of them (the
    # completions at k + 1 = 6, 11, ... look back 24 h); and the previous hour, 48, as always
    assert expected.periods == [START + h * H for h in (3, 6, 11, 16, 17, 21, 26, 30, 31, 36, 41,
                                                        46, 48)]
    assert snapshot_rows(local) == snapshot_rows(remote)


def test_without_the_setting_everything_stays_in_process():
    assert period_mapper(None) is None and period_mapper("  ") is None
    with pytest.raises(ValueError, match=r"bad Dask scheduler address 'scheduler:8786'.*tcp://"):
        period_mapper("scheduler:8786")
    # a port that is not a number (or none) was found only by Dask, after Prefect's temporary
    # server had started (~30 s): "invalid literal for int() with base 10: 'notaport'"
    # and one without a host passed until Dask connected to it
    for address in ("tcp://scheduler:notaport", "tcp://scheduler", "tcp://scheduler:99999",
                    "htp://scheduler:8786", "tcp://:8786", "tls://:8786", "tcp://[]:8786"):
        with pytest.raises(ValueError, match=rf"^bad Dask scheduler address '{re.escape(address)}' in "
                                             r"VOICE_MONITOR_DASK; expected e\.g\. "
                                             r"tcp://scheduler:8786$"):
            period_mapper(address)
    assert period_mapper("tcp://scheduler:8786").address == "tcp://scheduler:8786"
    assert period_mapper("tls://10.0.0.5:8786").address == "tls://10.0.0.5:8786"


def test_a_failed_fan_out_is_one_line_on_stderr(tmp_path):
    """With VOICE_MONITOR_DASK set, `voice-monitor backfill` printed Prefect's own log lines
    ("Starting temporary server ...", telemetry errors, flow run logs) around its one-line
    error: a failure must be one line on stderr (contract §11). Nothing listens at the address."""
    done = _backfill_on_an_absent_scheduler(tmp_path, DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT="1s")
    assert "after 1 s" in done.stderr  # (Dask's setting is read: DASK_..._COMM_..., one S)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("voice-monitor: error: ")


def test_a_scheduler_that_cannot_be_reached_is_named_with_the_fix(tmp_path):
    # Dask's own line, "Timed out trying to connect to tcp://127.0.0.1:N after 1 s", named
    # neither the setting nor what to do; and it came only after Prefect's temporary server had
    # started for the fan-out's flow (~30 s): with no time given to that server, the scheduler
    # is still the one named
    done = _backfill_on_an_absent_scheduler(tmp_path, DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT="1s",
                                            PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="0")
    assert "after 1 s" in done.stderr  # (Dask's setting is read: DASK_..._COMM_..., one S)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("voice-monitor: error: cannot reach the Dask scheduler in "
                           "VOICE_MONITOR_DASK: Timed out trying to connect to tcp://127.0.0.1:")
    assert "; check that it runs and listens at tcp://127.0.0.1:" in line
    assert line.endswith("or unset VOICE_MONITOR_DASK to build in this process"), line


def test_a_scheduler_with_no_worker_is_named_not_waited_on(tmp_path, monkeypatch):
    # a scheduler whose workers were not started (or all stopped): the fan-out's tasks queued
    # there until its 24-hour timeout, `backfill` silent meanwhile. An adaptive cluster at
    # minimum 0 looks the same (no worker until tasks queue): the message names its fix
    from voice_monitor import fanout

    monkeypatch.setattr(fanout, "WORKERS_WAIT_S", 1.0)
    with dask_cluster(tmp_path, workers=0) as address:
        periods = DaskPeriods(address)
        with pytest.raises(fanout.NoWorkersError) as none:
            periods._reach()
        lake = Lake.create(tmp_path / "lake")
        with pytest.raises(fanout.NoWorkersError):  # before Prefect's server or any task
            periods("hourly", lake, [START], False, START + 2 * H)
    assert str(none.value) == (
        f"the Dask scheduler in VOICE_MONITOR_DASK={address} has no worker (none registered "
        f"within 1 s), so nothing would build; start workers with 'dask worker {address} "
        "--preload voice_monitor.fanout_flow' (docs/scaling.md); a cluster that scales from "
        "zero starts none before tasks are queued, which the fan-out does once a worker is "
        "there: keep one running (adapt(minimum=1)); or unset VOICE_MONITOR_DASK to build in "
        "this process")


def test_a_prefect_server_that_does_not_start_in_time_is_named_with_the_fix(tmp_path):
    """Prefect's 'RuntimeError: Timed out while attempting to connect to ephemeral Prefect API
    server' said neither what needed that server nor what to do."""
    # (a tls:// scheduler is not probed before the flow starts: a tcp:// one nobody listens at
    # is named before Prefect's server is needed)
    done = _backfill_on_an_absent_scheduler(tmp_path, scheme="tls",
                                            PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="0")
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert "VOICE_MONITOR_DASK" in line and "PREFECT_API_URL" in line
    assert "--debug" not in line  # an error with its fix, not an unexpected one


def _backfill_on_an_absent_scheduler(tmp_path, scheme: str = "tcp", **env: str):
    """`voice-monitor backfill` of 3 hours with VOICE_MONITOR_DASK at an address nothing listens
    on, and `env` besides; the finished process."""
    import os
    import subprocess
    import sys

    from server_process import free_port

    lake = Lake.create(tmp_path / "lake")
    small_days(lake, 1)
    own = {k: v for k, v in os.environ.items() if not k.startswith(("VOICE_MONITOR_", "PREFECT_"))}
    env = {**own, "VOICE_MONITOR_DASK": f"{scheme}://127.0.0.1:{free_port()}",
           "PREFECT_HOME": str(tmp_path / "prefect"), **env}
    return subprocess.run([str(Path(sys.executable).parent / "voice-monitor"), "backfill",
                           "--start", "2026-02-10T00:00Z", "--end", "2026-02-10T03:00Z",
                           "--lake", str(lake.root)], env=env, capture_output=True, text=True,
                          timeout=300)


def test_a_worker_the_lakes_store_refuses_is_named_with_the_workers_settings(tmp_path,
                                                                            monkeypatch):
    # a Dask worker without the lake's AWS settings failed the backfill with "no credentials
    # for the object store of the lake at s3://…; set AWS_ACCESS_KEY_ID … where this command
    # runs": the command's host had them (found running a worker without AWS_* on moto).
    # The fan-out's flow re-raises a task's error as the worker raised it: botocore's own
    from botocore.exceptions import EndpointConnectionError, NoCredentialsError
    from servers import make_bucket, s3_env, s3_server

    from voice_monitor import fanout_flow, storage

    raised: list[Exception] = []

    class FanOut:  # the flow, whose tasks failed on the workers as `raised[0]`
        def with_options(self, **options):
            return self

        def __call__(self, *args):
            raise raised[0]

    monkeypatch.setattr(fanout_flow, "fan_out", FanOut())
    periods = DaskPeriods("tcp://127.0.0.1:8786")
    monkeypatch.setattr(periods, "_reach", lambda: None)
    monkeypatch.setenv(storage.STATE_DIR_ENV, str(tmp_path / "state"))
    hour = [datetime(2026, 2, 16, 14, tzinfo=UTC)]
    with s3_server(tmp_path) as endpoint:  # the store answers this process: the workers' fault
        for key, value in s3_env(endpoint).items():
            monkeypatch.setenv(key, value)
        make_bucket(endpoint, "voice-lake")
        lake = Lake("s3://voice-lake/prod")
        raised.append(NoCredentialsError())
        with pytest.raises(storage.StoreAccessError) as refused:
            periods("hourly", lake, hour, False, hour[0])
        assert str(refused.value) == (
            "a Dask worker of VOICE_MONITOR_DASK=tcp://127.0.0.1:8786 was refused by the object "
            "store of the lake at s3://voice-lake/prod (NoCredentialsError: Unable to locate "
            "credentials); the workers read and write the lake with their own environment: give "
            "every worker the lake's AWS_* settings (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            "or AWS_PROFILE, AWS_ENDPOINT_URL for a store other than AWS S3) and a route to the "
            "store, or unset VOICE_MONITOR_DASK to build in this process")
        raised[0] = EndpointConnectionError(endpoint_url="http://minio:9000/voice-lake")
        with pytest.raises(storage.StoreUnreachableError, match=r"^a Dask worker of VOICE_MONITOR_"
                           r"DASK=tcp://127.0.0.1:8786 cannot reach the object store .*"
                           r"\(EndpointConnectionError: Could not connect"):
            periods("hourly", lake, hour, False, hour[0])
    # the store went down for everyone (this process too): the workers' settings are not the
    # fix, and saying so sent the user to check every worker
    with pytest.raises(storage.StoreUnreachableError) as down:
        periods("hourly", lake, hour, False, hour[0])
    assert str(down.value).startswith("cannot reach the object store of the lake at "
                                      "s3://voice-lake/prod: ")
    assert f"check that the store at {endpoint} runs" in str(down.value)
    assert "Dask" not in str(down.value)
    raised[0] = ValueError("a task's own error")  # anything else as it is
    with pytest.raises(ValueError, match="^a task's own error$"):
        periods("hourly", lake, hour, False, hour[0])
