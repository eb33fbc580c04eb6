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


def test_the_same_lake_url_on_two_stores_keeps_two_state_folders_and_an_old_one_is_kept(
        tmp_path, monkeypatch):
    # one state folder per bucket/prefix served both stores: the embedded counter store of one
    # counted the other's events, and a durable producer's spool (events left by a crash) was
    # sent to whichever store asked first
    import json

    from voice_monitor import Producer, storage
    from voice_monitor.counters import realtime_metrics

    state = tmp_path / "state"
    monkeypatch.setenv(storage.STATE_DIR_ENV, str(state))
    old = state / "s3" / "lakes" / "team" / "prod"  # the folder's name before the endpoint
    (old / "spool" / "default").mkdir(parents=True)
    left = event("artifact_received", NOW, event_id="left-by-a-crash")
    (old / "spool" / "default" / "00000000000000000001-1-000001.jsonl").write_text(
        json.dumps(left) + "\n")
    (old / "sub").mkdir()  # the state of the lake s3://lakes/team/prod/sub: not this lake's
    (old / "sub" / "counters.sqlite").write_bytes(b"")
    with s3_server(tmp_path) as first, s3_server(tmp_path) as second:
        a = _lake_with(first, monkeypatch, ["a-1", "a-2"])  # first to ask: takes the old folder
        with Producer(LAKE, durable=True, now=NOW):
            pass  # sends what the old folder's spool held
        b = _lake_with(second, monkeypatch, ["b-1"])
        port_a, port_b = first.rsplit(":", 1)[1], second.rsplit(":", 1)[1]
        assert _ids(b) == ["b-1"]
        assert realtime_metrics(b, now=NOW)["artifacts_received"] == 1  # not 4
        for key, value in s3_env(first).items():
            monkeypatch.setenv(key, value)
        a = Lake(LAKE)  # opened again on the first store
        assert _ids(a) == ["a-1", "a-2", "left-by-a-crash"]
        assert realtime_metrics(a, now=NOW)["artifacts_received"] == 3
        assert a.local_state_dir == state / f"s3@http_127.0.0.1_{port_a}" / "lakes%2Fteam%2Fprod"
        assert b.local_state_dir == state / f"s3@http_127.0.0.1_{port_b}" / "lakes%2Fteam%2Fprod"
    assert list((a.local_state_dir / "spool" / "default").glob("*.jsonl")) == []  # all sent
    assert sorted(p.name for p in old.iterdir()) == ["sub"]  # the other lake's state stays
    assert (old / "sub" / "counters.sqlite").exists()
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    assert Lake("s3://lakes/x").local_state_dir == state / "s3@aws" / "lakes%2Fx"  # AWS S3
