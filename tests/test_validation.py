"""Validation (contract §3): one test per rejection rule with its exact reason, and the mappings.

Every expected value below is written out by hand from the contract, not taken from the code.
"""

from __future__ import annotations

import json
import math
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import NOW, event, ts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voice_monitor.lake import Lake, connect
from voice_monitor.landing import ingest_file, land_lines, land_records
from voice_monitor.schema import EVENT_TYPES, FIELDS, METADATA_FIELDS
from voice_monitor.validation import validate

T0 = NOW - timedelta(minutes=30)  # 2026-02-16T14:00:00Z, safely in the past
BASE = {"event_id": "e-1", "event_type": "artifact_received", "timestamp": "2026-02-16T14:00:00Z"}


def check(*records) -> tuple[list[dict], list[str]]:
    """Validate records (mappings are dumped to JSON, strings used as-is): (accepted, reasons)."""
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    con = connect()
    try:
        accepted, rejected = validate(con, lines, NOW, NOW)
    finally:
        con.close()
    return accepted.to_pylist(), rejected.column("reason").to_pylist()


def reason_of(**fields) -> str:
    """The single rejection reason of BASE with `fields` replaced (None removes a field)."""
    record = {k: v for k, v in {**BASE, **fields}.items() if v is not None}
    accepted, reasons = check(record)
    assert not accepted, f"expected a rejection of {record}"
    assert len(reasons) == 1
    return reasons[0]


def stored(lake: Lake) -> list[dict]:
    """Every stored event row, ordered by event_id (hive keys left out)."""
    con = connect()
    try:
        files = [str(p) for p in sorted(lake.events_dir.rglob("*.parquet"))]
        if not files:
            return []
        return con.sql(
            "select * exclude (date, hour) from read_parquet($files, hive_partitioning = true, "
            "hive_types = {'date': DATE, 'hour': INTEGER}) order by event_id, timestamp",
            params={"files": files},
        ).to_arrow_table().to_pylist()
    finally:
        con.close()


# -- one test per rejection rule ------------------------------------------------------------

def test_event_id_required():
    assert reason_of(event_id=None) == "event_id is required"


def test_json_null_counts_as_absent():
    accepted, reasons = check({**BASE, "event_id": None})
    assert reasons == ["event_id is required"]


def test_event_id_must_be_a_string():
    assert reason_of(event_id=17) == "event_id 17 must be a string"


def test_event_id_empty():
    assert reason_of(event_id="") == 'event_id "" must be 1 to 128 characters long (got 0)'


def test_event_id_too_long_is_shown_cut_short():
    # 129 chars: the shown JSON text is the quote plus 76 x's, then "..." (80 chars in all)
    assert reason_of(event_id="x" * 129) == (
        'event_id "' + "x" * 76 + '... must be 1 to 128 characters long (got 129)'
    )


def test_event_id_of_128_chars_is_accepted():
    accepted, reasons = check({**BASE, "event_id": "x" * 128})
    assert (len(accepted), reasons) == (1, [])


def test_event_type_required():
    assert reason_of(event_type=None) == "event_type is required"


def test_event_type_unknown():
    expected = ('event_type "artifact_recieved" is not a known event type; expected one of '
                + ", ".join(EVENT_TYPES))
    assert reason_of(event_type="artifact_recieved") == expected


def test_event_type_not_a_string():
    assert reason_of(event_type=3).startswith("event_type 3 is not a known event type; expected")


def test_timestamp_required():
    assert reason_of(timestamp=None) == "timestamp is required"


def test_naive_timestamp_rejected():
    assert reason_of(timestamp="2026-02-16T14:00:00") == (
        "timestamp \"2026-02-16T14:00:00\" has no UTC offset (add 'Z' or '+HH:MM')"
    )


def test_naive_python_datetime_rejected(lake):
    # orjson writes a naive datetime without an offset, so it is rejected like the text form
    result = land_records(lake, [{**BASE, "timestamp": datetime(2026, 2, 16, 14)}], now=NOW)
    assert (result.accepted, result.quarantined) == (0, 1)
    aware = land_records(lake, [{**BASE, "timestamp": datetime(2026, 2, 16, 14, tzinfo=UTC)}],
                         now=NOW)
    assert aware.accepted == 1


def test_timestamp_unparseable():
    assert reason_of(timestamp="yesterday") == (
        "timestamp \"yesterday\" is not epoch milliseconds or an ISO-8601 date-time with 'Z' "
        "or an offset"
    )


