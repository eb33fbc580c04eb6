"""A lake folder that is a plain file (`events` written by `cp x.jsonl data/events`, a bad
sync): `ingest` failed with a bare "[Errno 20] Not a directory: '…/events/date=…/hour=14'",
and the reading commands answered as if the lake were empty. Every command now refuses with
one line naming the file and the fix (contract §4: a broken lake never looks healthy and
empty), before it reads or writes anything."""

from __future__ import annotations

import json
import shlex
import shutil
from datetime import timedelta

import pytest
from conftest import NOW, assert_one_line_error, event, run_main, ts

from voice_monitor.lake import Lake, NoLakeError, open_lake
from voice_monitor.landing import land_records

COMMANDS = [
    ["ingest", "{input}", "--now", ts(NOW)],
    ["metrics", "realtime", "--now", ts(NOW)],
    ["metrics", "historical", "--now", ts(NOW)],
    ["sql", "select count(*) from events"],
    ["rollup", "hourly", "--now", ts(NOW)],
    ["retention", "--now", ts(NOW)],
    ["lake", "check"],
    ["events", "recent"],
]


def _message(lake: Lake, rel: str) -> str:
    path = str(lake.root / rel)
    return (f"voice-monitor: error: lake folder {path!r} is a file, not a folder; move it out of the "
            f"lake (mv {shlex.quote(path)} {shlex.quote(path + '.moved')}) and run the command "
            "again")


