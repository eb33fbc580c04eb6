"""A real `voice-monitor serve` whose lake goes wrong under it: unmounted, or holding a corrupt file.

The server's fault is never the client's: a sender must be told to come back (503 with
Retry-After, nothing landed where the lake was), a reader must not be told its request was bad
(400) when a lake file is unreadable.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from datetime import timedelta

import pyarrow.parquet as pq
import pytest
from conftest import NOW, event
from server_process import INGEST, STAFF, ServerProcess, bearer, client

pytestmark = pytest.mark.slow

NDJSON = {"Content-Type": "application/x-ndjson"}


def _post(server, http, *records):
    body = "\n".join(json.dumps(r) for r in records)
    return http.post(server.url + "/v1/events", content=body, headers={**bearer(INGEST), **NDJSON})


def test_an_unmounted_lake_refuses_events_and_reads_until_it_is_back(tmp_path):
    lake = tmp_path / "mnt" / "lake"
    with ServerProcess(lake, log=tmp_path / "server.log") as server, client() as http:
        first = event("artifact_received", NOW, event_id="before-unmount")
        assert _post(server, http, first).json() == {"accepted": 1, "duplicates": 0,
                                                     "quarantined": 0}
        # the disk goes away: what is left at the path is the empty mount point
        os.rename(lake, tmp_path / "away")
        lake.mkdir()

        refused = _post(server, http, event("artifact_received", NOW, event_id="while-gone"))
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        # the answer says the lake is missing and to retry, but not where the lake is (any
        # client would learn the server's paths): the server's log says where
        assert refused.json()["detail"] == (
            "the server's lake is missing (unmounted, moved or deleted? the server's log says "
            "where); try again in a moment")
        assert f"POST /v1/events answered 503: no lake at {lake}" in server.output()
        assert os.listdir(lake) == []  # nothing was made where the lake was

        assert http.get(server.url + "/healthz").status_code == 503
        assert http.head(server.url + "/healthz").status_code == 503  # probes that send HEAD
        read = http.get(server.url + "/api/v1/events", headers=bearer(STAFF))
        assert read.status_code == 503
        assert read.json()["detail"] == refused.json()["detail"]
        assert str(tmp_path) not in read.text
        assert f"GET /api/v1/events answered 503: no lake at {lake}" in server.output()

        # the disk comes back: the refused batch is sent again and lands
        lake.rmdir()
        os.rename(tmp_path / "away", lake)
        assert http.get(server.url + "/healthz").status_code == 200
        assert http.head(server.url + "/healthz").status_code == 200
        again = _post(server, http, event("artifact_received", NOW, event_id="while-gone"))
        assert again.json() == {"accepted": 1, "duplicates": 0, "quarantined": 0}
        ids = {r["event_id"] for r in http.get(server.url + "/api/v1/events",
                                               headers=bearer(STAFF)).json()["rows"]}
        assert ids == {"before-unmount", "while-gone"}


@pytest.mark.parametrize("folder", ["state/locks", "events/date=2026-02-17"])
def test_a_lake_folder_made_a_file_under_the_server_is_503_naming_it_in_the_log(tmp_path,
                                                                                folder):
    """A landing meeting a file where a folder should be (state/locks, an event day made by
    hand or a bad sync) answered 503 "the server's lake is missing", or, for an event day, a
    bare 500 ("[Errno 20] Not a directory"). It is 503 (the sender keeps its batch and retries)
    saying what is wrong; the log names the file and the fix; what was acknowledged stays."""
    lake = tmp_path / "lake"
    with ServerProcess(lake, log=tmp_path / "server.log") as server, client() as http:
        assert _post(server, http, event("artifact_received", NOW, event_id="before")).json() == {
            "accepted": 1, "duplicates": 0, "quarantined": 0}
        path = lake / folder
        shutil.rmtree(path, ignore_errors=True)
        path.write_text("not a folder\n")
        late = event("artifact_received", NOW + timedelta(days=1), event_id="after")
        refused = _post(server, http, late)
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["detail"] == (
            "a file stands where a folder of the server's lake should be, or a folder where a "
            "file should be (the server's log says which and how to fix it); try again in a "
            "moment")
        assert str(tmp_path) not in refused.text
        assert (f"POST /v1/events answered 503: lake folder '{path}' is a file, not a folder; "
                f"move it out of the lake (mv {path} {path}.moved)") in server.output()

        path.rename(path.with_name(path.name + ".moved"))
        assert _post(server, http, late).json() == {"accepted": 1, "duplicates": 0,
                                                    "quarantined": 0}
        ids = {r["event_id"] for r in http.get(server.url + "/api/v1/events",
                                               headers=bearer(STAFF)).json()["rows"]}
        assert ids == {"before", "after"}


def test_an_unreadable_lake_file_is_the_servers_error_naming_the_file(tmp_path):
    lake = tmp_path / "lake"
    with ServerProcess(lake, log=tmp_path / "server.log") as server, client() as http:
        assert _post(server, http, event("artifact_received", NOW)).status_code == 200
        hour = lake / "events" / "date=2026-02-16" / "hour=14"
        (good,) = hour.glob("*.parquet")
        bad = hour / "zz-truncated.parquet"
        shutil.copy(good, bad)
        with open(bad, "r+b") as f:
            f.truncate(os.path.getsize(good) // 2)
        with pytest.raises(Exception):  # noqa: B017 (the premise: the file really is unreadable)
            pq.read_table(bad)

        window = {"start": "2026-02-16T00:00:00Z", "end": "2026-02-17T00:00:00Z"}
        fix = f"move it aside with: voice-monitor lake check --move-aside --lake {lake}"
        # the event log reads around the hour (5d291fd): 200, the file and the fix named
        answer = http.get(server.url + "/api/v1/events", headers=bearer(STAFF), params=window)
        assert answer.status_code == 200
        said = answer.json()["events_unreadable"]
        assert said["files"] == ["events/date=2026-02-16/hour=14/zz-truncated.parquet"]
        assert said["hours"] == ["2026-02-16T14:00:00Z"] and said["message"].endswith(fix)
        # a file a read cannot go around (an alert record): the server's 500 names it
        record = lake / "alerts" / "date=2026-02-16" / "zz-truncated.parquet"
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_bytes(b"PAR1 not really")
        answer = http.get(server.url + "/api/v1/alerts/history", headers=bearer(STAFF))
        assert answer.status_code == 500
        # the Parquet reader's error: in the log only; the command with the lake's path, for
        # staff, as the CLI and the API's snapshots_unreadable give it (a producer never gets it)
        assert answer.json()["detail"] == (
            "unreadable lake file alerts/date=2026-02-16/zz-truncated.parquet (the server's "
            f"log says why); {fix}")
        assert "ArrowInvalid" not in answer.text and "magic" not in answer.text
        assert ("GET /api/v1/alerts/history answered 500: unreadable lake file alerts/"
                "date=2026-02-16/zz-truncated.parquet (") in server.output()
        assert f"lake check --move-aside --lake {lake}" in server.output()


@contextlib.contextmanager
def _immutable(folder):
    """The folders of `folder` made immutable (chattr +i): no file may be created, renamed or
    removed in them, by root too (the tests run as root, whom `chmod -R a-w` does not stop).
    As after `chmod -R a-w`, the files the server holds open stay writable (their own flag is
    not set: SQLite's mapped -shm file, made immutable under it, ends the process by SIGBUS)."""
    folders = [str(folder), *(str(p) for p in folder.rglob("*") if p.is_dir())]
    made = subprocess.run(["chattr", "+i", *folders], capture_output=True, text=True)
    if made.returncode:
        subprocess.run(["chattr", "-i", *folders], capture_output=True)
        pytest.skip(f"chattr +i is not available here: {made.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *folders], check=True)


def test_a_lake_the_server_may_not_write_to_is_503_and_the_log_says_where(tmp_path):
    # a lake folder made read-only under a running server (chmod -R a-w, a remount, here
    # chattr +i): a sender is told to come back (503, Retry-After), never a plain 500, and
    # the server's log names the lake and what to do; readers are still answered
    lake = tmp_path / "lake"
    with ServerProcess(lake, log=tmp_path / "server.log") as server, client() as http:
        first = event("artifact_received", NOW, event_id="before")
        assert _post(server, http, first).json() == {"accepted": 1, "duplicates": 0,
                                                     "quarantined": 0}
        with _immutable(lake):
            refused = _post(server, http, event("artifact_received", NOW, event_id="refused"))
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "1"
            assert refused.json()["detail"] == (
                "the server may not write to its lake (permission denied or a read-only file "
                "system; the server's log says where and how to fix it); try again in a moment")
            assert str(tmp_path) not in refused.text
            log = server.output()
            assert "Traceback" not in log
            assert f"POST /v1/events answered 503: permission denied in the lake {lake} (" in log
            assert "give the server's user write access to the lake's folders" in log
            read = http.get(server.url + "/api/v1/events", headers=bearer(STAFF))
            assert [r["event_id"] for r in read.json()["rows"]] == ["before"]
        # write access back: the batch sent again lands
        again = _post(server, http, event("artifact_received", NOW, event_id="refused"))
        assert again.json() == {"accepted": 1, "duplicates": 0, "quarantined": 0}
