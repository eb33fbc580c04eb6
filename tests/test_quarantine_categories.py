"""Quarantine reason categories: a short code beside each reason, to group rejects by rule."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
from conftest import NOW, event, ts

from voice_monitor.lake import connect
from voice_monitor.landing import land_lines, land_records
from voice_monitor.sql import load_sql
from voice_monitor.views import lake_connection

AT = NOW - timedelta(hours=1)


def line(**fields) -> str:
    """A transcription_completed record as one JSON line; `fields` override or add fields."""
    return json.dumps({**event("transcription_completed", AT), **fields})


# One real bad record per category, and the category its reason must get (worked out from the
# rule each record breaks, contract §3).
BAD_LINES: list[tuple[str | bytes, str]] = [
    ("{not json", "invalid_json"),
    ("[[1, 2]]", "not_object"),  # (a line that is an array is its elements: here one, a list)
    (b'{"event_id": "caf\xe9", "event_type": "artifact_received"}', "invalid_utf8"),
    (line(artifact_id="a\ud800"), "invalid_utf8"),  # valid JSON, "\ud800": no UTF-8 holds it
    (line(error_message="x" * 70_000), "too_large"),
    (line(metadata={"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}}), "too_deep"),
    ('{"event_id": "d1", "event_id": "d2", "event_type": "artifact_received", '
     f'"timestamp": "{ts(AT)}"}}', "duplicate_key"),
    (line(eventType="artifact_received"), "duplicate_key"),  # one field under two names
    (line(event_id="nan-1").replace('"timestamp"', '"metadata": {"x": NaN}, "timestamp"'),
     "not_finite"),
    (json.dumps({"event_type": "artifact_received", "timestamp": ts(AT)}), "missing_field"),
    (line(event_id=5), "bad_type"),
    (line(metadata=[1, 2]), "bad_type"),
    (line(event_id="e" * 200), "too_long"),
    # the value quotes another rule's wording: the category is still that of the rule broken
    (line(artifact_id="must be a whole number\n is required"), "control_char"),
    (line(event_type="transcription_finished"), "unknown_event_type"),
    (line(pipeline_stage="translation"), "unknown_stage"),
    (line(pipeline_stage="ingestion"), "stage_mismatch"),
    (line(timestamp="2026-02-16T13:00:00"), "naive_timestamp"),
    (line(timestamp=1_771_250_400), "timestamp_out_of_range"),  # epoch seconds
    (line(timestamp=ts(NOW + timedelta(hours=1))), "future_timestamp"),
    (line(timestamp="yesterday"), "bad_timestamp"),
    (line(duration_ms=-5), "bad_number"),
    (line(metadata={"confidence_score": 1.5}), "bad_number"),
]


def categories(con, table: str = "quarantine") -> dict[str, int]:
    rows = con.execute(f"select reason_category, count(*) from {table} group by all").fetchall()
    return dict(rows)


def expected_counts(pairs) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, category in pairs:
        counts[category] = counts.get(category, 0) + 1
    return counts


def test_each_rule_broken_by_a_real_record_gets_its_category(lake):
    result = land_lines(lake, [raw for raw, _ in BAD_LINES], "bad.jsonl", now=NOW)
    assert result.quarantined == len(BAD_LINES) and result.accepted == 0
    # Python values JSON cannot hold go through the producer's rules (mappings.dumps)
    python = [(event("artifact_received", AT, artifact_id=b"bytes"), "not_json"),
              # a NaN as a file's: the number field's rule ("must be a finite number >= 0")
              (event("artifact_received", AT, duration_ms=float("nan")), "bad_number")]
    assert land_records(lake, [record for record, _ in python], now=NOW).quarantined == 2

    expected = expected_counts(BAD_LINES + python)
    assert categories(lake_connection(lake)) == expected
    # the category is stored in the files too, for readers without the views
    files = [str(p) for p in lake.quarantine_dir.rglob("*.parquet")]
    stored = connect().execute("select reason_category, count(*) from read_parquet($f) group by all",
                               {"f": files}).fetchall()
    assert dict(stored) == expected


def test_a_record_breaking_several_rules_gets_the_first_ones_category(lake):
    # event_id missing (first field checked), then a bad duration
    record = json.dumps({"event_type": "artifact_received", "timestamp": ts(AT), "duration_ms": -1})
    land_lines(lake, [record], "two.jsonl", now=NOW)
    reason, category = lake_connection(lake).execute(
        "select reason, reason_category from quarantine").fetchone()
    assert reason.startswith("event_id is required; ") and "duration_ms" in reason
    assert category == "missing_field"


def test_quoted_values_never_pose_as_a_rule(lake):
    # values over 80 characters are cut to 77 and '...' in the reason, quotes and all: the first
    # rule broken is the event_id's length in both, whatever the values say
    records = [
        line(event_id="e" * 200, artifact_id="a\nb"),
        line(event_id='e"; x "is required' * 10, artifact_id=5),
    ]
    land_lines(lake, records, "quoted.jsonl", now=NOW)
    assert categories(lake_connection(lake)) == {"too_long": 2}


def write_old_quarantine_file(lake, reasons: list[str]) -> None:
    """A quarantine file as landing wrote it before reason_category existed."""
    folder = lake.quarantine_dir / "date=2026-02-10"
    folder.mkdir(parents=True, exist_ok=True)
    n = len(reasons)
    pq.write_table(pa.table({
        "raw": ["{}"] * n, "reason": reasons, "source": ["old.jsonl"] * n,
        "received_at": pa.array([datetime(2026, 2, 10, tzinfo=UTC)] * n, pa.timestamp("us", "UTC")),
    }), folder / "old.parquet")


def test_files_written_before_the_column_get_it_from_the_reason(lake):
    write_old_quarantine_file(lake, ["record is not valid JSON", "event_id is required",
                                     "a reason no rule knows"])
    assert categories(lake_connection(lake)) == {"invalid_json": 1, "missing_field": 1,
                                                 "other": 1}
    land_lines(lake, ["{not json"], "new.jsonl", now=NOW)  # new and old files side by side
    assert categories(lake_connection(lake)) == {"invalid_json": 2, "missing_field": 1,
                                                 "other": 1}


def test_validation_failing_on_a_record_is_its_own_category():
    # landing's wording when validation itself breaks on one record (no real record does that)
    con = connect()
    con.execute(load_sql("macros/reason_category"))
    reason = "record could not be validated (TypeError: boom); please report it"
    assert con.execute("select reason_category_of($r)", {"r": reason}).fetchone() == (
        "internal_error",)
    assert con.execute("select reason_category_of(null)").fetchone() == (None,)
