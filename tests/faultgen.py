"""A seeded generator of valid events and of bad input, written from the contract (§3) alone.

`valid_record` makes a random valid event (snake_case and camelCase mixed field by field) and
`expected_row` works out, independently of the product's code, the row the lake must store for
it. `BAD_CLASSES` lists the kinds of bad input: each makes one raw record (bytes) carrying a
unique marker, and names the field (a regex) its quarantine reason must mention.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

NOW = datetime(2026, 2, 16, 14, 30, tzinfo=UTC)

STAGE_OF = {
    "artifact_received": "ingestion", "transcription_started": "transcription",
    "transcription_completed": "transcription", "transcription_failed": "transcription",
    "claims_extraction_started": "claims_extraction", "claims_extracted": "claims_extraction",
    "claims_extraction_failed": "claims_extraction", "entity_resolution_started": "entity_resolution",
    "entity_resolution_completed": "entity_resolution",
    "entity_needs_disambiguation": "entity_resolution", "entity_resolution_failed": "entity_resolution",
    "draft_generation_started": "draft_generation", "drafts_generated": "draft_generation",
    "draft_generation_failed": "draft_generation", "draft_confirmed": "confirmation",
    "draft_rejected": "confirmation", "artifact_status_changed": None, "artifact_completed": None,
    "artifact_failed": None, "retry_initiated": None, "retry_succeeded": None, "retry_failed": None,
    "circuit_breaker_opened": None, "circuit_breaker_closed": None,
    "budget_threshold_reached": None, "budget_exceeded": None, "rate_limit_hit": None,
}
STAGES = ["ingestion", "transcription", "claims_extraction", "entity_resolution",
          "draft_generation", "confirmation"]
TOP = ["event_id", "event_type", "timestamp", "artifact_id", "voice_note_id", "organization_id",
       "coach_user_id", "pipeline_stage", "stage_started_at", "stage_completed_at", "duration_ms",
       "previous_status", "new_status", "error_code", "error_message"]
INTS = ["claim_count", "entity_count", "auto_resolved_count", "disambiguation_count",
        "draft_count", "transcript_word_count", "retry_attempt"]
# stored columns, in the order of the contract's table
COLUMNS = [*TOP, *INTS, "confidence_score", "transcript_duration_s", "ai_cost_usd", "ai_model",
           "source_channel", "metadata"]
# no '-', '_', '@', '=', ':' or capitals: random text can never look like a secret or an e-mail
SAFE = "abcdefghijklmnopqrstuvwxyz0123456789 .éß日本"
WORDS = ["upstream", "timeout", "after", "retries", "model", "busy", "queue", "full", "audio",
         "too", "short", "worker", "restarted", "while", "decoding", "segment", "ünïcode", "日本語"]


@cache
def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.capitalize() for p in rest)


def name_re(name: str) -> str:
    """A regex matching a field's name in snake_case or camelCase."""
    return "_?".join(name.split("_"))


def text(rng: random.Random, lo: int, hi: int) -> str:
    return "".join(rng.choices(SAFE, k=rng.randint(lo, hi))).strip() or "x"


def iso(moment: datetime, rng: random.Random) -> str:
    """The moment as ISO-8601 with Z or a random offset, at ms or µs precision."""
    offset = timedelta(minutes=rng.choice([0, 0, 0, 330, -480, 60, -210, 840]))
    local = moment.astimezone(UTC) + offset
    spec = rng.choice(["seconds", "milliseconds", "microseconds"])
    body = local.replace(tzinfo=None).isoformat(timespec=spec)
    if offset == timedelta(0):
        return body + "Z"
    sign, minutes = ("+" if offset > timedelta(0) else "-"), abs(int(offset.total_seconds())) // 60
    return f"{body}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


OLD_HOURS = [datetime(2000, 1, 2, tzinfo=UTC), datetime(2012, 2, 29, 23, tzinfo=UTC),
             datetime(2019, 12, 31, 23, tzinfo=UTC), datetime(2025, 6, 1, 5, tzinfo=UTC)]
