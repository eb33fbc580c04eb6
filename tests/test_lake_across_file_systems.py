"""A lake whose folders lie on two file systems (events/ a symbolic link to another disk): every
lake file is written in .tmp/ and renamed into place, which the OS refuses across file systems.
`ingest` said only "[Errno 18] Invalid cross-device link: …"; it now says what is wrong and
what to do. A lake folder that is itself a link to another disk works as any other.
"""

from __future__ import annotations

import json

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
