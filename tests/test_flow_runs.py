"""Prefect-native runs: readable run names from the scheduled time, a markdown artifact of what a
run did, settings as described parameters, and the data-quality rules failing a run."""

from __future__ import annotations

import shutil
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import NOW, event

from voice_monitor import jobs
from voice_monitor.landing import land_records

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "flows"))  # flow files import their sibling `_shared`, as Prefect does

import event_retention  # noqa: E402
import health_check  # noqa: E402
import hourly_rollup  # noqa: E402
from prefect.client.orchestration import get_client  # noqa: E402
from prefect.flow_engine import run_flow  # noqa: E402
from prefect.states import Scheduled  # noqa: E402

from voice_monitor.jobs import DataQualityError  # noqa: E402

H = timedelta(hours=1)


@pytest.fixture
def flow_lake(lake, monkeypatch, prefect_harness):
    monkeypatch.setenv("VOICE_MONITOR_LAKE", str(lake.root))
    return lake


def _artifact(key: str) -> str:
    with get_client(sync_client=True) as client:
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

        (latest,) = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
            sort="CREATED_DESC", limit=1)
    return latest.data


def test_a_scheduled_hourly_run_is_named_after_the_hour_it_builds(flow_lake):
    land_records(flow_lake, [event("artifact_received", NOW - 40 * timedelta(minutes=1),
                                   organization_id="org-a")], now=NOW)
    flow = hourly_rollup.hourly_rollup
    with get_client(sync_client=True) as client:
        run = client.create_flow_run(flow, parameters={}, state=Scheduled(scheduled_time=NOW))
        state = run_flow(flow, flow_run=run, return_type="state")
        assert state.is_completed()
        # scheduled for 14:30, so it builds (and is named after) 13:00-14:00
        assert client.read_flow_run(run.id).name == "hourly-rollup 2026-02-16T13:00Z"
    text = _artifact("hourly-rollup")
    assert "2026-02-16T13:00:00Z" in text
    assert "| pipeline_hourly | 2 |" in text  # the platform row and org-a's
    assert "| no_duplicate_rows | 0 |" in text


def test_a_failed_data_quality_rule_fails_the_run_after_writing(flow_lake):
    ten = NOW.replace(minute=0) - 4 * H
    land_records(flow_lake, [event("artifact_received", ten + 5 * timedelta(minutes=1))], now=NOW)
    jobs.hourly_run(flow_lake, NOW)  # compacted and built: the next run leaves 10:00 alone
    (built,) = flow_lake.snapshot_partition("pipeline_hourly", ten).glob("*.parquet")
    shutil.copy(built, built.with_name("copy-" + built.name))  # every row of 10:00 twice
    state = hourly_rollup.hourly_rollup(now=NOW, return_state=True)
    assert state.is_failed()
    with pytest.raises(DataQualityError, match=r"no_duplicate_rows \(1 row"):
        state.result()
    assert "copy-" + built.name in {p.name for p in built.parent.iterdir()}  # not rebuilt
    assert "| no_duplicate_rows | 1 |" in _artifact("hourly-rollup")


def test_retention_periods_are_a_flow_parameter(flow_lake):
    # event hours ending 50 h and 30 h before NOW; only the fields given override the settings
    land_records(flow_lake, [event("artifact_received", NOW - 51 * H),
                             event("artifact_received", NOW - 31 * H)], now=NOW)
    facts = event_retention.event_retention(now=NOW, dry_run=True, retention={"events": "72h"})
    assert facts["deleted"] == 0
    facts = event_retention.event_retention(now=NOW, retention={"events": "26h"})
    assert facts["counts"] == {"events": 2}
    assert "Partitions dropped" in _artifact("event-retention")


def test_alert_thresholds_are_a_flow_parameter(flow_lake):
    land_records(flow_lake, [event("artifact_received", NOW - 10 * timedelta(minutes=1),
                                   artifact_id=f"a{i}") for i in range(3)], now=NOW)
    facts = health_check.health_check(now=NOW, alerts={"queue_depth_max": 2})
    assert len(facts["raised"]) == 1
    assert "queue_depth for platform" in _artifact("health-check")


def test_parameters_carry_descriptions():
    schema = hourly_rollup.hourly_rollup.parameters.model_dump()
    assert "scheduled start time" in schema["properties"]["now"]["description"]
    assert "hourly_snapshots" in schema["properties"]["retention"]["description"]
    fields = schema["definitions"]["RetentionSettings"]["properties"]
    assert "at least 25h" in fields["events"]["description"]