ORGS = [f"org-{n}" for n in range(12)] + ["Ünïcode org 日本", "o" * 256]


def moment(rng: random.Random) -> datetime:
    """A valid event time: mostly the last two days, some old (backfill), some just ahead."""
    roll = rng.random()
    if roll < 0.9:
        at = NOW - timedelta(microseconds=rng.randrange(48 * 3600 * 10**6))
    elif roll < 0.97:  # an import of old data: a few old hours, back to January 2000
        at = rng.choice(OLD_HOURS) + timedelta(microseconds=rng.randrange(3600 * 10**6))
    else:
        at = NOW + timedelta(microseconds=rng.randrange(299 * 10**6))  # within the 5 min allowed
    return at


def time_value(rng: random.Random, at: datetime):
    if rng.random() < 0.3:
        return int(at.timestamp() * 1000)  # epoch ms: precision is the millisecond
    return iso(at, rng)


def parse_time(value) -> datetime:
    """Independent of the product: what a valid time value means, in UTC (µs precision)."""
    if isinstance(value, int):
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=value)
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _metadata(rng: random.Random) -> dict:
    meta: dict = {}
    for key in rng.sample(INTS, rng.randint(0, 4)):
        meta[rng.choice([key, camel(key)])] = rng.choice([0, 1, rng.randrange(10**6)])
    if rng.random() < 0.5:
        meta[rng.choice(["confidence_score", "confidenceScore"])] = rng.choice(
            [0, 1, 0.5, round(rng.random(), 6), rng.random()])
    if rng.random() < 0.3:
        meta["transcript_duration_s"] = round(rng.uniform(0, 600), 3)
    if rng.random() < 0.4:
        meta[rng.choice(["ai_cost_usd", "aiCost"])] = rng.choice([0, round(rng.uniform(0, 2), 6)])
    for key in ("ai_model", "source_channel"):
        if rng.random() < 0.3:
            meta[rng.choice([key, camel(key)])] = text(rng, 1, 30)
    if rng.random() < 0.3:  # unknown keys are kept, as JSON
        meta["note"] = text(rng, 0, 40)
        meta["extra"] = {"flag": rng.random() < 0.5, "n": rng.randrange(100),
                         "list": [1, 2.5, None, "x"], "deep": {"a": {"b": {"c": 1}}}}
    return meta


def valid_record(rng: random.Random, event_id: str) -> dict:
    """One valid event; each field name is snake_case or camelCase at random."""
    event_type = rng.choice(list(STAGE_OF))
    at = moment(rng)
    rec: dict = {"event_id": event_id, "event_type": event_type, "timestamp": time_value(rng, at)}
    if rng.random() < 0.8:
        rec["organization_id"] = rng.choice([*ORGS, None])
    for key in ("artifact_id", "voice_note_id", "coach_user_id"):
        if rng.random() < 0.6:
            rec[key] = text(rng, 256, 256) if rng.random() < 0.02 else rng.choice(
                [text(rng, 1, 40), None])
    stage = STAGE_OF[event_type]
    if stage and rng.random() < 0.4:
        rec["pipeline_stage"] = stage
    elif event_type.startswith("retry_") and rng.random() < 0.5:
        rec["pipeline_stage"] = rng.choice(STAGES)
    if rng.random() < 0.3:
        start = at - timedelta(seconds=rng.randrange(1, 600))
        rec["stage_started_at"] = time_value(rng, start)
        rec["stage_completed_at"] = time_value(rng, at)
    if rng.random() < 0.4:
        rec["duration_ms"] = rng.choice([0, rng.randrange(10**7), round(rng.uniform(0, 1e5), 3)])
    for key in ("previous_status", "new_status", "error_code"):
        if rng.random() < 0.15:
            rec[key] = text(rng, 1, 20)
    if rng.random() < 0.2:
        long = rng.random() < 0.1
        words = rng.randint(300, 500) if long else rng.randint(1, 12)
        rec["error_message"] = " ".join(rng.choice(WORDS) for _ in range(words))
    meta = _metadata(rng)
    if meta or rng.random() < 0.1:
        rec["metadata"] = meta if meta else None
    return {(rng.choice([k, camel(k)]) if rng.random() < 0.5 else k): v for k, v in rec.items()}


