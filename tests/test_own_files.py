"""Real-time reads of a lake on an object store with the embedded counter store (contract §5,
§13): each host's store counts only what landed through it, so a read whose window holds a file
another host landed counts the window from the lake's files (own_files.py)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from conftest import NOW, event, run_main
from servers import make_bucket, s3_env, s3_server

from voice_monitor import lake_window
from voice_monitor.lake import Lake

pytestmark = pytest.mark.slow

NOW_ARG = "2026-02-16T14:30:00Z"


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    with s3_server(tmp_path_factory.mktemp("moto")) as url:
        yield url


@pytest.fixture
def aws(endpoint, monkeypatch):
    for key, value in s3_env(endpoint).items():
        monkeypatch.setenv(key, value)
    return endpoint


def _ingest(capsys, tmp_path, lake: str, name: str, records: list[dict]) -> None:
    path = tmp_path / f"{name}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    code, _, err = run_main(capsys, "ingest", str(path), "--lake", lake, "--now", NOW_ARG)
    assert code == 0, err


def _received(capsys, lake: str) -> int:
    code, out, err = run_main(capsys, "metrics", "realtime", "--lake", lake, "--now", NOW_ARG,
                              "--json")
    assert code == 0, err
    return json.loads(out)["artifacts_received"]


def test_a_read_counts_the_events_another_state_folder_landed(aws, capsys, tmp_path,
                                                              monkeypatch):
    make_bucket(aws, "own-files-a")
    lake = "s3://own-files-a/prod"
    assert run_main(capsys, "init", lake)[0] == 0
    # host A lands 3 artifact_received 10-12 minutes before now, host B 2 more (another state
    # folder: another host, or a service user with another HOME)
    monkeypatch.setenv("VOICE_MONITOR_STATE_DIR", str(tmp_path / "host-a"))
    _ingest(capsys, tmp_path, lake, "a", [event("artifact_received", NOW - timedelta(minutes=m))
                                         for m in (10, 11, 12)])
    monkeypatch.setenv("VOICE_MONITOR_STATE_DIR", str(tmp_path / "host-b"))
    _ingest(capsys, tmp_path, lake, "b", [event("artifact_received", NOW - timedelta(minutes=m))
                                         for m in (5, 6)])
    # every host reads all 5 landed events: A's store holds 3, B's 2, C's none (before: 3, 2, 5)
    for host in ("host-a", "host-b", "host-c"):
        monkeypatch.setenv("VOICE_MONITOR_STATE_DIR", str(tmp_path / host))
        assert _received(capsys, lake) == 5, host


def test_a_host_that_landed_every_file_of_the_window_reads_its_store(aws, capsys, tmp_path,
                                                                     monkeypatch):
    make_bucket(aws, "own-files-b")
    lake = "s3://own-files-b/prod"
    assert run_main(capsys, "init", lake)[0] == 0
    monkeypatch.setenv("VOICE_MONITOR_STATE_DIR", str(tmp_path / "host-a"))
    # the window of 14:30 is 13:31-14:30: files in both of its hours, both landed here
    _ingest(capsys, tmp_path, lake, "a", [event("artifact_received", NOW - timedelta(minutes=m))
                                         for m in (10, 45)])
    _ingest(capsys, tmp_path, lake, "b", [event("artifact_received", NOW - timedelta(minutes=3))])
    scans = []
    real = lake_window.scope_counts
    monkeypatch.setattr(lake_window, "scope_counts", lambda *a, **k: scans.append(1) or real(*a, **k))
    assert _received(capsys, lake) == 3
    assert scans == []  # the store's O(1) answer, no read of the window's files


def test_an_event_file_is_noted_before_it_appears(aws, capsys, tmp_path, monkeypatch):
    # noted after its PUT, a file a read of this host listed in between was taken for another
    # host's: the read counted the lake's files and logged that another host lands there
    from voice_monitor import storage

    make_bucket(aws, "own-files-c")
    lake = "s3://own-files-c/prod"
    assert run_main(capsys, "init", lake)[0] == 0
    monkeypatch.setenv("VOICE_MONITOR_STATE_DIR", str(tmp_path / "host-a"))
    notes = Lake(lake).local_state_dir / "landed" / "2026-02-16T14.txt"
    real, noted = storage.put, []

    def put(path, data):
        if "/events/" in str(path):  # the event file's PUT: its name already noted?
            noted.append(notes.is_file() and path.name in notes.read_text().split())
        real(path, data)

    monkeypatch.setattr(storage, "put", put)
    _ingest(capsys, tmp_path, lake, "a", [event("artifact_received", NOW - timedelta(minutes=1))])
    assert noted == [True]
