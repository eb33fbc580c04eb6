"""Fault suite, the Prefect flows (contract §4, §8): a missing lake, a corrupt file and a full
disk, every flow in flows/ run under the session's Prefect test harness.

A failed run is a failed run: on a missing lake every flow ends Failed and creates nothing; a
truncated file in one event hour fails the hourly run, naming the file, after every other hour
was built; on a full disk the hourly run ends Failed, not Completed and not hung.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
from faultkit import (  # noqa: F401 - the fixtures `disk` and `corrupt_lake`
    HOURS,
    NOW_TEXT,
    cli,
    corrupt_lake_fixture,
    disk_fixture,
    fill,
    platform_count,
    write_events,
)

FLOWS_DIR = Path(__file__).resolve().parents[1] / "flows"
sys.path.insert(0, str(FLOWS_DIR))  # flow files import their sibling `_shared`, as Prefect does
NOW = "2026-02-16T14:30:00+00:00"


def all_flows() -> dict[str, object]:
    from prefect import Flow

    found = {}
    for path in sorted(FLOWS_DIR.glob("*.py")):
        if path.name.startswith("_"):
            continue
        module = importlib.import_module(path.stem)
        for value in vars(module).values():
            if isinstance(value, Flow):
                found[f"{path.stem}.{value.fn.__name__}"] = value
    return found


@pytest.mark.slow
def test_every_flow_fails_on_a_missing_lake(tmp_path, monkeypatch, prefect_harness):
    missing = tmp_path / "unmounted" / "lake"
    monkeypatch.setenv("VOICE_MONITOR_LAKE", str(missing))
    flows = all_flows()
    assert len(flows) >= 5, flows
    outcomes = {name: flow(now=NOW, return_state=True) for name, flow in flows.items()}
    wrong = {name: state.type.value for name, state in outcomes.items() if not state.is_failed()}
    assert wrong == {}, f"flows that did not fail on a missing lake: {wrong}"
    for state in outcomes.values():
        with pytest.raises(Exception, match="no lake at"):
            state.result()
    assert not (tmp_path / "unmounted").exists()


@pytest.mark.slow
def test_hourly_flow_builds_every_other_hour_around_a_corrupt_file(corrupt_lake, monkeypatch,
                                                                    prefect_harness):
    lake, bad = corrupt_lake
    monkeypatch.setenv("VOICE_MONITOR_LAKE", str(lake))
    flow = all_flows()["hourly_rollup.hourly_rollup"]
    state = flow(now=NOW, return_state=True)
    assert state.is_failed()
    with pytest.raises(Exception, match=bad.name):
        state.result()
    assert (platform_count(lake, 11), platform_count(lake, 12), platform_count(lake, 13)) == (
        HOURS[11], None, HOURS[13])


@pytest.mark.slow
def test_hourly_flow_fails_on_a_full_disk(disk, tmp_path, monkeypatch, prefect_harness):
    lake = disk / "lake"
    write_events(tmp_path / "e.jsonl", "e", {12: 50, 13: 50})
    assert cli("ingest", str(tmp_path / "e.jsonl"), "--lake", str(lake), "--now", NOW_TEXT).code == 0
    fill(disk)
    monkeypatch.setenv("VOICE_MONITOR_LAKE", str(lake))
    state = all_flows()["hourly_rollup.hourly_rollup"](now=NOW, return_state=True)
    assert state.is_failed(), state.type