FROM_CAMEL = {camel(c): c for c in COLUMNS}


def expected_row(rec: dict) -> dict:
    """The stored row for a valid record, worked out from the contract, not from the product."""
    snake = {k: rec[k] for k in rec}
    for key in TOP:
        if camel(key) in snake:
            snake[key] = snake.pop(camel(key))
    row = {c: None for c in COLUMNS}
    for key in TOP:
        if snake.get(key) is not None:
            row[key] = snake[key]
    for key in ("timestamp", "stage_started_at", "stage_completed_at"):
        if row[key] is not None:
            row[key] = parse_time(row[key])
    if row["duration_ms"] is not None:
        row["duration_ms"] = float(row["duration_ms"])
    if row["pipeline_stage"] is None:
        row["pipeline_stage"] = STAGE_OF[row["event_type"]]
    if row["error_message"] is not None:
        row["error_message"] = row["error_message"][:2000]
    extra = {}
    for key, value in (snake.get("metadata") or {}).items():
        name = {"aiCost": "ai_cost_usd"}.get(key, key)
        name = FROM_CAMEL.get(name, name)
        if name in INTS:
            row[name] = value
        elif name in ("confidence_score", "transcript_duration_s", "ai_cost_usd"):
            row[name] = float(value)
        elif name in ("ai_model", "source_channel"):
            row[name] = value
        else:
            extra[key] = value
    row["metadata"] = extra or None  # compared as parsed JSON
    return row


@dataclass(frozen=True)
class BadClass:
    name: str
    make: Callable[[random.Random, str], bytes]  # (rng, marker) -> one raw record
    field: str  # regex the quarantine reason must match (case-insensitive)
    formats: str = "ja"  # j: JSON Lines line, a: element of a JSON array


def _dump(rec: dict) -> bytes:
    return json.dumps(rec, ensure_ascii=False).encode()


def _base(rng: random.Random, marker: str) -> dict:
    rec = valid_record(rng, marker)
    rec = {k: v for k, v in rec.items() if k not in ("artifact_id", "artifactId")}
    return {**rec, "artifact_id": marker}


def _strip(rec: dict, field: str) -> dict:
    return {k: v for k, v in rec.items() if k not in (field, camel(field))}


def _set(field: str, value, where: str = "top") -> Callable[[random.Random, str], bytes]:
    """A record that is valid except that `field` holds `value` (callable: rng -> value)."""
    def make(rng: random.Random, marker: str) -> bytes:
        rec = _strip(_base(rng, marker), field)
        v = value(rng) if callable(value) else value
        if where == "meta":
            meta = rec.pop("metadata", None) or {}
            same = {field, camel(field), *(["aiCost", "ai_cost_usd"] if "ost" in field else [])}
            rec["metadata"] = {**{k: x for k, x in meta.items() if k not in same}, field: v}
        elif v is not _ABSENT:
            rec[rng.choice([field, camel(field)])] = v
        return _dump(rec)
    return make


_ABSENT = object()


def _stage_on(rng: random.Random, marker: str, event_type: str, stage: str = "transcription") -> bytes:
    rec = _strip(_strip(_base(rng, marker), "event_type"), "pipeline_stage")
    return _dump({**rec, "event_type": event_type, "pipeline_stage": stage})


def _with_token(token: str) -> Callable[[random.Random, str], bytes]:
    """A valid record whose duration_ms is the raw JSON-extension token (NaN, Infinity, 1e999)."""
    def make(rng: random.Random, marker: str) -> bytes:
        rec = _strip(_base(rng, marker), "duration_ms")
        rec["duration_ms"] = 12345.678
        return _dump(rec).replace(b"12345.678", token.encode())
    return make