@pytest.mark.parametrize("folder", ["events", "quarantine", "snapshots/pipeline_hourly"])
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_every_command_names_a_lake_folder_that_is_a_file(lake, tmp_path, capsys, folder,
                                                          command):
    land_records(lake, [event("artifact_received", NOW)], now=NOW)
    if folder == "events":
        for path in sorted(lake.events_dir.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        lake.events_dir.rmdir()
    (lake.root / folder).parent.mkdir(parents=True, exist_ok=True)
    (lake.root / folder).write_text("not a folder\n")
    source = tmp_path / "in.jsonl"
    source.write_text('{"event_id": "a", "event_type": "artifact_received", '
                      f'"timestamp": "{ts(NOW)}"}}\n')
    args = [a.replace("{input}", str(source)) for a in command]
    code, _, err = run_main(capsys, *args, "--lake", str(lake.root))
    assert_one_line_error(code, err)
    assert err.strip() == _message(lake, folder)
    assert (lake.root / folder).read_text() == "not a folder\n"  # left as it was


def test_the_python_api_refuses_it_too(lake):
    (lake.root / "alerts").write_text("x")
    with pytest.raises(NoLakeError, match=r"lake folder '.*alerts' is a file, not a folder; "
                                          r"move it out of the lake"):
        open_lake(lake.root)


# -- the lake path itself is a file, or lies inside one -----------------------------------------
@pytest.mark.parametrize("command", [*COMMANDS, ["init"], ["demo"]], ids=lambda c: " ".join(c[:2]))
@pytest.mark.parametrize("inside", [False, True], ids=["the path", "a folder above it"])
def test_a_lake_path_that_is_a_file_is_a_usage_error_naming_it(tmp_path, capsys, command, inside):
    # click's "Directory '…' is a file." named no fix; inside a file, reads said "no lake at …;
    # create it with voice-monitor init …", and init then failed "[Errno 20] Not a directory"
    file = tmp_path / "lake.jsonl"
    file.write_text("not a folder\n")
    root = file / "lake" if inside else file
    source = tmp_path / "in.jsonl"
    source.write_text('{"event_id": "a", "event_type": "artifact_received", '
                      f'"timestamp": "{ts(NOW)}"}}\n')
    args = [a.replace("{input}", str(source)) for a in command]
    code, _, err = run_main(capsys, *args, "--lake", str(root))
    assert_one_line_error(code, err, status=2)
    if inside:
        assert (f"'--lake': lake path '{root}' lies inside '{file}', which is a file, not a "
                "folder; pass a lake folder, e.g. ./data") in err
    else:
        assert (f"'--lake': lake path '{file}' is a file, not a folder; pass the lake's folder, "
                "e.g. ./data, or create a lake in a new folder with voice-monitor init DIR") in err
    assert file.read_text() == "not a folder\n"  # left as it was


def test_the_python_api_names_a_lake_path_that_is_a_file(tmp_path):
    file = tmp_path / "lake.jsonl"
    file.write_text("x")
    with pytest.raises(NoLakeError, match=r"lake path '.*lake.jsonl' is a file, not a folder"):
        open_lake(file)  # it said "no lake at …; create it with voice-monitor init …"
    for make in (open_lake, Lake.create):
        with pytest.raises(NoLakeError, match=r"lake path '.*lake.jsonl/x' lies inside "
                                              r"'.*lake.jsonl', which is a file"):
            make(file / "x")


def test_a_file_for_the_lock_folder_or_a_folder_for_a_lock_file_is_named_by_ingest(
        lake, tmp_path, capsys):
    """state/locks a file failed every landing with a bare "[Errno 17] File exists"; a lock
    file that is a folder with "[Errno 21] Is a directory". Reading commands never take a lock
    and go on answering."""
    source = tmp_path / "in.jsonl"
    source.write_text('{"event_id": "a", "event_type": "artifact_received", '
                      f'"timestamp": "{ts(NOW)}"}}\n')
    root = ["--lake", str(lake.root)]
    locks = lake.root / "state" / "locks"
    locks.parent.mkdir(parents=True, exist_ok=True)
    locks.write_text("not a folder\n")
    code, _, err = run_main(capsys, "ingest", str(source), "--now", ts(NOW), *root)
    assert_one_line_error(code, err, status=1)
    assert err.strip() == _message(lake, "state/locks"), err
    code, out, err = run_main(capsys, "metrics", "realtime", "--now", ts(NOW), "--json", *root)
    assert code == 0, err

    locks.unlink()
    locks.mkdir()
    for stripe in range(64):  # every stripe an hour can map to
        (locks / f"hours-{stripe:02d}.lock").mkdir()
    code, _, err = run_main(capsys, "ingest", str(source), "--now", ts(NOW), *root)
    assert_one_line_error(code, err, status=1)
    assert "is a folder, not a file; move it out of the lake (mv " in err, err
    assert not any(lake.events_dir.rglob("*.parquet"))


def test_a_folder_for_the_alert_lock_is_named_by_alert_writers(lake, capsys):
    """alerts/.lock a folder failed `alerts check`, `alerts ack` and `retention` with a bare
    "[Errno 21] Is a directory"; `alerts list` takes no lock and answers."""
    (lake.root / "alerts" / ".lock").mkdir(parents=True)
    root = ["--lake", str(lake.root)]
    path = str(lake.root / "alerts" / ".lock")
    for argv in (["alerts", "check", "--now", ts(NOW)], ["retention", "--now", ts(NOW)]):
        code, _, err = run_main(capsys, *argv, *root)
        assert_one_line_error(code, err, status=1)
        assert err.strip() == (
            f"voice-monitor: error: lake file {path!r} is a folder, not a file; move it out of "
            f"the lake (mv {shlex.quote(path)} {shlex.quote(path + '.moved')}) and run the "
            "command again"), err
    code, out, err = run_main(capsys, "alerts", "list", *root)
    assert code == 0, err


# -- a folder under state/ that is a file ------------------------------------------------------
@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Lake:
    """A lake with events 60 h and 2 h before NOW (the first past the events' 48 h retention),
    rolled up: every state folder a command may need exists."""
    lake = Lake.create(tmp_path_factory.mktemp("built") / "lake")
    land_records(lake, [event("artifact_received", NOW - timedelta(hours=h)) for h in (60, 2)],
                 now=NOW)
    from voice_monitor.rollups import backfill

    backfill(lake, NOW - timedelta(hours=61), NOW - timedelta(hours=1), NOW, progress=False)
    return lake


STATE_NEEDED = [  # (the folder made a file, a command that needs it)
    ("state/copies", ["retention"]),
    ("state/rollups", ["retention"]),
    ("state/rollups", ["rollup", "hourly"]),
    ("state/rollups", ["rollup", "hourly", "--hour", "2026-02-16T12"]),
    ("state/rollups", ["rollup", "daily"]),
    ("state/rollups", ["backfill", "--start", "2026-02-16T10:00Z", "--end", "2026-02-16T13:00Z"]),
    ("state/rollups/hourly", ["rollup", "hourly", "--hour", "2026-02-16T12"]),
    ("state/rollups/hourly", ["backfill", "--start", "2026-02-16T10:00Z",
                              "--end", "2026-02-16T13:00Z"]),
    ("state/rollups/daily", ["rollup", "daily", "--day", "2026-02-15"]),
    ("state/unreadable", ["lake", "check"]),
]


@pytest.mark.parametrize(("folder", "command"), STATE_NEEDED,
                         ids=[f"{f} {' '.join(c[:2])}" for f, c in STATE_NEEDED])
def test_a_state_folder_that_is_a_file_is_named_by_the_commands_that_need_it(
        built, tmp_path, capsys, folder, command):
    """They ended on a bare "[Errno 20] Not a directory: '…/state/copies/2026-02-14T00.log'"
    ("[Errno 17] File exists" for state/rollups/hourly); retention had dropped the expired
    hour before it failed, and never said so. Now one line naming the file and the fix, and
    retention drops nothing before it."""
    lake = Lake(shutil.copytree(built.root, tmp_path / "lake"))
    path = lake.root / folder
    shutil.rmtree(path, ignore_errors=True)  # (state/unreadable is made by its first use)
    path.write_text("not a folder\n")
    hours = sorted(p.relative_to(lake.root) for p in lake.events_dir.glob("date=*/hour=*"))
    assert len(hours) == 2
    timed = [] if command[0] == "lake" else ["--now", ts(NOW)]
    code, _, err = run_main(capsys, *command, *timed, "--lake", str(lake.root))
    assert_one_line_error(code, err, status=1)
    assert err.strip() == _message(lake, folder)
    assert path.read_text() == "not a folder\n"
    assert sorted(p.relative_to(lake.root) for p in lake.events_dir.glob("date=*/hour=*")) == hours


@pytest.mark.parametrize("folder", ["state/copies", "state/rollups", "state/unreadable"])
def test_reading_commands_go_on_answering_past_a_state_folder_that_is_a_file(built, tmp_path,
                                                                            capsys, folder):
    lake = Lake(shutil.copytree(built.root, tmp_path / "lake"))
    shutil.rmtree(lake.root / folder, ignore_errors=True)
    (lake.root / folder).write_text("not a folder\n")
    for argv in (["metrics", "historical", "--now", ts(NOW)], ["events", "recent"],
                 ["retention", "--dry-run", "--now", ts(NOW)]):
        code, out, err = run_main(capsys, *argv, "--json", "--lake", str(lake.root))
        assert code == 0, (argv, err)
    assert json.loads(out)["deleted"] == ["events/date=2026-02-14/hour=02"]  # 60 h before NOW


def test_an_event_day_folder_that_is_a_file_is_named_by_ingest(lake, tmp_path, capsys):
    # the landing listed the hour's folder: "[Errno 20] Not a directory: '…/date=…/hour=14'"
    day = lake.events_dir / f"date={NOW:%Y-%m-%d}"
    day.parent.mkdir(parents=True, exist_ok=True)
    day.write_text("not a folder\n")
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(event("artifact_received", NOW)) + "\n")
    code, _, err = run_main(capsys, "ingest", str(source), "--now", ts(NOW),
                            "--lake", str(lake.root))
    assert_one_line_error(code, err, status=1)
    assert err.strip() == _message(lake, f"events/date={NOW:%Y-%m-%d}")
    assert day.read_text() == "not a folder\n"