def test_timestamp_impossible_date_and_offset():
    for bad in ("2026-02-30T14:00:00Z", "2026-02-16T14:00:00+25:00"):
        assert reason_of(timestamp=bad) == (
            f"timestamp \"{bad}\" is not epoch milliseconds or an ISO-8601 date-time with 'Z' "
            "or an offset"
        )


def test_timestamp_fractional_epoch_rejected():
    assert reason_of(timestamp=1771250400000.5).startswith(
        "timestamp 1771250400000.5 is not epoch milliseconds")


def test_epoch_out_of_range_rejects_only_that_record():
    # 2**63 - 1 ms would overflow the microsecond conversion; it must not fail the batch
    accepted, reasons = check({**BASE, "timestamp": 2**63 - 1}, BASE)
    assert len(accepted) == 1
    assert reasons == [
        "timestamp 9223372036854775807 is out of range: after 9999-12-31T23:59:59.999Z as epoch "
        "milliseconds"
    ]


def test_a_negative_zero_is_stored_as_zero(lake, tmp_path):
    # -0.0 is >= 0, so accepted; stored as it came it read '-0.0' in every table and JSON
    # answer, and a hash of its bits told it from 0.0. From a JSON Lines file and from Parquet.
    fields = {"duration_ms": -0.0, "metadata": {"confidence_score": -0.0, "aiCost": -0.0,
                                                 "transcript_duration_s": -0.0}}
    path = tmp_path / "zeros.jsonl"
    path.write_text(json.dumps({**BASE, "event_id": "zero-json", **fields}) + "\n")
    assert ingest_file(lake, path, now=NOW).accepted == 1
    table = pa.table({"event_id": ["zero-parquet"], "event_type": [BASE["event_type"]],
                      "timestamp": [BASE["timestamp"]], "duration_ms": [-0.0]})
    pq.write_table(table, tmp_path / "zeros.parquet")
    assert ingest_file(lake, tmp_path / "zeros.parquet", now=NOW).accepted == 1
    rows = stored(lake)
    assert [r["event_id"] for r in rows] == ["zero-json", "zero-parquet"]
    names = ["duration_ms", "confidence_score", "ai_cost_usd", "transcript_duration_s"]
    signs = [[math.copysign(1, r[n]) for n in names if r[n] is not None] for r in rows]
    assert signs == [[1.0, 1.0, 1.0, 1.0], [1.0]]


def test_a_whole_number_beyond_64_bits_is_out_of_range_as_those_below_it(lake):
    # 2**64 - 1 (JSON's UBIGINT) was "out of range", 2**64 (a DOUBLE to the JSON reader) "not
    # epoch milliseconds"; likewise -2**63 and -2**63 - 1; each said of a file landed whole
    late = "is out of range: after 9999-12-31T23:59:59.999Z as epoch milliseconds"
    early = "is out of range: before 2000-01-01T00:00:00Z"
    cases = [(2**64 - 1, late), (2**64, late), (10**30, late), (-(2**63), early),
             (-(2**63) - 1, early), (-(10**30), early)]
    path = lake.root.parent / "huge.jsonl"
    path.write_text("".join(json.dumps({**BASE, "event_id": f"huge-{n}", "timestamp": value,
                                        "stage_started_at": value}) + "\n"
                            for n, (value, _) in enumerate(cases)))
    assert ingest_file(lake, path, now=NOW).quarantined == len(cases)
    reasons = connect().sql("select reason from read_parquet($files) order by raw",
                            params={"files": [str(f) for f in lake.root.rglob("quarantine/**/*.parquet")]})
    assert sorted(r[0] for r in reasons.fetchall()) == sorted(
        f"timestamp {value} {says}; stage_started_at {value} {says}" for value, says in cases)


def test_a_time_text_past_the_calendar_names_its_last_microsecond():
    # 9999-12-31T23:59:59.999999-01:00 is 00:59:59.999999 past the last instant a text may
    # name (9999-12-31T23:59:59.999999Z, validation._MAX_TIME); the reason said ".999Z", the
    # epoch milliseconds' bound, and 23:59:59.9995Z, after that, is in range (refused as future)
    assert reason_of(timestamp="9999-12-31T23:59:59.999999-01:00") == (
        'timestamp "9999-12-31T23:59:59.999999-01:00" is out of range: after '
        "9999-12-31T23:59:59.999999Z")
    assert reason_of(timestamp="9999-12-31T23:59:59.9995Z").endswith(
        "is more than 5 minutes after now (2026-02-16T14:30:00Z)")


