"""One process, two S3-protocol stores at once (contract §13): the same bucket and prefix on two
stores are two lakes, and each is read through its own store's client, its queries, SQL views
and rollups too. Two real `moto_server`s on 127.0.0.1."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pyarrow.parquet as pq
import pytest
from conftest import NOW, event
from servers import make_bucket, s3_env, s3_server

from voice_monitor import integrity, storage
from voice_monitor.adhoc import run_query
from voice_monitor.event_log import recent_events
from voice_monitor.health.alerts import run_checks
from voice_monitor.health.checks import AlertConfig
from voice_monitor.lake import Lake, no_lake_message
from voice_monitor.landing import land_records
from voice_monitor.queries import historical_metrics
from voice_monitor.rollups import RollupFailedError, run_hourly
from voice_monitor.views import lake_connection, write_catalog

pytestmark = pytest.mark.slow

LAKE = "s3://lakes/team/prod"  # the same URL on both stores
HOUR = NOW - timedelta(hours=1, minutes=30)  # 13:00, the hour before NOW's


def _use(endpoint: str, monkeypatch) -> None:
    for key, value in s3_env(endpoint).items():
        monkeypatch.setenv(key, value)


def _lake_with(endpoint: str, monkeypatch, name: str, received: int, failed: int) -> Lake:
    """A lake on the store at `endpoint` with `received` artifacts received and `failed` of them
    failed, all in 13:00, ids `name-…`."""
    _use(endpoint, monkeypatch)
    make_bucket(endpoint, "lakes")
    lake = Lake.create(LAKE)
    records = [event("artifact_received", HOUR + timedelta(minutes=i), event_id=f"{name}-r{i}",
                     artifact_id=f"{name}-{i}") for i in range(received)]
    records += [event("artifact_failed", HOUR + timedelta(minutes=30 + i),
                      event_id=f"{name}-f{i}", artifact_id=f"{name}-{i}") for i in range(failed)]
    land_records(lake, records, now=NOW)
    return lake


def _ids(lake: Lake) -> list[str]:
    return sorted(recent_events(lake, limit=50).rows["event_id"].to_list())


def _sql(lake: Lake) -> tuple:
    query = ("select count(*), count(distinct artifact_id), "
             "count(*) filter (event_type = 'artifact_failed') from events")
    con = lake_connection(lake)
    try:
        viewed = con.execute(query).fetchone()
    finally:
        con.close()
    guarded = run_query(lake, query).rows[0]  # `voice-monitor sql`: read-only, lake-only
    assert tuple(guarded) == viewed
    return viewed


def _hour_totals(lake: Lake) -> tuple[int, int]:
    frame = historical_metrics(lake, HOUR.replace(minute=0), NOW.replace(minute=0),
                               period="hour", now=NOW)
    return frame["artifacts_received"].sum(), frame["artifacts_failed"].sum()


def test_two_lakes_at_one_url_on_two_stores_each_read_their_own_store(tmp_path, monkeypatch):
    # the process registered with every DuckDB connection the client of the store it opened
    # last, for all of s3://: the first lake's reads went to the second store (its events, or
    # "No files found")
    with s3_server(tmp_path) as first, s3_server(tmp_path) as second:
        a = _lake_with(first, monkeypatch, "a", received=3, failed=1)
        b = _lake_with(second, monkeypatch, "b", received=2, failed=0)
        # the environment now names the second store; a keeps its own. In this process the
        # second store's lakes are named by its own protocol; other processes (a Dask worker)
        # open it as s3://
        assert (str(a.root), str(b.root)) == (LAKE, "s3store2://lakes/team/prod")
        assert storage.shared_url(b.root) == storage.shared_url(a.root) == LAKE
        expected_a = ["a-f0", "a-r0", "a-r1", "a-r2"]
        expected_b = ["b-r0", "b-r1"]
        for _ in range(2):  # interleaved, each twice
            assert _ids(a) == expected_a
            assert _ids(b) == expected_b
            assert _sql(a) == (4, 3, 1)
            assert _sql(b) == (2, 2, 0)
        assert run_hourly(b, now=NOW).rows["pipeline_hourly"] >= 1
        assert run_hourly(a, now=NOW).rows["pipeline_hourly"] >= 1
        assert _hour_totals(a) == (3, 1)
        assert _hour_totals(b) == (2, 0)
        assert _hour_totals(a) == (3, 1)
        # the SQL views over the rollups, by store
        for lake, received in ((a, 3), (b, 2), (a, 3)):
            con = lake_connection(lake)
            try:
                assert con.execute("select sum(artifacts_received) from pipeline_hourly "
                                   "where organization_id is null").fetchone() == (received,)
            finally:
                con.close()


def _objects(endpoint: str, prefix: str) -> dict[str, bytes]:
    """Every object under `prefix` in the store's `lakes` bucket, read with boto3 (as another
    process reads the lake)."""
    import boto3

    env = s3_env(endpoint)
    client = boto3.client("s3", endpoint_url=endpoint, region_name=env["AWS_DEFAULT_REGION"],
                          aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    found = client.list_objects_v2(Bucket="lakes", Prefix=prefix).get("Contents", [])
    return {o["Key"]: client.get_object(Bucket="lakes", Key=o["Key"])["Body"].read()
            for o in found}


def test_what_a_second_stores_lake_stores_and_the_commands_it_names_say_s3(tmp_path,
                                                                           monkeypatch):
    # the process's own name for its second store (s3store2://) was written into the lake: in
    # the stored lake_file_unreadable alert's move-aside command and in the note beside a file
    # moved to corrupt/; another process (the dashboard, a shell) knows no such protocol
    with s3_server(tmp_path) as first, s3_server(tmp_path) as second:
        _lake_with(first, monkeypatch, "a", received=1, failed=0)
        b = _lake_with(second, monkeypatch, "b", received=2, failed=0)
        assert str(b.root) == "s3store2://lakes/team/prod"
        junk = "events/date=2026-02-16/hour=13/junk.parquet"
        storage.put(b.root / junk, b"not parquet")
        command = "voice-monitor lake check --move-aside --lake s3://lakes/team/prod"
        _, found = integrity.check_lake(b)  # recorded for the health check
        assert [(integrity.relative(b, path), why) for path, why in found] == [
            (junk, "ArrowInvalid: Parquet magic bytes not found in footer. Either the file is "
                   "corrupted or this is not a parquet file.")]

        report = run_checks(b, NOW, AlertConfig(checks=("lake_file_unreadable",)))

        [alert] = report.raised
        assert alert.message.endswith(f"move them aside with: {command}")
        [stored] = _objects(second, "team/prod/alerts/").values()
        [message] = pq.read_table(io.BytesIO(stored), columns=["message"])["message"].to_pylist()
        assert message == alert.message
        with pytest.raises(RollupFailedError, match=f"move it aside with: {command}$"):
            run_hourly(b, now=NOW, hour=HOUR.replace(minute=0))
        assert integrity.move_aside_command(b) == command
        assert no_lake_message(b.root) == ("no lake at s3store2://lakes/team/prod; create it "
                                           "with voice-monitor init s3://lakes/team/prod")

        assert integrity.move_aside(b, found) == [(junk, f"corrupt/{junk}")]
        note = json.loads(_objects(second, f"team/prod/corrupt/{junk}.json")[
            f"team/prod/corrupt/{junk}.json"])
        assert (note["original_path"], note["lake"]) == (junk, "s3://lakes/team/prod")
        assert _ids(b) == ["b-r0", "b-r1"]


def test_the_catalog_of_a_second_stores_lake_is_read_by_another_process(tmp_path, monkeypatch):
    # its views named s3store2://, a protocol only the process that wrote the catalog knew
    import subprocess
    import sys

    with s3_server(tmp_path) as first, s3_server(tmp_path) as second:
        a = _lake_with(first, monkeypatch, "a", received=1, failed=0)
        b = _lake_with(second, monkeypatch, "b", received=2, failed=1)
        assert str(b.root) == "s3store2://lakes/team/prod"
        catalog = write_catalog(b, tmp_path / "b.duckdb")
        read = ("import duckdb, s3fs, sys\n"
                "con = duckdb.connect(sys.argv[1], read_only=True)\n"
                "con.register_filesystem(s3fs.S3FileSystem(endpoint_url=sys.argv[2], "
                "key='testing', secret='testing'))\n"
                "print(con.execute('select count(*), count(distinct artifact_id), "
                "count(*) filter (event_type = \\'artifact_failed\\') from events').fetchone())\n"
                "print(con.execute(\"select count(*) from duckdb_views() "
                "where contains(sql, 's3store')\").fetchone())")
        done = subprocess.run([sys.executable, "-c", read, str(catalog), second],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == ["(3, 2, 1)", "(0,)"]
        assert _sql(a) == (1, 1, 0)  # this process still reads each lake on its own store
        assert _sql(b) == (3, 2, 1)
