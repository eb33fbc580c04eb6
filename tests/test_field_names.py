"""One field given under two of its names (contract §3: snake_case and camelCase "map to the
same stored columns"; input is never stored altered). Different values under the two names:
the record is quarantined alone, with a reason naming the field, both names and values; the
same value (the same number, or the same instant as epoch milliseconds and as ISO text): it
lands. Alike from JSON Lines, a JSON array, Parquet, `land_records`, the producer and the
collector.

Expected rows and reasons are worked out by hand.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa
from conftest import NOW
from test_hard_edges import _land_four_ways, quarantine, stored

from voice_monitor.lake import Lake
from voice_monitor.landing import ingest_file, land_records

T = "2026-02-16T14:00:00Z"  # 1771250400000 ms
BASE = {"event_type": "artifact_received", "timestamp": T}

RECORDS = [
    {"event_id": "e1", "event_type": "artifact_received", "eventType": "artifact_failed",
     "timestamp": T},
    {"event_id": "e2", "eventId": "e2b", **BASE},
    {"event_id": "e4", **BASE, "metadata": {"ai_cost_usd": 1.5, "aiCost": 2.5}},
    {"event_id": "e5", **BASE, "ai_cost_usd": 1.5, "metadata": {"ai_cost_usd": 2.5}},
    {"event_id": "e6", **BASE, "durationMs": 5, "duration_ms": 7},
    # one millisecond apart: 15:00+01:00 is 14:00:00.000Z
    {"event_id": "e7", **BASE, "stage_started_at": "2026-02-16T15:00:00+01:00",
     "stageStartedAt": 1771250400001},
    # the same value under both names: nothing to choose between, stored as sent
    {"event_id": "s1", "event_type": "artifact_received", "eventType": "artifact_received",
     "timestamp": T},
    {"event_id": "s2", **BASE, "durationMs": 5, "duration_ms": 5.0},
    {"event_id": "s3", **BASE, "stage_started_at": "2026-02-16T15:00:00+01:00",
     "stageStartedAt": 1771250400000},
    {"event_id": "s4", **BASE, "ai_cost_usd": 0.25, "metadata": {"aiCost": 0.25}},
    {"event_id": "s5", "eventId": None, **BASE},  # null is absent: one name given
]

REASONS = sorted([
    'event_type given twice, as event_type "artifact_received" and eventType "artifact_failed" '
    "(send one)",
    'event_id given twice, as event_id "e2" and eventId "e2b" (send one)',
    "metadata.ai_cost_usd given twice, as metadata.ai_cost_usd 1.5 and metadata.aiCost 2.5 "
    "(send one)",
    "metadata.ai_cost_usd given twice, as ai_cost_usd 1.5 and metadata.ai_cost_usd 2.5 (send one)",
    "duration_ms given twice, as duration_ms 7 and durationMs 5 (send one)",
    'stage_started_at given twice, as stage_started_at "2026-02-16T15:00:00+01:00" and '
    "stageStartedAt 1771250400001 (send one)",
])

AT_14 = datetime(2026, 2, 16, 14, tzinfo=UTC)
COLUMNS = "event_id, event_type, duration_ms, stage_started_at, ai_cost_usd"
LANDED = [
    ("s1", "artifact_received", None, None, None),
    ("s2", "artifact_received", 5.0, None, None),
    ("s3", "artifact_received", None, AT_14, None),
    ("s4", "artifact_received", None, None, 0.25),
    ("s5", "artifact_received", None, None, None),
]


def _parquet() -> pa.Table:
    """RECORDS as one Parquet table: a column for each name any record gives, null elsewhere
    (s2's 5.0 in an integer column is 5, as equal to durationMs 5 as 5.0 is)."""
    schema = pa.schema({
        "event_id": pa.string(), "eventId": pa.string(), "event_type": pa.string(),
        "eventType": pa.string(), "timestamp": pa.string(), "durationMs": pa.int64(),
        "duration_ms": pa.int64(), "stage_started_at": pa.string(), "stageStartedAt": pa.int64(),
        "ai_cost_usd": pa.float64(),
        "metadata": pa.struct({"ai_cost_usd": pa.float64(), "aiCost": pa.float64()})})
    return pa.Table.from_pylist(RECORDS, schema)


def test_two_names_of_a_field_from_a_file_parquet_the_producer_and_the_collector(tmp_path):
    lakes, answer = _land_four_ways(tmp_path, RECORDS, _parquet())
    assert answer == {"accepted": 5, "duplicates": 0, "quarantined": 6}
    for how, lake in lakes.items():
        assert stored(lake, COLUMNS) == LANDED, how
        assert sorted(reason for _, reason in quarantine(lake)) == REASONS, how
    # each quarantined as sent (the JSON Lines file's line)
    raws = {json.loads(raw)["event_id"]: raw for raw, _ in quarantine(lakes["file"])}
    assert raws["e6"] == json.dumps(RECORDS[4])


def test_two_names_of_a_field_from_a_json_array_and_land_records(tmp_path):
    path = tmp_path / "array.json"
    path.write_text(json.dumps(RECORDS, indent=1))
    array, python = Lake(tmp_path / "array"), Lake(tmp_path / "python")
    result = ingest_file(array, path, now=NOW)
    assert (result.accepted, result.quarantined) == (5, 6)
    result = land_records(python, RECORDS, now=NOW)
    assert (result.accepted, result.quarantined) == (5, 6)
    assert sorted(result.reasons) == REASONS  # one rule each: the summary keeps it whole
    for lake in (array, python):
        assert stored(lake, COLUMNS) == LANDED
        assert sorted(reason for _, reason in quarantine(lake)) == REASONS


def test_records_each_using_another_name_land_as_before(tmp_path):
    # a batch mixing producers (one sends camelCase, one snake_case) names each field once per
    # record: nothing to compare, all land
    records = [{"event_id": "a", **BASE, "durationMs": 5, "metadata": {"aiCost": 0.5}},
               {"eventId": "b", "eventType": "artifact_received", "timestamp": T,
                "duration_ms": 7, "metadata": {"ai_cost_usd": 1.5}},
               {"event_id": "c", **BASE, "aiCost": 2.5}]
    lake = Lake(tmp_path / "lake")
    result = land_records(lake, records, now=NOW)
    assert (result.accepted, result.quarantined) == (3, 0)
    assert stored(lake, "event_id, duration_ms, ai_cost_usd") == [
        ("a", 5.0, 0.5), ("b", 7.0, 1.5), ("c", None, 2.5)]