def test_timestamp_more_than_five_minutes_ahead():
    # now = 14:30:00Z, so 14:35:00.000Z is the last accepted instant
    assert reason_of(timestamp="2026-02-16T14:35:00.001Z") == (
        "timestamp 2026-02-16T14:35:00.001Z is more than 5 minutes after now (2026-02-16T14:30:00Z)"
    )


def test_a_time_just_past_the_limit_is_named_to_the_microsecond():
    # 14:35:00.000001Z is 1 us past the last accepted instant; shown to the millisecond it read
    # '14:35:00.000Z is more than 5 minutes after now (14:30:00Z)', which is not so
    assert reason_of(timestamp="2026-02-16T14:35:00.000001Z") == (
        "timestamp 2026-02-16T14:35:00.000001Z is more than 5 minutes after now "
        "(2026-02-16T14:30:00Z)"
    )


def test_exactly_five_minutes_ahead_accepted():
    accepted, reasons = check({**BASE, "timestamp": "2026-02-16T14:35:00Z"},
                              {**BASE, "timestamp": 1771252500000})  # 1771250400000 (14:00Z) + 35 min
    assert reasons == []
    assert [r["timestamp"] for r in accepted] == [datetime(2026, 2, 16, 14, 35, tzinfo=UTC)] * 2


def test_old_events_accepted():
    accepted, _ = check({**BASE, "timestamp": "2019-01-01T00:00:00Z"})
    assert accepted[0]["timestamp"] == datetime(2019, 1, 1, tzinfo=UTC)


def test_optional_time_field_checked():
    assert reason_of(stage_started_at="2026-02-16 13:59") == (
        "stage_started_at \"2026-02-16 13:59\" has no UTC offset (add 'Z' or '+HH:MM')"
    )


@pytest.mark.parametrize("name", ["artifact_id", "voice_note_id", "organization_id",
                                  "coach_user_id", "previous_status", "new_status", "error_code"])
def test_short_string_fields(name):
    assert reason_of(**{name: 5}) == f"{name} 5 must be a string"
    assert reason_of(**{name: "a" * 257}) == (
        f'{name} "' + "a" * 76 + '... is longer than 256 characters (got 257)'
    )
    accepted, _ = check({**BASE, name: "a" * 256})
    assert accepted[0][name] == "a" * 256


def test_pipeline_stage_unknown():
    assert reason_of(pipeline_stage="transcribing") == (
        'pipeline_stage "transcribing" is not a known stage; expected one of ingestion, '
        "transcription, claims_extraction, entity_resolution, draft_generation, confirmation"
    )


def test_pipeline_stage_must_be_a_string():
    assert reason_of(pipeline_stage=2) == "pipeline_stage 2 must be a string"


def test_pipeline_stage_disagreeing_with_event_type():
    assert reason_of(pipeline_stage="transcription") == (
        'pipeline_stage "transcription" disagrees with event_type artifact_received, '
        "which implies ingestion"
    )
    assert reason_of(event_type="artifact_completed", pipeline_stage="confirmation") == (
        'pipeline_stage "confirmation" disagrees with event_type artifact_completed, '
        "which implies no stage"
    )


@pytest.mark.parametrize("value", [-1, "5", True, "1e400"])
def test_duration_ms_rule(value):
    shown = json.dumps(value) if value != "1e400" else "1e400"
    line = json.dumps(BASE)[:-1] + ', "duration_ms": ' + (shown if value == "1e400" else json.dumps(value)) + "}"
    _, reasons = check(line)
    assert reasons == [f"duration_ms {shown} must be a finite number >= 0"]


def test_error_message_must_be_a_string():
    assert reason_of(error_message=["x"]) == 'error_message ["x"] must be a string'


def test_metadata_must_be_an_object():
    assert reason_of(metadata=[1, 2]) == "metadata [1,2] must be a JSON object"
    assert reason_of(metadata="oops") == 'metadata "oops" must be a JSON object'


@pytest.mark.parametrize(
    ("key", "value", "rule"),
    [
        ("claim_count", 1.5, "must be a whole number >= 0"),
        ("entity_count", -1, "must be a whole number >= 0"),
        ("retry_attempt", "2", "must be a whole number >= 0"),
        # beyond BIGINT: over the count's bound like 2^31..2^63-1 (was "must be a whole number")
        ("draft_count", 2**64 - 1, "is over 2,147,483,647, more than one event may carry"),
        ("confidence_score", 1.01, "must be a number between 0 and 1"),
        ("confidence_score", -0.1, "must be a number between 0 and 1"),
        ("transcript_duration_s", -3, "must be a finite number >= 0"),
        ("ai_cost_usd", -0.01, "must be a finite number >= 0"),
    ],
)
def test_metadata_numeric_rules(key, value, rule):
    assert reason_of(metadata={key: value}) == f"metadata.{key} {json.dumps(value)} {rule}"


