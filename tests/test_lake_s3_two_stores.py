"""One process, two S3-protocol stores at once (contract §13): the same bucket and prefix on two
stores are two lakes, and each is read through its own store's client, its queries, SQL views
and rollups too. Two real `moto_server`s on 127.0.0.1."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import NOW, event
from servers import make_bucket, s3_env, s3_server

from voice_monitor import storage
from voice_monitor.adhoc import run_query
from voice_monitor.event_log import recent_events
from voice_monitor.lake import Lake
from voice_monitor.landing import land_records
from voice_monitor.queries import historical_metrics
from voice_monitor.rollups import run_hourly
from voice_monitor.views import lake_connection

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
