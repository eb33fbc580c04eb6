"""Pairing across look-back hours: only the first landed copy of an anchor counts, whichever
look-back hour holds it and however the lake's path is spelt (DuckDB names files its own way)."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from conftest import NOW, event

from voice_monitor.lake import Lake
from voice_monitor.landing import land_records
from voice_monitor.rollups import build_hour

H = datetime(2026, 2, 16, 13, tzinfo=UTC)


def at(hour: int, minute: int) -> datetime:
    return H.replace(hour=hour, minute=minute)


@pytest.mark.parametrize("root", ["local", "memory"])
def test_look_back_anchors_are_first_landed_copies_in_any_look_back_hour(tmp_path, root):
    lake = Lake.create(tmp_path / "a [b] c?" / "lake" if root == "local"
                       else f"memory://lookback-{os.getpid()}-{tmp_path.name}/lake")
    first = [
        # hour 11: A's start; its later copy (11:40) must lose
        event("transcription_started", at(11, 10), artifact_id="A", event_id="s1"),
        # hour 12: B's start; its later copy names another artifact and must lose too
        event("claims_extraction_started", at(12, 20), artifact_id="B", event_id="s2"),
        # hour 12: s3 landed first as a status change, so its later copy (a start) is no anchor
        event("artifact_status_changed", at(12, 30), artifact_id="C", event_id="s3"),
        # hour 13: the completions, no duration and no stage times: paired
        event("transcription_completed", at(13, 10), artifact_id="A"),
        event("claims_extracted", at(13, 20), artifact_id="B"),
        event("entity_resolution_completed", at(13, 30), artifact_id="C"),
    ]
    later = [
        event("transcription_started", at(11, 40), artifact_id="A", event_id="s1"),
        event("claims_extraction_started", at(12, 20), artifact_id="Z", event_id="s2"),
        event("entity_resolution_started", at(12, 30), artifact_id="C", event_id="s3"),
    ]
    assert land_records(lake, first, now=NOW).quarantined == 0
    assert land_records(lake, later, now=NOW).duplicates == 3

    _, stage, _ = build_hour(lake, H)

    platform = {r["pipeline_stage"]: (r["latency_count"], r["latency_avg_ms"])
                for r in stage.to_pylist() if r["organization_id"] is None}
    assert platform["transcription"] == (1, 2 * 3_600_000.0)   # 13:10 - 11:10, not - 11:40
    assert platform["claims_extraction"] == (1, 3_600_000.0)   # 13:20 - 12:20 (B's own start)
    assert platform["entity_resolution"] == (0, 0.0)           # s3's first copy is no start