def test_metadata_camel_alias_reason_names_the_stored_field():
    assert reason_of(metadata={"aiCost": -1}) == "metadata.ai_cost_usd -1 must be a finite number >= 0"


def test_metadata_string_rule():
    assert reason_of(metadata={"ai_model": 4}) == "metadata.ai_model 4 must be a string"


def test_every_broken_rule_is_listed_in_field_order():
    assert reason_of(event_id=None, timestamp=None, duration_ms=-5) == (
        "event_id is required; timestamp is required; duration_ms -5 must be a finite number >= 0"
    )


def test_non_object_and_invalid_json_records():
    accepted, reasons = check("not json", "[1, 2]", "null", '"text"', "{broken")
    assert accepted == []
    not_object = "record is JSON but not an object; expected one event object per record"
    assert reasons == ["record is not valid JSON", not_object, not_object, not_object,
                       "record is not valid JSON"]


HEAD = '"event_id": "%s", "event_type": "artifact_received", "timestamp": "2026-02-16T14:00:00Z"'


def test_trailing_commas_are_not_json():
    """DuckDB's reader takes `{"a": 1,}` and `[1,]`; strict JSON (and the contract) does not."""
    accepted, reasons = check(
        "{%s,}" % (HEAD % "obj"),
        "{%s , \t }" % (HEAD % "spaced"),
        '{%s, "metadata": {"tags": [1, 2,]}}' % (HEAD % "array"),
        '{%s, "metadata": {"claim_count": 1,}}' % (HEAD % "nested"),
        # a metadata string (as Parquet carries it) with a trailing comma
        '{%s, "metadata": "{\\"claim_count\\": 1,}"}' % (HEAD % "string"),
        # `,}` and `, ]` inside strings are text, not JSON punctuation: stored
        '{%s, "error_message": "odd ,} and , ] here"}' % (HEAD % "fine"),
    )
    assert [r["event_id"] for r in accepted] == ["fine"]
    assert accepted[0]["error_message"] == "odd ,} and , ] here"
    assert reasons == ["record is not valid JSON"] * 4 + [
        "metadata is not valid JSON; expected a JSON object"]


def test_an_array_with_a_trailing_comma_lands_its_elements_and_names_the_empty_one(lake, tmp_path):
    # each element is its own record (contract §3): the two events land; the empty element
    # after the comma was quarantined as "record is not valid JSON" with an empty raw text
    path = tmp_path / "trailing.json"
    obj = {name: "{" + HEAD % name + "}" for name in ("t-1", "t-2", "d-1", "d-2")}
    path.write_text(f"[{obj['t-1']}, {obj['t-2']},\n]")
    result = ingest_file(lake, path, now=NOW)
    assert (result.accepted, result.quarantined) == (2, 1)
    doubled = tmp_path / "doubled.json"
    doubled.write_text(f"[{obj['d-1']}, ,{obj['d-2']}]")
    assert ingest_file(lake, doubled, now=NOW).quarantined == 1
    assert [r["event_id"] for r in stored(lake)] == ["d-1", "d-2", "t-1", "t-2"]
    files = [str(f) for f in lake.root.rglob("quarantine/**/*.parquet")]
    rows = connect().sql("select raw, reason from read_parquet($files)", params={"files": files})
    assert rows.fetchall() == [("", "record is not valid JSON: it is empty (an array element "
                                    "with nothing in it, as after a trailing comma [{...},] or "
                                    "between two commas: remove the extra comma)")] * 2


@pytest.mark.parametrize("text", [
    "{/* c */%s}", "{%s} // c", "{%s, 'x': 'y'}", "{%s, x: 1}", '{%s, "duration_ms": 012}',
    '{%s, "duration_ms": +1}', '{%s, "duration_ms": 0x10}', '{%s, "error_message": "a\tb"}',
    '{%s, "duration_ms": .5}', '{%s,, "x": 1}', '{%s} x',
])
def test_other_json_leniencies_are_refused(text):
    accepted, reasons = check(text % (HEAD % "x"))
    assert accepted == [] and reasons == ["record is not valid JSON"]


# -- mappings -------------------------------------------------------------------------------