def _repeated(key: str) -> Callable[[random.Random, str], bytes]:
    def make(rng: random.Random, marker: str) -> bytes:
        rec = _strip(_base(rng, marker), key)
        first = json.dumps(rec, ensure_ascii=False)[:-1]
        value = {"event_id": marker, "event_type": "artifact_received",
                 "timestamp": "2026-02-16T14:00:00Z"}[key]
        other = {"event_id": marker + "-b", "event_type": "artifact_failed",
                 "timestamp": "2026-02-16T13:00:00Z"}[key]
        return f'{first}, "{key}": {json.dumps(value)}, "{key}": {json.dumps(other)}}}'.encode()
    return make


def _deep(levels: int) -> dict:
    node: dict = {"leaf": 1}
    for _ in range(levels):
        node = {"k": node}
    return node


def _big(rng: random.Random, marker: str) -> bytes:
    rec = _base(rng, marker)
    rec = _strip(rec, "error_message")
    rec["error_message"] = "word " * 14_000  # about 70 KB
    return _dump(rec)


def _bytes_in_id(bad: bytes) -> Callable[[random.Random, str], bytes]:
    """Raw bytes (or a JSON escape) inside artifact_id, the record's last field."""
    def make(rng: random.Random, marker: str) -> bytes:
        head, tail = _dump(_base(rng, marker)).rsplit(marker.encode(), 1)
        return head + marker.encode() + bad + tail
    return make


ISO_FUTURE = (NOW + timedelta(minutes=6)).isoformat().replace("+00:00", "Z")
MS_2026 = int(NOW.timestamp() * 1000)
T, M = "timestamp", "meta"
UTF8 = "utf.?8|encod|unicode|decod"
JSON = "json|pars"

