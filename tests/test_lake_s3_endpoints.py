"""One process, two S3-protocol stores in turn (contract §13): a notebook or a long-lived process
that moves from one store (`AWS_ENDPOINT_URL`) to another reads the second store's lake, never
through its first client. Two real `moto_server`s on 127.0.0.1."""

from __future__ import annotations

import pytest
from conftest import NOW, event
from servers import make_bucket, s3_env, s3_server

from voice_monitor.event_log import recent_events
from voice_monitor.lake import Lake
from voice_monitor.landing import land_records

pytestmark = pytest.mark.slow

LAKE = "s3://lakes/team/prod"  # the same URL on both stores


def _lake_with(endpoint: str, monkeypatch, ids: list[str]) -> Lake:
    for key, value in s3_env(endpoint).items():
        monkeypatch.setenv(key, value)
    make_bucket(endpoint, "lakes")
    lake = Lake.create(LAKE)
    land_records(lake, [event("artifact_received", NOW, event_id=i) for i in ids], now=NOW)
    return lake


def _ids(lake: Lake) -> list[str]:
    page = recent_events(lake, limit=10)
    return sorted(page.rows["event_id"].to_list())


def test_a_process_that_moves_to_another_store_reads_the_new_store(tmp_path, monkeypatch):
    with s3_server(tmp_path) as first:
        assert _ids(_lake_with(first, monkeypatch, ["first-1", "first-2"])) == ["first-1",
                                                                                 "first-2"]
    # the first store is gone; the same lake URL on a second store holds other events
    with s3_server(tmp_path) as second:
        assert _ids(_lake_with(second, monkeypatch, ["second-1"])) == ["second-1"]