SNAKE = {
    "event_id": "m-1", "event_type": "claims_extracted", "timestamp": "2026-02-16T14:05:00.250Z",
    "artifact_id": "a-1", "voice_note_id": "vn-1", "organization_id": "org-1",
    "coach_user_id": "coach-1", "pipeline_stage": "claims_extraction",
    "stage_started_at": "2026-02-16T14:04:00Z", "stage_completed_at": "2026-02-16T14:05:00Z",
    "duration_ms": 60000, "previous_status": "transcribed", "new_status": "claims_extracted",
    "error_code": "E1", "error_message": "slow",
    "metadata": {"claim_count": 4, "entity_count": 3, "auto_resolved_count": 2,
                 "disambiguation_count": 1, "draft_count": 0, "transcript_word_count": 120,
                 "retry_attempt": 1, "confidence_score": 0.9, "transcript_duration_s": 42.5,
                 "ai_cost_usd": 0.012, "ai_model": "m-large", "source_channel": "mobile",
                 "extra": {"nested": [1, 2]}, "note": "kept"},
}
CAMEL = {
    "eventId": "m-1", "eventType": "claims_extracted", "timestamp": "2026-02-16T14:05:00.250Z",
    "artifactId": "a-1", "voiceNoteId": "vn-1", "organizationId": "org-1",
    "coachUserId": "coach-1", "pipelineStage": "claims_extraction",
    "stageStartedAt": "2026-02-16T14:04:00Z", "stageCompletedAt": "2026-02-16T14:05:00Z",
    "durationMs": 60000, "previousStatus": "transcribed", "newStatus": "claims_extracted",
    "errorCode": "E1", "errorMessage": "slow",
    "metadata": {"claimCount": 4, "entityCount": 3, "autoResolvedCount": 2,
                 "disambiguationCount": 1, "draftCount": 0, "transcriptWordCount": 120,
                 "retryAttempt": 1, "confidenceScore": 0.9, "transcriptDurationSeconds": 42.5,
                 "aiCost": 0.012, "aiModel": "m-large", "sourceChannel": "mobile",
                 "extra": {"nested": [1, 2]}, "note": "kept"},
}


def test_camel_and_snake_give_identical_rows(tmp_path):
    snake_lake, camel_lake = Lake(tmp_path / "s"), Lake(tmp_path / "c")
    land_records(snake_lake, [SNAKE], now=NOW)
    land_records(camel_lake, [CAMEL], now=NOW)
    rows = stored(snake_lake)
    assert rows == stored(camel_lake)
    (row,) = rows
    assert row["claim_count"] == 4 and row["confidence_score"] == 0.9
    assert row["ai_cost_usd"] == 0.012 and row["transcript_duration_s"] == 42.5
    assert row["ai_model"] == "m-large" and row["source_channel"] == "mobile"
    assert row["timestamp"] == datetime(2026, 2, 16, 14, 5, 0, 250_000, tzinfo=UTC)
    assert row["ingested_at"] == NOW
    # unknown metadata keys survive as one JSON object string, nothing else in it
    assert json.loads(row["metadata"]) == {"extra": {"nested": [1, 2]}, "note": "kept"}


def test_only_known_metadata_gives_null_metadata_column():
    accepted, _ = check({**BASE, "metadata": {"aiCost": 0.25, "claimCount": 2}})
    assert accepted[0]["ai_cost_usd"] == 0.25 and accepted[0]["claim_count"] == 2
    assert accepted[0]["metadata"] is None


def test_unknown_top_level_fields_ignored():
    accepted, reasons = check({**BASE, "colour": "blue", "EVENT_ID": "other"})
    assert reasons == [] and accepted[0]["event_id"] == "e-1"
    assert "colour" not in accepted[0]


def test_snake_case_and_camel_case_of_one_field_must_agree():
    # contract §3: both names map to one stored column; which of two values was meant is not
    # ours to choose (tests/test_field_names.py: every way in)
    accepted, reasons = check({**BASE, "eventId": "camel"}, {**BASE, "eventId": "e-1"})
    assert reasons == ['event_id given twice, as event_id "e-1" and eventId "camel" (send one)']
    assert [r["event_id"] for r in accepted] == ["e-1"]


def test_pipeline_stage_derived_from_event_type():
    records = [{**BASE, "event_id": t, "event_type": t} for t in EVENT_TYPES]
    accepted, reasons = check(*records)
    assert reasons == []
    stage = {r["event_type"]: r["pipeline_stage"] for r in accepted}
    assert stage["artifact_received"] == "ingestion"
    assert stage["entity_needs_disambiguation"] == "entity_resolution"
    assert stage["drafts_generated"] == "draft_generation"
    assert stage["draft_rejected"] == "confirmation"
    assert stage["artifact_completed"] is None and stage["budget_exceeded"] is None


