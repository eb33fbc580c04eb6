"""A lake whose folders lie on two file systems (events/ a symbolic link to another disk): every
lake file is written in .tmp/ and renamed into place, which the OS refuses across file systems.
`ingest` said only "[Errno 18] Invalid cross-device link: …"; it now says what is wrong and
what to do. A lake folder that is itself a link to another disk works as any other.
"""

from __future__ import annotations

import json

import pytest
from conftest import NOW, assert_one_line_error, event, run_main
from faultkit import disk_fixture  # noqa: F401 - provides the `disk` fixture

from voice_monitor.lake import Lake

NOW_TEXT = "2026-02-16T14:30:00Z"


def _events(tmp_path):
    path = tmp_path / "e.jsonl"
    path.write_text(json.dumps(event("artifact_received", NOW)) + "\n")
    return path


def test_a_lake_folder_on_another_file_system_is_named_with_the_fix(disk, tmp_path, capsys):
    root = tmp_path / "lake"
    Lake.create(root)
    (disk / "events").mkdir()
    (root / "events").symlink_to(disk / "events")
    code, _, err = run_main(capsys, "ingest", str(_events(tmp_path)), "--now", NOW_TEXT,
                            "--lake", str(root))
    assert_one_line_error(code, err, status=1)
    assert f"the lake {root} spans more than one file system" in err, err
    assert "keep the whole lake on one file system" in err, err


def test_a_lake_folder_that_links_to_another_file_system_works(disk, tmp_path, capsys):
    (disk / "lake").mkdir()
    Lake.create(disk / "lake")
    root = tmp_path / "link"
    root.symlink_to(disk / "lake")
    code, out, err = run_main(capsys, "ingest", str(_events(tmp_path)), "--now", NOW_TEXT,
                              "--lake", str(root))
    assert (code, out.strip()) == (0, "accepted 1 (of which duplicate 0), quarantined 0"), err
    code, out, err = run_main(capsys, "metrics", "realtime", "--json", "--now", NOW_TEXT,
                              "--lake", str(root))
    assert code == 0 and json.loads(out)["artifacts_received"] == 1, err


@pytest.mark.slow  # a server process (~15 s here)
def test_a_batch_posted_to_a_lake_across_file_systems_is_503_and_the_log_says_why(
        disk, tmp_path):
    """The collector answered such a lake's POST /v1/events with a plain 500 and a traceback in
    its log. It is now a 503 (the sender keeps its batch) saying nothing landed, without the
    lake's path, and the log has the CLI's one line."""
    from server_process import INGEST, ServerProcess, bearer, client

    root = tmp_path / "lake"
    Lake.create(root)
    (disk / "events").mkdir()
    (root / "events").symlink_to(disk / "events")
    with ServerProcess(root, log=tmp_path / "server.log") as server, client() as http:
        answer = http.post(server.url + "/v1/events", headers=bearer(INGEST),
                           content=json.dumps(event("artifact_received", NOW)) + "\n")
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"] == "1"
        assert answer.json()["detail"] == (
            "the server cannot write to its lake (its folders lie on more than one file "
            "system; the server's log says where and how to fix it); nothing of this request "
            "was landed; try again in a moment")
        assert str(tmp_path) not in answer.text
        log = server.output()
    assert "Traceback" not in log, log
    assert f"POST /v1/events answered 503: the lake {root} spans more than one file system" in log
    assert "keep the whole lake on one file system" in log
    assert list((disk / "events").rglob("*.parquet")) == []
