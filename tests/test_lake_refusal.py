"""A lake is created only on purpose (contract §4): everything else refuses a path with no lake.

A mistyped or unmounted `--lake` must fail with one line, never create an empty lake that then
looks healthy (zero snapshots, silent checks).
"""

from __future__ import annotations

import pytest
from conftest import NOW, event, run_main
from test_cli import COMMANDS

from voice_monitor import (
    acknowledge_alert,
    active_alerts,
    active_artifacts,
    alert_history,
    artifact_timeline,
    failed_artifacts,
    historical_metrics,
    org_breakdown,
    prune_alerts,
    realtime_metrics,
    recent_events,
    retry_history,
    run_checks,
    stage_breakdown,
    stage_history,
)
from voice_monitor.adhoc import run_query
from voice_monitor.lake import Lake, NoLakeError, open_lake
from voice_monitor.landing import land_records
from voice_monitor.views import lake_connection, write_catalog

CREATING = {("init",), ("ingest",), ("demo",), ("serve",)}  # serve: tests/test_server*
EXTRA_ARGS = {
    ("alerts", "ack"): ["al-0000", "--by", "alice"],
    ("backfill",): ["--start", "2026-02-16T00:00Z", "--end", "2026-02-16T02:00Z"],
    ("events", "timeline"): ["a-1"],
    ("sql",): ["select 1"],
    ("metrics", "historical"): ["--start", "2026-02-16T00:00Z", "--end", "2026-02-16T02:00Z"],
}
REFUSING = [words for words in COMMANDS if words not in CREATING]


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    return run_main(capsys, *argv)


def args_for(words: tuple[str, ...], tmp_path) -> list[str]:
    if words == ("orgs", "load"):
        names = tmp_path / "orgs.csv"
        names.write_text("organization_id,name\norg-1,One\n")
        return [str(names)]
    return EXTRA_ARGS.get(words, [])


@pytest.mark.parametrize("words", REFUSING, ids=" ".join)
def test_every_other_command_refuses_a_missing_path_and_creates_nothing(words, tmp_path, capsys):
    missing = tmp_path / "typo" / "lake"
    code, out, err = run_cli([*words, *args_for(words, tmp_path), "--lake", str(missing)], capsys)
    assert code == 1
    assert err.strip().splitlines() == [
        f"voice-monitor: error: no lake at {missing}; create it with voice-monitor init {missing}"]
    assert not (tmp_path / "typo").exists()


@pytest.mark.parametrize("words", [("rollup", "hourly"), ("alerts", "check"), ("retention",),
                                   ("metrics", "realtime"), ("sql",)], ids=" ".join)
def test_a_folder_with_only_a_readme_is_not_a_lake(words, tmp_path, capsys):
    # like the repository's ./data on a fresh clone
    data = tmp_path / "data"
    data.mkdir()
    (data / "README.md").write_text("the default lake")
    code, _, err = run_cli([*words, *args_for(words, tmp_path), "--lake", str(data)], capsys)
    assert code == 1
    assert f"no lake at {data}; create it with voice-monitor init {data}" in err
    assert [p.name for p in data.iterdir()] == ["README.md"]


def test_init_creates_a_lake_that_every_command_then_accepts(tmp_path, capsys):
    root = tmp_path / "new" / "lake"
    code, out, _ = run_cli(["init", str(root)], capsys)
    assert code == 0 and out.strip() == f"created lake at {root}"
    assert Lake(root).exists()
    code, out, _ = run_cli(["init", "--lake", str(root)], capsys)
    assert code == 0 and out.strip() == f"lake already at {root}"
    code, out, err = run_cli(["rollup", "hourly", "--lake", str(root),
                              "--now", "2026-02-16T14:30:00Z"], capsys)
    assert (code, err) == (0, "")
    assert "built 1 hour(s): 2026-02-16T13:00Z" in out  # the empty previous hour, zero row


def test_ingest_creates_the_lake_it_lands_in(tmp_path, capsys):
    source = tmp_path / "events.jsonl"
    source.write_text('{"event_id": "e1", "event_type": "artifact_received", '
                      '"timestamp": "2026-02-16T14:05:00Z"}\n')
    root = tmp_path / "fresh"
    code, out, _ = run_cli(["ingest", str(source), "--lake", str(root), "--now",
                            "2026-02-16T14:30:00Z"], capsys)
    assert code == 0 and out.startswith("accepted 1 ")
    assert Lake(root).exists()


def test_init_refuses_a_file(tmp_path, capsys):
    target = tmp_path / "afile"
    target.write_text("x")
    code, _, err = run_cli(["init", str(target)], capsys)
    assert code != 0 and len(err.strip().splitlines()) == 1 and "afile" in err


def test_init_with_path_and_another_lake_option_is_a_usage_error(tmp_path, capsys):
    # `init A --lake B` made A and ignored B without a word
    a, b = tmp_path / "a", tmp_path / "b"
    code, out, err = run_cli(["init", str(a), "--lake", str(b)], capsys)
    assert code == 2 and out == "" and len(err.splitlines()) == 1
    assert f"PATH {a} and --lake {b} differ; give one of them" in err
    assert not a.exists() and not b.exists()
    code, out, err = run_cli(["init", str(a), "--lake", f"{a}/"], capsys)  # the same folder
    assert code == 0 and out.strip() == f"created lake at {a}", err