def test_retry_events_may_carry_any_stage():
    accepted, reasons = check({**BASE, "event_type": "retry_initiated",
                               "pipeline_stage": "transcription"})
    assert reasons == [] and accepted[0]["pipeline_stage"] == "transcription"


def test_epoch_milliseconds_and_offsets():
    # 1771250400000 ms = 2026-02-16T14:00:00Z; +05:30 shifts 19:30 local back to 14:00Z
    accepted, _ = check({**BASE, "timestamp": 1771250400123},
                        {**BASE, "timestamp": "2026-02-16T19:30:00+05:30"},
                        {**BASE, "timestamp": "2026-02-16 09:00:00-0500"})
    assert [r["timestamp"] for r in accepted] == [
        datetime(2026, 2, 16, 14, 0, 0, 123_000, tzinfo=UTC),
        datetime(2026, 2, 16, 14, tzinfo=UTC),
        datetime(2026, 2, 16, 14, tzinfo=UTC),
    ]


# -- error_message: redaction, then truncation ---------------------------------------------

def test_error_message_secrets_redacted():
    message = ("auth failed: Authorization: Bearer eyJhbGci.eyJzdWIi.sig-_x with key "
               "sk-ABCDEFGHIJKLMNOPQRSTuv, aws AKIAABCDEFGHIJKLMNOP, api_key=hunter2&x=1 "
               "password: swordfish")
    accepted, _ = check({**BASE, "error_message": message})
    assert accepted[0]["error_message"] == (
        "auth failed: Authorization: Bearer [REDACTED] with key [REDACTED], aws [REDACTED], "
        "api_key=[REDACTED]&x=1 password: [REDACTED]"
    )


def test_error_message_truncated_to_2000():
    accepted, _ = check({**BASE, "error_message": "é" * 2500})
    assert accepted[0]["error_message"] == "é" * 2000


def test_redaction_happens_before_truncation():
    # the token straddles character 2000: truncating first would keep its first half
    message = "x" * 1990 + " Bearer abcdefghijklmnopqrstuvwxyz"
    accepted, _ = check({**BASE, "error_message": message})
    stored_message = accepted[0]["error_message"]
    assert stored_message == ("x" * 1990 + " Bearer [REDACTED]")[:2000]
    assert "abc" not in stored_message


# -- input formats --------------------------------------------------------------------------

def test_json_array_file(lake, tmp_path):
    path = tmp_path / "events.json"
    path.write_text(json.dumps([event("artifact_received", T0), event("artifact_received", T0),
                                {"event_type": "artifact_received"}, 7]))
    result = ingest_file(lake, path, now=NOW)
    assert (result.accepted, result.quarantined) == (2, 2)


def test_broken_json_array_file_is_quarantined_whole(lake, tmp_path):
    path = tmp_path / "broken.json"
    text = '[{"event_id": "a"}, {"event_id": '
    path.write_text(text)
    result = ingest_file(lake, path, now=NOW)
    assert (result.accepted, result.quarantined) == (0, 1)
    con = connect()
    raw = con.execute("select raw, reason from read_parquet($f)",
                      {"f": str(lake.quarantine_dir) + "/*/*.parquet"}).fetchall()
    assert raw == [(text, "record is not valid JSON")]


def test_parquet_input(lake, tmp_path):
    ms = pa.timestamp("ms", tz="UTC")
    table = pa.table({
        "eventId": ["p-1", "p-2", "p-3"],
        "eventType": ["transcription_completed", "artifact_received", "nope"],
        "timestamp": pa.array([T0, T0 + timedelta(minutes=1), T0], ms),
        "organizationId": ["org-1", None, None],
        "durationMs": [1500.0, None, None],
        "metadata": ['{"confidenceScore": 0.8, "foo": 1}', None, None],
    })
    path = tmp_path / "events.parquet"
    pq.write_table(table, path)
    result = ingest_file(lake, path, now=NOW)
    assert (result.accepted, result.quarantined) == (2, 1)
    rows = stored(lake)
    assert [(r["event_id"], r["organization_id"], r["pipeline_stage"]) for r in rows] == [
        ("p-1", "org-1", "transcription"), ("p-2", None, "ingestion")]
    assert rows[0]["duration_ms"] == 1500.0 and rows[0]["confidence_score"] == 0.8
    assert rows[0]["timestamp"] == T0 and json.loads(rows[0]["metadata"]) == {"foo": 1}


def test_lake_file_can_be_reingested(lake, tmp_path):
    # a stored event file is valid input: same rows again (metadata as JSON text, typed columns)
    land_records(lake, [SNAKE], now=NOW)
    (path,) = lake.events_dir.rglob("*.parquet")
    other = Lake(tmp_path / "other")
    assert ingest_file(other, path, now=NOW).accepted == 1
    assert stored(other) == stored(lake)


