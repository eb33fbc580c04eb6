"""Pairing across look-back hours: only the first landed copy of an anchor counts, whichever
look-back hour holds it and however the lake's path is spelt (DuckDB names files its own way),
whether the look-back hour's later copies are ranked again or taken from what its own rollup
recorded in its manifest (used only while the hour's files are exactly those it read)."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from conftest import NOW, event

from voice_monitor.compaction import compact_hour
from voice_monitor.lake import Lake
from voice_monitor.landing import land_records
from voice_monitor.rollup_plan import describe, recorded_copies
from voice_monitor.rollups import build_hour, run_hourly

H = datetime(2026, 2, 16, 13, tzinfo=UTC)


def at(hour: int, minute: int) -> datetime:
    return H.replace(hour=hour, minute=minute)


@pytest.mark.parametrize("recorded", [False, True], ids=["ranked", "recorded"])
@pytest.mark.parametrize("root", ["local", "memory"])
def test_look_back_anchors_are_first_landed_copies_in_any_look_back_hour(tmp_path, root, recorded):
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
    if recorded:  # the look-back hours' own rollups record their later copies
        run_hourly(lake, NOW, hour=at(11, 0))
        run_hourly(lake, NOW, hour=at(12, 0))
        assert [_later_rows(lake, h) for h in (11, 12)] == [1, 2]

    _, stage, _ = build_hour(lake, H)

    assert _platform(stage) == {
        "transcription": (1, 2 * 3_600_000.0),  # 13:10 - 11:10, not - 11:40
        "claims_extraction": (1, 3_600_000.0),  # 13:20 - 12:20 (B's own start)
        "entity_resolution": (0, 0.0),  # s3's first copy is no start
        "draft_generation": (0, 0.0),
    }


@pytest.mark.parametrize("change", ["late copy", "compaction"])
def test_recorded_copies_are_not_used_once_the_hour_s_files_change(lake, change):
    land_records(lake, [
        event("transcription_started", at(11, 10), artifact_id="A", event_id="s1"),
        event("transcription_started", at(11, 20), artifact_id="D", event_id="s5"),
        event("transcription_completed", at(13, 10), artifact_id="A"),
    ], now=NOW)
    # a later copy of s1 at 11:40 (it would be A's latest start): must lose, now and after
    land_records(lake, [event("transcription_started", at(11, 40), artifact_id="A",
                              event_id="s1")], now=NOW)
    run_hourly(lake, NOW, hour=at(11, 0))
    assert _later_rows(lake, 11) == 1
    if change == "late copy":
        # a later copy of D's start, naming A at 11:55: in a new file, so it must be ranked
        land_records(lake, [event("transcription_started", at(11, 55), artifact_id="A",
                                  event_id="s5")], now=NOW)
    else:
        # compaction rewrites the hour into one new file sorted by artifact: new rows
        assert compact_hour(lake, at(11, 0)) == 2
    assert _later_rows(lake, 11) is None  # the record no longer describes the hour's files

    _, stage, _ = build_hour(lake, H)

    # 13:10 - 11:10: neither s1's later copy (11:40) nor s5's (11:55) is A's start
    assert _platform(stage)["transcription"] == (1, 2 * 3_600_000.0)


def _later_rows(lake: Lake, hour: int) -> int | None:
    """How many later copies hour `hour`'s own rollup recorded for its current files."""
    copies = recorded_copies(lake, at(hour, 0), describe(lake.event_files(at(hour, 0))))
    if copies is None:
        return None
    return sum(len(rows.split(",")) for rows in copies.values())


def _platform(stage) -> dict[str, tuple[int, float]]:
    return {r["pipeline_stage"]: (r["latency_count"], r["latency_avg_ms"])
            for r in stage.to_pylist() if r["organization_id"] is None}
