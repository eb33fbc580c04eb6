"""A lake path that starts with `~` is in the home folder, wherever it was written.

A shell expands `--lake ~/lake`, but nothing expanded `VOICE_MONITOR_LAKE=~/lake` in an env
file, `lake = "~/lake"` in voice-monitor.toml or `recent_events("~/lake")`: every reader said
"no lake at ~/lake; create it with voice-monitor init '~/lake'", and following that advice (or
running `ingest` or `serve`, which create their lake) made a folder literally named `~` in the
current directory: a second lake, different for every directory a command ran in.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import NOW, event, run_main

import voice_monitor as vm
from voice_monitor.lake import Lake, open_lake
from voice_monitor.landing import land_records
from voice_monitor.settings import lake_location


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("HOME", str(folder))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # a '~' folder made by mistake would land here
    return folder


def test_python_and_the_cli_read_a_lake_given_as_tilde(home, capsys):
    lake = Lake.create(home / "lake")
    land_records(lake, [event("artifact_received", NOW, event_id="e-1")], now=NOW)
    assert open_lake("~/lake").root == home / "lake"
    assert vm.recent_events("~/lake").rows["event_id"].to_list() == ["e-1"]
    code, out, err = run_main(capsys, "events", "recent", "--lake", "~/lake", "--json")
    assert code == 0, err
    assert '"e-1"' in out
    assert not Path("~").exists()


def test_the_environment_and_the_config_file_name_the_home_folder(home, monkeypatch, capsys):
    assert lake_location({"VOICE_MONITOR_LAKE": "~/lake"}) == str(home / "lake")
    assert lake_location({"VOICE_MONITOR_LAKE": "~/lake"}, cwd="/elsewhere") == str(home / "lake")
    Path("voice-monitor.toml").write_text('lake = "~/from-toml"\n')
    assert lake_location({}) == str(home / "from-toml")
    # ingest creates its lake: in the home folder, not in ./~ here
    Path("e.jsonl").write_text('{"event_id": "e-2", "event_type": "artifact_received", '
                               '"timestamp": "2026-02-16T14:00:00Z"}\n')
    monkeypatch.setenv("VOICE_MONITOR_LAKE", "~/made")
    code, out, err = run_main(capsys, "ingest", "e.jsonl", "--now", "2026-02-16T14:30:00Z")
    assert code == 0, err
    assert (home / "made").is_dir() and not Path("~").exists()
    assert vm.recent_events(home / "made").rows["event_id"].to_list() == ["e-2"]


def test_a_folder_named_tilde_is_still_reachable_as_dot_slash(home):
    Lake.create(Path("~") / "lake")  # a pathlib.Path is a path as given too: expanded
    assert (home / "lake").is_dir()
    Lake.create("./~/literal")  # not at the start: literal
    assert Path("~/literal").resolve().parent.parent == Path.cwd()
    assert open_lake("./~/literal").root == Path("./~/literal")


def test_a_durable_producer_spools_in_the_home_folder(home):
    """Producer(spool_dir='~/spool') spooled into ./~/spool: a producer started from another
    directory found no leftovers there, so what a crashed one had spooled was never sent."""
    lake = Lake.create(home / "lake")
    with vm.Producer(lake, durable=True, spool_dir="~/spool", now=NOW) as producer:
        assert producer.spool_dir == home / "spool"
        producer.emit(event("artifact_received", NOW, event_id="e-3"))
    assert (home / "spool").is_dir() and not Path("~").exists()
    assert vm.recent_events(lake).rows["event_id"].to_list() == ["e-3"]


def test_the_config_file_variable_names_the_home_folder(home):
    """VOICE_MONITOR_CONFIG=~/vm.toml (an env file: no shell) was refused as 'not a file'."""
    (home / "vm.toml").write_text('lake = "/srv/from-home-toml"\n')
    assert lake_location({"VOICE_MONITOR_CONFIG": "~/vm.toml"}) == "/srv/from-home-toml"