def test_unparseable_lines_quarantined_raw(lake, tmp_path):
    path = tmp_path / "mixed.jsonl"
    good = json.dumps(event("artifact_received", T0))
    path.write_bytes(b"\n".join([good.encode(), b"{oops", b"", b"   ", b"\xff\xfe bad bytes",
                                 good.replace("ev-", "ev2-").encode() + b"\r"]))
    result = ingest_file(lake, path, now=NOW)
    assert (result.accepted, result.quarantined) == (2, 2)
    con = connect()
    rows = con.execute("select raw, reason, source from read_parquet($f) order by raw",
                       {"f": str(lake.quarantine_dir) + "/*/*.parquet"}).fetchall()
    # bytes that are not UTF-8 are kept losslessly: backslashes doubled, each bad byte as \xNN
    assert rows == [("\\xff\\xfe bad bytes", "record is not valid UTF-8 (byte 0xff at offset 0, "
                     "kept in raw as \\xNN)", str(path)),
                    ("{oops", "record is not valid JSON", str(path))]


# -- property: nothing is lost ----------------------------------------------------------------

valid_events = st.builds(
    lambda n, t, at, org, camel: (
        {"eventId": f"v-{n}", "eventType": t, "timestamp": int(at.timestamp() * 1000),
         **({"organizationId": org} if org else {})}
        if camel else
        {"event_id": f"v-{n}", "event_type": t, "timestamp": ts(at),
         **({"organization_id": org} if org else {})}
    ),
    st.integers(0, 10**9), st.sampled_from(sorted(EVENT_TYPES)),
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 2, 16, 14, 34),
                 timezones=st.just(UTC)),
    st.one_of(st.none(), st.sampled_from(["org-1", "org-2"])), st.booleans(),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children, max_size=3),
    max_leaves=6,
)
garbage = st.one_of(
    st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")),
    st.text(max_size=40).map(lambda s: s.replace("\n", "").encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
)


def _json_list(line: bytes) -> list | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, list) else None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid=st.lists(valid_events, min_size=1, max_size=8, unique_by=lambda e: str(e)),
       junk=st.lists(garbage, max_size=8), order=st.randoms(use_true_random=False))
