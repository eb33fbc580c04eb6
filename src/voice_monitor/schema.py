"""The event schema, declared once: fields, types, event types and the stage each implies;
and the stored schemas of quarantine and alert records.

Validation (landing), the camelCase mapping, the Parquet schema and the docs all derive from
the tables in this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

import pyarrow as pa

STAGES = (
    "ingestion",
    "transcription",
    "claims_extraction",
    "entity_resolution",
    "draft_generation",
    "confirmation",
)
# The four stages that have started/succeeded/failed events and latencies (stage_* snapshots).
PROCESSING_STAGES = ("transcription", "claims_extraction", "entity_resolution", "draft_generation")

# event_type -> (stage or None, kind); kind is started | success | failure | lifecycle | system
EVENT_TYPES: dict[str, tuple[str | None, str]] = {
    "artifact_received": ("ingestion", "success"),
    "transcription_started": ("transcription", "started"),
    "transcription_completed": ("transcription", "success"),
    "transcription_failed": ("transcription", "failure"),
    "claims_extraction_started": ("claims_extraction", "started"),
    "claims_extracted": ("claims_extraction", "success"),
    "claims_extraction_failed": ("claims_extraction", "failure"),
    "entity_resolution_started": ("entity_resolution", "started"),
    "entity_resolution_completed": ("entity_resolution", "success"),
    "entity_needs_disambiguation": ("entity_resolution", "success"),
    "entity_resolution_failed": ("entity_resolution", "failure"),
    "draft_generation_started": ("draft_generation", "started"),
    "drafts_generated": ("draft_generation", "success"),
    "draft_generation_failed": ("draft_generation", "failure"),
    "draft_confirmed": ("confirmation", "success"),
    "draft_rejected": ("confirmation", "success"),
    "artifact_status_changed": (None, "lifecycle"),
    "artifact_completed": (None, "lifecycle"),
    "artifact_failed": (None, "lifecycle"),
    "retry_initiated": (None, "system"),
    "retry_succeeded": (None, "system"),
    "retry_failed": (None, "system"),
    "circuit_breaker_opened": (None, "system"),
    "circuit_breaker_closed": (None, "system"),
    "budget_threshold_reached": (None, "system"),
    "budget_exceeded": (None, "system"),
    "rate_limit_hit": (None, "system"),
}
# Event types that may carry any stage (the stage being retried) although they imply none.
ANY_STAGE_TYPES = frozenset({"retry_initiated", "retry_succeeded", "retry_failed"})
FAILURE_TYPES = tuple(t for t, (_, kind) in EVENT_TYPES.items() if t.endswith("_failed"))

# Where microsecond counts since the epoch (counters, notes, cursors, Parquet footers) start.
UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

MAX_EVENT_ID = 128
MAX_SHORT_STRING = 256
MAX_ERROR_MESSAGE = 2000
FUTURE_TOLERANCE_MS = 5 * 60 * 1000
# The ISO-8601 time text an event may carry, and (with a date or an hour alone too) a command,
# an API request or a flow: the extended form, 'T' (or a space) between date and time, then 'Z'
# or an offset. 'T' and 'Z' may be lower case, as RFC 3339 (5.6) allows.
# The parts (arguments.iso_time builds its wider form from the same ones): the date, what may
# follow the hour, and the zone.
ISO_DATE = r"\d{4}-\d{2}-\d{2}"
ISO_AFTER_HOUR = r":\d{2}(:\d{2}(\.\d{1,9})?)?"
ISO_ZONE = r"(Z|z|[+-]([01]\d|2[0-3])(:?[0-5]\d)?)"
ISO_DATE_TIME = rf"^{ISO_DATE}[Tt ]\d{{2}}{ISO_AFTER_HOUR}"
ISO_OFFSET = rf"{ISO_ZONE}$"
# A leap second (second 60: ISO-8601 and RFC 3339 allow it) names an instant a UTC timestamp
# cannot hold: it is read as the last microsecond of the minute before it (same hour and day).
ISO_LEAP_SECOND = r"^(\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}):60(\.\d{1,9})?"
# The most one event may carry, so that the rollups' sums of many events stay finite: a count
# (claim_count, ...) fits 31 bits (an hour of 4 billion such events still sums within a BIGINT);
# a number (duration_ms, ai_cost_usd, ...) is at most 1e300 (1e8 of them sum below the largest
# double, 1.8e308).
MAX_COUNT = 2**31 - 1
MAX_NUMBER = 1e300


@dataclass(frozen=True)
class Field:
    """One input field: its stored name and type, and the rule landing enforces."""

    name: str
    kind: str  # id | event_type | time | string | stage | number | message | metadata | int | ratio
    required: bool = False
    aliases: tuple[str, ...] = ()

    @cached_property  # (kept in the instance's __dict__: a frozen dataclass allows it)
    def camel(self) -> str:
        head, *rest = self.name.split("_")
        return head + "".join(part.capitalize() for part in rest)

    @cached_property  # asked ~40 times per validated batch, whatever its size
    def input_names(self) -> tuple[str, ...]:
        """Names accepted on input, in order of precedence."""
        names = [self.name]
        if self.camel != self.name:
            names.append(self.camel)
        return tuple(names) + self.aliases


FIELDS: tuple[Field, ...] = (
    Field("event_id", "id", required=True),
    Field("event_type", "event_type", required=True),
    Field("timestamp", "time", required=True),
    Field("artifact_id", "string"),
    Field("voice_note_id", "string"),
    Field("organization_id", "string"),
    Field("coach_user_id", "string"),
    Field("pipeline_stage", "stage"),
    Field("stage_started_at", "time"),
    Field("stage_completed_at", "time"),
    Field("duration_ms", "number"),
    Field("previous_status", "string"),
    Field("new_status", "string"),
    Field("error_code", "string"),
    Field("error_message", "message"),
    Field("metadata", "metadata"),
)

# Known metadata keys, promoted to typed columns.
METADATA_FIELDS: tuple[Field, ...] = (
    Field("claim_count", "int"),
    Field("entity_count", "int"),
    Field("auto_resolved_count", "int"),
    Field("disambiguation_count", "int"),
    Field("draft_count", "int"),
    Field("transcript_word_count", "int"),
    Field("retry_attempt", "int"),
    Field("confidence_score", "ratio"),
    Field("transcript_duration_s", "number", aliases=("transcriptDurationSeconds",)),
    Field("ai_cost_usd", "number", aliases=("aiCost",)),
    Field("ai_model", "string"),
    Field("source_channel", "string"),
)

_ARROW_TYPES = {
    "id": pa.string(),
    "event_type": pa.string(),
    "time": pa.timestamp("us", tz="UTC"),
    "string": pa.string(),
    "stage": pa.string(),
    "number": pa.float64(),
    "message": pa.string(),
    "metadata": pa.string(),  # the unknown metadata keys, as a JSON object string
    "int": pa.int64(),
    "ratio": pa.float64(),
}

STORED_COLUMNS: tuple[str, ...] = (
    *(f.name for f in FIELDS if f.name != "metadata"),
    *(f.name for f in METADATA_FIELDS),
    "metadata",
    "ingested_at",
)

# Stored event columns with few distinct values: dictionary-encoded in the hour files. The ids,
# times, amounts and kept metadata are not (a dictionary of mostly unique values would be built
# and then dropped: about half of the CPU time of writing an hour file).
DICTIONARY_COLUMNS = ["event_type", "organization_id", "pipeline_stage", "previous_status",
                      "new_status", "error_code", "error_message", "ai_model", "source_channel"]

EVENT_SCHEMA = pa.schema(
    [pa.field(f.name, _ARROW_TYPES[f.kind], nullable=not f.required)
     for f in FIELDS if f.name != "metadata"]
    + [pa.field(f.name, _ARROW_TYPES[f.kind]) for f in METADATA_FIELDS]
    + [pa.field("metadata", pa.string()), pa.field("ingested_at", pa.timestamp("us", tz="UTC"))]
)

QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("raw", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("reason_category", pa.string()),  # a short code (sql/macros/reason_category.sql)
        pa.field("source", pa.string()),
        pa.field("received_at", pa.timestamp("us", tz="UTC")),
    ]
)


def duckdb_type(field_name: str) -> str:
    """DuckDB type of a stored event column."""
    arrow_type = EVENT_SCHEMA.field(field_name).type
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMPTZ"
    if pa.types.is_int64(arrow_type):
        return "BIGINT"
    if pa.types.is_floating(arrow_type):
        return "DOUBLE"
    return "VARCHAR"


def stage_of(event_type: str) -> str | None:
    """The pipeline stage an event type implies (None for lifecycle and system events)."""
    return EVENT_TYPES[event_type][0]


_TS = pa.timestamp("us", tz="UTC")
# The alert store's lifecycle records (health.alerts writes them; the `alerts` view reads them).
ALERT_RECORD_SCHEMA = pa.schema([
    pa.field("record_id", pa.string(), nullable=False),  # sorts in write order
    pa.field("alert_id", pa.string(), nullable=False),
    pa.field("record_type", pa.string(), nullable=False),  # raised | escalated | acknowledged | resolved | undelivered | delivered
    pa.field("recorded_at", _TS, nullable=False),
    pa.field("alert_type", pa.string(), nullable=False),
    pa.field("organization_id", pa.string()),  # null = the platform
    pa.field("severity", pa.string(), nullable=False),
    pa.field("message", pa.string(), nullable=False),
    pa.field("value", pa.float64()),
    pa.field("threshold", pa.float64()),
    pa.field("raised_at", _TS, nullable=False),
    pa.field("acknowledged_by", pa.string()),
    pa.field("note", pa.string()),
])