BAD_CLASSES: list[BadClass] = [
    BadClass("event_id_missing", _set("event_id", _ABSENT), "event_?id"),
    BadClass("event_id_number", _set("event_id", 12345), "event_?id"),
    BadClass("event_id_empty", _set("event_id", ""), "event_?id"),
    BadClass("event_id_null", _set("event_id", None), "event_?id"),
    BadClass("event_id_object", _set("event_id", {"id": 1}), "event_?id"),
    BadClass("event_id_129_chars", lambda r, m: _set("event_id", m + "x" * (129 - len(m)))(r, m),
             "event_?id"),
    BadClass("event_type_missing", _set("event_type", _ABSENT), "event_?type"),
    BadClass("event_type_unknown", _set("event_type", "artifact_exploded"), "event_?type"),
    BadClass("event_type_wrong_case", _set("event_type", "Artifact_Received"), "event_?type"),
    BadClass("event_type_number", _set("event_type", 7), "event_?type"),
    BadClass("event_type_null", _set("event_type", None), "event_?type"),
    BadClass("timestamp_missing", _set(T, _ABSENT), T),
    BadClass("timestamp_naive", _set(T, "2026-02-16T14:00:00"), T),
    BadClass("timestamp_naive_space", _set(T, "2026-02-16 14:00:00.123"), T),
    BadClass("timestamp_before_2000", _set(T, "1999-12-31T23:59:59.999Z"), T),
    BadClass("timestamp_epoch_seconds", _set(T, MS_2026 // 1000), T),
    BadClass("timestamp_ms_before_2000", _set(T, 946_684_799_999), T),
    BadClass("timestamp_negative_ms", _set(T, -1000), T),
    BadClass("timestamp_beyond_int64", _set(T, 10**20), T),
    BadClass("timestamp_future_iso", _set(T, ISO_FUTURE), T),
    BadClass("timestamp_future_ms", _set(T, MS_2026 + 86_400_000), T),
    BadClass("timestamp_year_0_after_offset", _set(T, "0001-01-01T00:30:00+01:00"), T),
    BadClass("timestamp_year_10000", _set(T, "9999-12-31T23:30:00-01:00"), T),
    BadClass("timestamp_garbage", _set(T, "yesterday at noon"), T),
    BadClass("timestamp_empty", _set(T, ""), T),
    BadClass("timestamp_bool", _set(T, True), T),
    BadClass("timestamp_object", _set(T, {"s": 1}), T),
    BadClass("timestamp_feb_30", _set(T, "2026-02-30T10:00:00Z"), T),
    BadClass("stage_started_at_naive", _set("stage_started_at", "2026-02-16T13:00:00"),
             "stage_?started_?at"),
    BadClass("stage_started_at_before_2000", _set("stage_started_at", "1970-01-01T00:00:00Z"),
             "stage_?started_?at"),
    BadClass("stage_completed_at_epoch_seconds",
             _set("stage_completed_at", MS_2026 // 1000), "stage_?completed_?at"),
    BadClass("stage_completed_at_garbage", _set("stage_completed_at", "soon"),
             "stage_?completed_?at"),
    BadClass("artifact_id_257_chars", lambda r, m: _set("artifact_id", m + "a" * 257)(r, m),
             "artifact_?id"),
    BadClass("voice_note_id_array", _set("voice_note_id", ["a", "b"]), "voice_?note_?id"),
    BadClass("organization_id_number", _set("organization_id", 42), "organization_?id"),
    BadClass("organization_id_257_chars", _set("organization_id", "o" * 257), "organization_?id"),
    BadClass("coach_user_id_object", _set("coach_user_id", {"x": 1}), "coach_?user_?id"),
    BadClass("pipeline_stage_unknown", _set("pipeline_stage", "transcribing"), "pipeline_?stage"),
    BadClass("pipeline_stage_number", _set("pipeline_stage", 3), "pipeline_?stage"),
    BadClass("pipeline_stage_disagrees", lambda r, m: _stage_on(r, m, "transcription_completed",
                                                                 "ingestion"), "pipeline_?stage"),
    BadClass("pipeline_stage_on_system_event", lambda r, m: _stage_on(r, m, "circuit_breaker_opened"),
             "pipeline_?stage"),
    BadClass("duration_negative", _set("duration_ms", -1), "duration_?ms"),
    BadClass("duration_string", _set("duration_ms", "12"), "duration_?ms"),
    BadClass("duration_bool", _set("duration_ms", False), "duration_?ms"),
    BadClass("duration_nan", _with_token("NaN"), "duration_?ms|nan"),
    BadClass("duration_infinity", _with_token("Infinity"), "duration_?ms|infinit"),
    BadClass("duration_minus_infinity", _with_token("-Infinity"), "duration_?ms|infinit"),
    BadClass("duration_overflows_to_inf", _with_token("1e999"), "duration_?ms|finite|infinit"),
    BadClass("previous_status_257_chars", _set("previous_status", "p" * 257), "previous_?status"),
    BadClass("new_status_number", _set("new_status", 1), "new_?status"),
    BadClass("error_code_object", _set("error_code", {"c": 1}), "error_?code"),
    BadClass("error_message_number", _set("error_message", 500), "error_?message"),
    BadClass("metadata_string", _set("metadata", "claim count one"), "metadata"),
    BadClass("metadata_array", _set("metadata", [1, 2]), "metadata"),
    BadClass("metadata_9_deep", _set("metadata", _deep(12)), "metadata|deep|nest|depth"),
    BadClass("confidence_above_1", _set("confidence_score", 1.5, M), "confidence_?score"),
    BadClass("confidence_negative", _set("confidence_score", -0.01, M), "confidence_?score"),
    BadClass("confidence_string", _set("confidence_score", "high", M), "confidence_?score"),
    BadClass("claim_count_negative", _set("claim_count", -3, M), "claim_?count"),
    BadClass("claim_count_fraction", _set("claim_count", 2.5, M), "claim_?count"),
    BadClass("entity_count_beyond_int64", _set("entity_count", 2**70, M), "entity_?count"),
    BadClass("retry_attempt_string", _set("retry_attempt", "2", M), "retry_?attempt"),
    BadClass("ai_cost_negative", _set("ai_cost_usd", -0.5, M), "ai_?cost"),
    BadClass("aiCost_string", _set("aiCost", "0.5$", M), "ai_?cost"),
    BadClass("transcript_duration_negative", _set("transcript_duration_s", -2.0, M),
             "transcript_?duration"),
    BadClass("ai_model_number", _set("ai_model", 4, M), "ai_?model"),
    BadClass("source_channel_object", _set("source_channel", {"a": 1}, M), "source_?channel"),
    BadClass("nan_inside_metadata", lambda r, m: _set("note", 0.123456789, M)(r, m).replace(b"0.123456789", b"NaN"),
             "nan|note|metadata"),
    BadClass("event_id_nul", _set("event_id", lambda r: "a\u0000b"), "event_?id|control"),
    BadClass("event_id_newline", _set("event_id", "line\nbreak"), "event_?id|control"),
    BadClass("artifact_id_nul", _bytes_in_id(b"\\u0000"), "artifact_?id|control"),
    BadClass("organization_id_control", _set("organization_id", "org\u001f1"),
             "organization_?id|control"),
    BadClass("repeated_event_id", _repeated("event_id"), "event_?id|repeat|duplicate"),
    BadClass("repeated_timestamp", _repeated("timestamp"), "timestamp|repeat|duplicate"),
    BadClass("repeated_event_type", _repeated("event_type"), "event_?type|repeat|duplicate"),
    BadClass("record_over_64_kib", _big, "64|size|large|long|bytes"),
    BadClass("lone_surrogate_escape", _bytes_in_id(b"\\ud800"), f"artifact_?id|{UTF8}|surrogate|{JSON}"),
    BadClass("not_object_string", lambda r, m: json.dumps(m).encode(), "object"),
    BadClass("not_object_number", lambda r, m: m.replace("fq", "").replace("z", "").encode(), "object"),
    # (a line holding an array is its elements, each a record: one element, one record)
    BadClass("not_object_array", lambda r, m: json.dumps([m]).encode(), "object"),
    # line-level: only a JSON Lines file can hold these (an array holding one does not parse)
    BadClass("invalid_utf8_byte", _bytes_in_id(b"\xff"), UTF8, "j"),
    BadClass("invalid_utf8_continuation", _bytes_in_id(b"\x80abc"), UTF8, "j"),
    BadClass("invalid_utf8_encoded_surrogate", _bytes_in_id(b"\xed\xa0\x80"), UTF8, "j"),
    BadClass("invalid_utf8_overlong", _bytes_in_id(b"\xc0\xaf"), UTF8, "j"),
    BadClass("truncated_line", lambda r, m: _dump(_base(r, m))[:-7], JSON, "j"),
    BadClass("truncated_mid_string", lambda r, m: _dump(_base(r, m)).split(m.encode())[0] + m.encode(),
             JSON, "j"),
    BadClass("garbage_text", lambda r, m: f"ERROR {m} worker died".encode(), JSON, "j"),
    BadClass("single_quotes", lambda r, m: _dump(_base(r, m)).replace(b'"', b"'"), JSON, "j"),
    BadClass("two_objects_one_line", lambda r, m: _dump(_base(r, m)) * 2, JSON, "j"),
]


# Kept out of the corpus while it fails on main (DuckDB's JSON reader accepts it): see
# test_faults_corpus.test_a_trailing_comma_is_not_json.
TRAILING_COMMA = BadClass("trailing_comma", lambda r, m: _dump(_base(r, m))[:-1] + b",}", JSON, "j")


def marker(n: int) -> str:
    """The unique marker of bad record n; the digits alone mark the bare-number class."""
    return f"fq{9_000_000 + n}z"