def test_init_refuses_a_folder_holding_other_things_and_no_lake(tmp_path, capsys):
    # `init ~` (a home or project folder) made a lake among the user's files, said nothing
    home = tmp_path / "home"
    (home / "projects").mkdir(parents=True)
    (home / "notes.txt").write_text("mine")
    code, out, err = run_cli(["init", str(home)], capsys)
    assert code == 1 and out == ""
    assert err == (f"voice-monitor: error: '{home}' holds other things ('notes.txt', "
                   "'projects') and no lake; init makes a lake in a new or empty folder only: "
                   f"name one, e.g. voice-monitor init {home / 'lake'}\n")
    assert sorted(p.name for p in home.iterdir()) == ["notes.txt", "projects"]
    # a folder holding only a README (the repository's ./data), or empty, is made a lake
    for name, content in (("data", "README.md"), ("empty", None)):
        (tmp_path / name).mkdir()
        if content:
            (tmp_path / name / content).write_text("the default lake")
        code, out, err = run_cli(["init", str(tmp_path / name)], capsys)
        assert (code, err) == (0, "") and Lake(tmp_path / name).exists()


def test_init_makes_a_lake_on_a_disk_of_its_own_or_in_a_data_folder_with_a_gitignore(
        tmp_path, capsys):
    # a new disk mounted for the lake holds lost+found; a repository's data folder a .gitignore:
    # both were refused as 'holds other things', while ingest --lake made a lake there
    for name, held in (("disk", "lost+found"), ("repo-data", ".gitignore")):
        folder = tmp_path / name
        folder.mkdir()
        if held == "lost+found":
            (folder / held).mkdir()
        else:
            (folder / held).write_text("*\n")
        code, out, err = run_cli(["init", str(folder)], capsys)
        assert (code, err) == (0, "") and Lake(folder).exists(), err
        assert (folder / held).exists()  # left as it was


def test_a_lake_made_before_the_marker_is_still_a_lake(tmp_path):
    old = tmp_path / "old"
    (old / "snapshots" / "pipeline_hourly").mkdir(parents=True)
    assert Lake(old).exists()
    assert open_lake(old).root == old
    assert not Lake(tmp_path / "nothing").exists()


def test_a_path_with_spaces_gets_a_runnable_init_command(tmp_path):
    missing = tmp_path / "my lake"
    with pytest.raises(NoLakeError) as info:
        open_lake(missing)
    assert str(info.value) == f"no lake at {missing}; create it with voice-monitor init '{missing}'"


@pytest.mark.parametrize("call", [
    lambda lake: recent_events(lake),
    lambda lake: failed_artifacts(lake),
    lambda lake: historical_metrics(lake, "2026-02-16T00:00Z", "2026-02-16T02:00Z"),
    lambda lake: stage_history(lake, "2026-02-16T00:00Z", "2026-02-16T02:00Z"),
    lambda lake: realtime_metrics(lake, now=NOW),
    lambda lake: run_checks(lake, NOW),
    lambda lake: active_alerts(lake),
    lambda lake: alert_history(lake),
    lambda lake: stage_breakdown(lake, "2026-02-16T00:00Z", "2026-02-16T02:00Z"),
    lambda lake: org_breakdown(lake, "2026-02-16T00:00Z", "2026-02-16T02:00Z"),
    lambda lake: artifact_timeline(lake, "art-1"),
    lambda lake: retry_history(lake, "art-1"),
    lambda lake: active_artifacts(lake),
    lambda lake: acknowledge_alert(lake, "al-1", "sam"),
    lambda lake: prune_alerts(lake, NOW),
    lambda lake: run_query(lake, "select 1"),
    lambda lake: lake_connection(lake),
    lambda lake: write_catalog(lake, f"{lake.root if isinstance(lake, Lake) else lake}.duckdb"),
], ids=["recent_events", "failed_artifacts", "historical_metrics", "stage_history",
        "realtime_metrics",
        "run_checks", "active_alerts", "alert_history", "stage_breakdown", "org_breakdown",
        "artifact_timeline", "retry_history", "active_artifacts", "acknowledge_alert",
        "prune_alerts", "adhoc.run_query", "views.lake_connection", "views.write_catalog"])
def test_the_python_api_refuses_a_missing_lake_and_creates_nothing(call, tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(NoLakeError, match=r"^no lake at .*nope; create it with voice-monitor init "):
        call(Lake(missing))
    with pytest.raises(NoLakeError):
        call(str(missing))  # a plain path too
    assert not missing.exists()


def test_the_python_api_reads_a_lake_given_as_a_path(lake):
    land_records(lake, [event("artifact_received", NOW, organization_id="org-1")], now=NOW)
    assert recent_events(str(lake.root)).rows.height == 1
    # the SQL helpers took a Lake only: a path was AttributeError ('str' object has no
    # attribute 'remote'), and a Lake of no lake wrote a catalog of views over nothing
    assert run_query(str(lake.root), "select count(*) from events").rows == [(1,)]
    assert lake_connection(str(lake.root)).sql("select count(*) from events").fetchall() == [(1,)]