def test_landings_past_a_copy_log_folder_that_is_a_file_say_so_once_in_the_log(lake, caplog):
    """Landings go on past `state/copies` made a file (the copy log is a shortcut), but wrote
    no log line and said nothing: every hour after it was de-duplicated in full, more slowly,
    with no sign why. Now one warning per process and lake names the file and the mv."""
    copies = lake.root / "state" / "copies"
    shutil.rmtree(copies, ignore_errors=True)
    copies.write_text("not a folder\n")
    caplog.set_level("WARNING", logger="voice_monitor.copy_log")
    for hours in ((2, 3), (1,), (2,)):  # three landings, four hours between them
        land_records(lake, [event("artifact_received", NOW - timedelta(hours=h)) for h in hours],
                     now=NOW)
    assert len(list(lake.events_dir.glob("date=*/hour=*/*.parquet"))) == 4
    path = str(copies)
    assert [r.getMessage() for r in caplog.records if r.name == "voice_monitor.copy_log"] == [
        f"landings in {lake.root} write no copy log ({path!r} is a file, not a folder; move it "
        f"out of the lake (mv {shlex.quote(path)} {shlex.quote(path + '.moved')})); until they "
        "do, the hourly rollup de-duplicates each of their hours in full"]
    assert copies.read_text() == "not a folder\n"


@pytest.mark.parametrize("command", ["ingest", "init"])
def test_a_marker_that_is_a_folder_is_named_by_the_commands_that_make_lakes(lake, tmp_path,
                                                                          capsys, command):
    # the lake's marker replaced by a folder: ingest and init said "cannot create a lake at
    # 'LAKE': Is a directory; pick a folder this user can create and write", of a lake that is
    # there, and nothing named the marker
    land_records(lake, [event("artifact_received", NOW)], now=NOW)
    marker = lake.root / ".voice-monitor-lake"
    marker.unlink()
    marker.mkdir()
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(event("artifact_received", NOW)) + "\n")
    args = ["ingest", str(source), "--now", ts(NOW)] if command == "ingest" else ["init"]
    code, _, err = run_main(capsys, *args, "--lake", str(lake.root))
    assert_one_line_error(code, err, 1)
    path = str(marker)
    assert err.strip() == (f"voice-monitor: error: lake file {path!r} is a folder, not a file; "
                           f"move it out of the lake (mv {shlex.quote(path)} "
                           f"{shlex.quote(path + '.moved')}) and run the command again")
    assert marker.is_dir()
    shutil.move(path, path + ".moved")  # as the message says
    code, _, err = run_main(capsys, *args, "--lake", str(lake.root))
    assert code == 0, err
    assert marker.is_file()
