"""A first end-to-end check of landing: values worked out by hand."""

from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from conftest import NOW, event

from voice_monitor.landing import ingest_file, land_records
from voice_monitor.schema import EVENT_SCHEMA, EVENT_TYPES, STORED_COLUMNS


def test_land_splits_accepted_and_quarantined(lake):
    records = [
        event("artifact_received", NOW - timedelta(minutes=5), organization_id="org-1"),
        event("artifact_received", NOW - timedelta(hours=1, minutes=5)),
        {"event_type": "artifact_received"},  # no event_id, no timestamp
    ]
    result = land_records(lake, records, now=NOW)
    assert (result.accepted, result.duplicates, result.quarantined) == (2, 0, 1)
    assert result.partitions == ["events/date=2026-02-16/hour=13", "events/date=2026-02-16/hour=14"]


DOC = Path(__file__).resolve().parents[1] / "docs" / "landing.md"
_DOC_TYPES = {"string": pa.string(), "double": pa.float64(), "int64": pa.int64(),
              "timestamp[us, UTC]": pa.timestamp("us", tz="UTC"),
              "string (JSON object)": pa.string()}


def test_docs_schema_table_matches_schema():
    text = DOC.read_text()
    section = text.split("## The event schema", 1)[1].split("\n## ", 1)[0]
    rows = [[cell.strip() for cell in line.strip("|").split("|")]
            for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    table = {row[0]: row[1] for row in rows[1:]}  # rows[0] is the header
    assert list(table) == list(STORED_COLUMNS)
    for name, kind in table.items():
        assert _DOC_TYPES[kind] == EVENT_SCHEMA.field(name).type, name
    for event_type in EVENT_TYPES:  # named in full or as a `prefix_started/_completed` group
        stem = event_type.rsplit("_", 1)[0]
        assert event_type in section or f"`{stem}_" in section, event_type


def test_naive_parquet_timestamps_are_rejected(lake, tmp_path):
    path = tmp_path / "naive.parquet"
    at = NOW - timedelta(minutes=5)
    pq.write_table(pa.table({"event_id": ["a", "b"], "event_type": ["artifact_received"] * 2,
                             "timestamp": pa.array([at.replace(tzinfo=None)] * 2, pa.timestamp("ms"))}),
                   path)
    result = ingest_file(lake, path, now=NOW)
    assert (result.accepted, result.quarantined) == (0, 2)
    assert list(result.reasons) == [
        "timestamp \"2026-02-16T14:25:00\" has no UTC offset (add 'Z' or '+HH:MM')"]