def test_accepted_plus_quarantined_is_every_non_blank_line(valid, junk, order):
    ids = [e.get("event_id") or e["eventId"] for e in valid]
    # a line holding a JSON array is its elements, each a record (contract §3): counted here
    # with json for the arrays json_values makes; other junk starting with `[` is left out
    # (whether its brackets balance is test_hard_edges' business, by hand)
    junk = [j for j in junk
            if not j.lstrip(b" \t\r").startswith(b"[") or _json_list(j) is not None]
    lines = [orjson.dumps(e) for e in valid] + junk
    order.shuffle(lines)
    # a file whose first character is '[' is read as one JSON array: keep a valid event first
    first = lines.index(orjson.dumps(valid[0]))
    lines[0], lines[first] = lines[first], lines[0]
    # blank = only JSON whitespace other than newline (space, tab, CR), as docs/landing.md says;
    # a line of, say, a vertical tab is a record (quarantined raw), although str.strip() eats it
    non_blank = sum(len(_json_list(b)) if b.lstrip(b" \t\r").startswith(b"[") else 1
                    for b in lines if b.strip(b" \t\r"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.jsonl"
        path.write_bytes(b"\n".join(lines))
        lake = Lake(Path(tmp) / "lake")
        result = ingest_file(lake, path, now=NOW)
        assert result.accepted + result.quarantined == non_blank
        assert result.accepted == len(valid)  # garbage is never an event
        assert sorted(r["event_id"] for r in stored(lake)) == sorted(ids)


def test_land_lines_counts_every_line(lake):
    result = land_lines(lake, ["{}", "x", json.dumps(event("artifact_received", T0))], "test", NOW)
    assert (result.accepted, result.quarantined) == (1, 2)


def test_metadata_repeating_a_key_is_rejected_alone():
    # a repeated key used to fail the whole batch; now it is one record's reason
    line = json.dumps(BASE)[:-1] + ', "metadata": {"a": 1, "a": 2}}'
    accepted, reasons = check(line, BASE)
    assert len(accepted) == 1
    assert reasons == ['metadata {"a":1,"a":2} repeats a key']  # shown minified


# JSON texts of values as a producer may write them: escapes, non-ASCII, quotes, backslashes
written_values = st.one_of(
    json_values.map(json.dumps),
    json_values.map(lambda v: json.dumps(v, ensure_ascii=False)),
    st.text().map(lambda s: json.dumps(s, ensure_ascii=False)),
    st.sampled_from(['"a\\/b"', '"\\u00e9"', '"tab\\there"', '"q\\"q"', '""', "1.50", "-0", "1e400",
                     "18446744073709551616", "-9223372036854775809", "true", "null", "[]", "{}"]),
)


@settings(max_examples=60, deadline=None)
@given(texts=st.lists(written_values, min_size=1, max_size=20))
def test_string_shortcuts_agree_with_duckdb_json_functions(texts):
    # The validation query types and unquotes values with string operations; the JSON
    # functions they stand in for (json_type, ->>'$') are the independent reference.
    from voice_monitor.validation import _text_sql, _type_sql

    con = connect()
    try:
        con.register("values_input", pa.table({"doc": ['{"a": ' + t + "}" for t in texts]}))
        rows = con.sql(f"""
            select {_type_sql('v')}, json_type(v), {_text_sql('v')}, v->>'$'
            from (select json_transform(doc, '{{"a": "JSON"}}').a as v from values_input)
        """).fetchall()
    finally:
        con.close()
    for text, (fast_type, json_type, fast_text, text_of) in zip(texts, rows, strict=True):
        assert (fast_type, fast_text) == (json_type, text_of), text


# Records mixing every input name (snake_case, camelCase, aliases, metadata keys) with values of
# every JSON type, so that batches use arbitrary subsets of the names.
_any_name = st.sampled_from(sorted(
    {n for f in (*FIELDS, *METADATA_FIELDS) for n in f.input_names} | {"unknown_field"}))
_field_value = st.one_of(
    json_values, st.sampled_from(["e-1", "artifact_received", "transcription_started",
                                  "2026-02-16T14:00:00Z", "2026-02-16T14:00:00", "transcription",
                                  1771250400000, 0.5, -1, 3]))
mixed_records = st.one_of(
    st.dictionaries(_any_name, _field_value, max_size=8).map(lambda r: {**BASE, **r}),
    st.dictionaries(_any_name, _field_value, max_size=8),
    st.builds(lambda r, m: {**BASE, **r, "metadata": m},
              st.dictionaries(_any_name, _field_value, max_size=4),
              st.one_of(st.dictionaries(_any_name, _field_value, max_size=4),
                        st.dictionaries(_any_name, _field_value, max_size=4).map(json.dumps))),
).map(json.dumps)


_batch = st.lists(st.one_of(mixed_records, garbage.map(lambda b: b.decode("utf-8", "replace"))),
                  min_size=1, max_size=12)


def _raw_input(lines: list[str], first: int = 0) -> pa.Table:
    return pa.table({"line_no": pa.array(range(first, first + len(lines)), pa.int64()),
                     "line": pa.array(lines, pa.string()),
                     "redact": pa.array([True] * len(lines))})


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=st.lists(_batch, min_size=3, max_size=6))
def test_query_specialised_to_the_batch_equals_the_general_query(batches):
    # Validation specialises its query to the names a batch uses; the general query over every
    # field and name is the reference: every row, value and reason must be the same.
    # The general query judges each record alone (one projection per stage: no join, group or
    # window), so it runs once over all the batches of an example, each at its own line numbers
    # (planning its ~400 kB costs ~2 CPU s however few the rows); each batch's specialised query
    # runs alone, as validation runs it, and is compared with the general rows of its lines.
    from voice_monitor.validation import VALIDATION_SQL, _present_fields, _validation_sql

    firsts = [sum(len(b) for b in batches[:i]) for i in range(len(batches))]
    params = {"now": NOW}
    con = connect()
    try:
        con.register("raw_input", pa.concat_tables(
            [_raw_input(lines, first) for lines, first in zip(batches, firsts, strict=True)]
        ).combine_chunks())
        general = con.sql(VALIDATION_SQL, params=params).fetchall()
        con.unregister("raw_input")
        specialised = []
        for lines in batches:
            con.register("raw_input", _raw_input(lines))
            specialised.append(
                con.sql(_validation_sql(*_present_fields(con)[:3]), params=params).fetchall())
            con.unregister("raw_input")
    finally:
        con.close()
    general.sort(key=lambda row: row[0])  # by line number: each batch's lines in input order
    assert [row[0] for row in general] == list(range(sum(map(len, batches))))
    for lines, first, rows in zip(batches, firsts, specialised, strict=True):
        expected = [(row[0] - first, *row[1:]) for row in general[first:first + len(lines)]]
        assert rows == expected, lines
