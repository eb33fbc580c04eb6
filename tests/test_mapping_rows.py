"""A producer's dicts judged from typed columns built straight from them (`MappingRows`) are
judged exactly as their JSON texts are by the full rule query: the same records accepted,
stored with the same values; the same rejected, with the same reasons and raw texts.

The twists are what only a Python mapping can hold, or what JSON writes differently from how
Python holds it: booleans (an int in Python), NaN and infinities, integers beyond 2^53 or 64
bits, Decimal, numpy and enum values, datetimes, bytes, strings JSON escapes or that are not
UTF-8, non-string keys, dict subclasses and other mappings, metadata that is not a dict.
"""

from __future__ import annotations

import enum
import json
import random
from collections import OrderedDict
from datetime import timedelta
from decimal import Decimal
from types import MappingProxyType

import faultgen as fg
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voice_monitor import mapping_rows
from voice_monitor.fastpath import validate_fast
from voice_monitor.lake import connect
from voice_monitor.mapping_rows import MappingRows
from voice_monitor.mappings import dumps
from voice_monitor.validation import validate

NOW = fg.NOW
NOW_MS = int(NOW.timestamp() * 1000)


class Color(enum.Enum):
    RED = "red"


class Text(enum.StrEnum):
    A = "artifact_received"


class Count(enum.IntEnum):
    THREE = 3


TWISTS = [
    ("duration_ms", True), ("duration_ms", float("nan")), ("duration_ms", float("inf")),
    ("duration_ms", "12"), ("duration_ms", 2 ** 60), ("duration_ms", 2 ** 53 + 1), ("duration_ms", -0.0),
    ("duration_ms", 5e-324), ("duration_ms", Decimal("1.5")), ("duration_ms", np.float64(2.5)),
    ("duration_ms", 2 ** 70), ("durationMs", 7), ("duration_ms", -3), ("duration_ms", None),
    ("timestamp", NOW_MS), ("timestamp", True), ("timestamp", 1.7e12), ("timestamp", 2 ** 64),
    ("timestamp", NOW - timedelta(minutes=3)), ("timestamp", "2026-02-16T14:00:00"),
    ("timestamp", "2026-02-16T14:00:00Z"), ("timestamp", 17), ("stageStartedAt", NOW_MS - 5000),
    ("stage_started_at", "2026-02-16T14:00:00+01:00"), ("timestamp", NOW_MS + 10 * 60_000),
    ("event_id", 5), ("event_id", 'a"b'), ("event_id", "a\\b"), ("event_id", "a\nb"),
    ("event_id", "\ud800"), ("event_id", ""), ("event_id", "x" * 129), ("event_id", Text.A),
    ("eventType", Text.A), ("event_type", "nope"), ("event_type", None), ("eventType", Color.RED),
    ("organization_id", "x" * 257), ("organization_id", b"org"), ("organization_id", {"a": 1}),
    ("organization_id", ["x"]), ("organizationId", "Ünïcode org 日本"), ("organization_id", "a,}"),
    ("error_message", "Bearer abcdef1234567890 failed"), ("error_message", "x" * 70_000),
    ("error_message", "y" * 2001), ("error_message", "tab\there"), ("errorCode", "E\u2028"),
    ("pipeline_stage", "nope"), ("pipelineStage", "ingestion"), ("new_status", 'say "hi"'),
    ("extra_field", 1), ("extra_field", float("nan")), ("extra_field", {"deep": [1, 2]}),
    (1, "an int key"), ("metadata", "a string"), ("metadata", [1]), ("metadata", None),
    ("metadata", {}), ("metadata", OrderedDict(claim_count=3)), ("metadata", {"claim_count": Count.THREE}),
]
META_TWISTS = [
    ("claimCount", 1.5), ("claimCount", 1.0), ("claim_count", True), ("claim_count", "3"),
    ("claim_count", 2 ** 63), ("claim_count", -1), ("claim_count", 2 ** 62), ("aiCost", False),
    ("confidenceScore", 1), ("confidence_score", 1.5), ("confidence_score", float("nan")),
    ("note", "kept"), ("note", None), ("claimCount", None), ("ai_model", 'say "hi"'),
    ("ai_model", "token sk-abcdefghijklmnop"), ("transcript_duration_s", float("inf")), (3, "int key"),
    ("aiModel", "m-1"), ("source_channel", "x" * 300),
]


def _plain(rng: random.Random, i: int) -> dict:
    """A record of the kind a producer sends: every field a plain value."""
    rec = {"event_id": f"p{i}", "event_type": rng.choice(list(fg.STAGE_OF)),
           "timestamp": NOW_MS - rng.randrange(3_600_000), "organization_id": f"org-{i % 3}",
           "artifact_id": f"a{i // 3}", "duration_ms": rng.choice([0, 12.5, 1500, 0.001])}
    if rng.random() < 0.7:
        rec["metadata"] = {"confidence_score": rng.choice([0, 1, 0.25]), "ai_cost_usd": 0.002,
                           "ai_model": "whisper-1", "claimCount": rng.randrange(5)}
    return rec


def _record(rng: random.Random, kind: int, i: int):
    if kind == 0:
        return _plain(rng, i)
    if kind == 1:
        return fg.valid_record(rng, fg.marker(i))
    rec = _plain(rng, i)
    for key, value in rng.sample(TWISTS, rng.randint(1, 2)):
        rec[key] = value
    if rng.random() < 0.5:
        meta = rec.get("metadata")
        key, value = rng.choice(META_TWISTS)
        rec["metadata"] = {**(meta if isinstance(meta, dict) else {}), key: value}
    wrap = rng.random()
    if wrap < 0.03:
        return OrderedDict(rec)
    if wrap < 0.06:
        return MappingProxyType(rec)
    if wrap < 0.08:
        return [rec]
    return rec


@st.composite
def batches(draw):
    seed = draw(st.integers(0, 2 ** 32 - 1))
    kinds = draw(st.lists(st.sampled_from([0, 0, 0, 1, 2, 2]), min_size=1, max_size=120))
    rng = random.Random(seed)
    records = [_record(rng, kind, i) for i, kind in enumerate(kinds)]
    if draw(st.booleans()):  # copies: first landed wins, in input order
        records += [records[i] for i in draw(st.lists(st.integers(0, len(records) - 1), max_size=5))]
    return records


@pytest.fixture(scope="module")
def con():
    con = connect()
    yield con
    con.close()


def _full(con, records):
    """The full rule query on the records' JSON texts: what a file holding them would get."""
    return validate(con, [dumps(r) for r in records], NOW, NOW)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(records=batches())
def test_dicts_are_judged_as_their_json_texts_by_the_full_query(con, records):
    fast = validate_fast(con, MappingRows(records), NOW, NOW)
    full = _full(con, records)
    assert fast[1].to_pylist() == full[1].to_pylist()  # line_no, raw, reason
    assert fast[0].schema == full[0].schema
    assert fast[0].to_pylist() == full[0].to_pylist()



@pytest.mark.parametrize("metas", [[{}], [{}, {}, None], [None, {}]])
def test_a_batch_whose_metadata_objects_are_all_empty_is_judged_as_json(con, metas, tmp_path):
    """Every record's metadata `{}` (or null): the metadata struct had no field, so Arrow made
    it 0 rows long, the batch's table failed to build, and a producer quarantined each valid
    event as 'record could not be validated (ArrowInvalid: ... expected length 1 but got
    length 0)'. (Found by the property test above, replaying its database.)"""
    records = [{"event_id": f"m{i}", "event_type": "drafts_generated",
                "timestamp": 1_771_249_020_909, "metadata": meta} for i, meta in enumerate(metas)]
    fast = validate_fast(con, MappingRows(records), NOW, NOW)
    full = _full(con, records)
    assert (fast[0].num_rows, fast[1].num_rows) == (len(records), 0)
    assert fast[0].to_pylist() == full[0].to_pylist()
    from voice_monitor.lake import Lake
    from voice_monitor.producer import Producer

    lake = Lake.create(tmp_path / "lake")
    producer = Producer(lake, now=NOW)
    for record in records:
        producer.emit(record)
    producer.close()
    assert (producer.stats.accepted, producer.stats.quarantined) == (len(records), 0)

def test_every_twist_alone_is_judged_as_its_json_text(con):
    # each twist on its own record, in one batch with plain records around it
    rng = random.Random(7)
    records = []
    for i, (key, value) in enumerate(TWISTS):
        rec = _plain(rng, 2 * i)
        rec[key] = value
        records += [rec, _plain(rng, 2 * i + 1)]
    for i, (key, value) in enumerate(META_TWISTS):
        rec = _plain(rng, 1000 + i)
        rec["metadata"] = {**rec.get("metadata", {}), key: value}
        records.append(rec)
    fast = validate_fast(con, MappingRows(records), NOW, NOW)
    full = _full(con, records)
    assert fast[1].to_pylist() == full[1].to_pylist()
    assert fast[0].to_pylist() == full[0].to_pylist()
    assert 20 < fast[1].num_rows < len(records) // 2


def test_plain_dicts_are_never_written_as_json(con, monkeypatch):
    written, judged = [], []
    monkeypatch.setattr(mapping_rows, "dumps", lambda r: written.append(r) or dumps(r))
    monkeypatch.setattr("voice_monitor.fastpath.validate",
                        lambda c, lines, now, at: judged.append(len(lines)) or validate(c, lines, now, at))
    rng = random.Random(1)
    records = [_plain(rng, i) for i in range(500)]
    odd = {**_plain(rng, 500), "duration_ms": True}
    accepted, rejected = validate_fast(con, MappingRows([*records, odd]), NOW, NOW)
    assert (accepted.num_rows, written, judged) == (500, [odd], [1])
    assert rejected.to_pylist() == [{"line_no": 500, "raw": dumps(odd).decode(),
                                     "reason": "duration_ms true must be a finite number >= 0"}]


def test_stored_values_worked_out_by_hand(con):
    # camelCase names, an integer amount, a ratio of 1, epoch milliseconds and ISO text times
    records = [
        {"eventId": "h1", "eventType": "transcription_completed", "timestamp": NOW_MS - 60_000,
         "durationMs": 1500, "organizationId": "org-1", "stageStartedAt": "2026-02-16T14:28:30Z",
         "metadata": {"confidenceScore": 1, "aiCost": 0.25, "aiModel": "m", "claim_count": None}},
        {"event_id": "h2", "event_type": "retry_initiated", "timestamp": NOW_MS,
         "pipeline_stage": "draft_generation", "metadata": {}, "error_message": "x" * 2000},
    ]
    accepted, rejected = validate_fast(con, MappingRows(records), NOW, NOW)
    assert rejected.num_rows == 0
    rows = accepted.to_pylist()
    picked = [{k: row[k] for k in ("event_id", "timestamp", "stage_started_at", "duration_ms",
                                   "pipeline_stage", "organization_id", "confidence_score",
                                   "ai_cost_usd", "ai_model", "claim_count", "metadata")}
              for row in rows]
    assert picked == [
        {"event_id": "h1", "timestamp": fg.datetime(2026, 2, 16, 14, 29, tzinfo=fg.UTC),
         "stage_started_at": fg.datetime(2026, 2, 16, 14, 28, 30, tzinfo=fg.UTC),
         "duration_ms": 1500.0, "pipeline_stage": "transcription", "organization_id": "org-1",
         "confidence_score": 1.0, "ai_cost_usd": 0.25, "ai_model": "m", "claim_count": None,
         "metadata": None},
        {"event_id": "h2", "timestamp": NOW, "stage_started_at": None, "duration_ms": None,
         "pipeline_stage": "draft_generation", "organization_id": None, "confidence_score": None,
         "ai_cost_usd": None, "ai_model": None, "claim_count": None, "metadata": None},
    ]
    assert rows[1]["error_message"] == "x" * 2000


def test_valid_records_store_the_rows_the_contract_gives(con):
    rng = random.Random(11)
    records = [fg.valid_record(rng, f"v{i}") for i in range(300)]
    accepted, rejected = validate_fast(con, MappingRows(records), NOW, NOW)
    assert rejected.num_rows == 0
    for rec, row in zip(records, accepted.to_pylist(), strict=True):
        expected = fg.expected_row(rec)
        got = {c: row[c] for c in expected}
        got["metadata"] = json.loads(got["metadata"]) if got["metadata"] else None
        assert got == expected


def test_a_batch_of_nothing_plain(con):
    records = [[1], "text", None, MappingProxyType({"event_id": "m1"})]
    fast = validate_fast(con, MappingRows(records), NOW, NOW)
    full = _full(con, records)
    assert fast[1].to_pylist() == full[1].to_pylist()
    assert fast[0].num_rows == full[0].num_rows == 0


def test_slices_and_items_are_json_texts():
    rows = MappingRows([{"a": 1}, {"b": float("nan")}])
    assert len(rows[1:]) == 1 and rows[0] == b'{"a":1}'
    assert rows[1] == b'{"b":NaN}'  # as a file holds it: landing refuses it by a file's rules
    assert [t for t in rows][0] == b'{"a":1}'
    assert pa.array([rows[0]], pa.large_binary()).to_pylist() == [b'{"a":1}']


def _uniform(i: int) -> dict:
    return {"event_id": f"u{i}", "event_type": "transcription_completed",
            "timestamp": NOW_MS - 1000 * i, "organization_id": f"org-{i % 3}",
            "artifact_id": f"a{i}", "duration_ms": 12.5,
            "metadata": {"confidence_score": 0.5, "ai_cost_usd": 0.002, "ai_model": "whisper-1"}}


@pytest.mark.parametrize("change", [
    {}, {"artifact_id": None}, {"extra_field": 1}, {"error_code": "E1"},
    {"eventType": "transcription_completed", "event_type": None},
    {"metadata": {"confidence_score": 0.5, "ai_model": "m"}},
    {"metadata": {"confidence_score": 0.5, "ai_cost_usd": 0.1, "ai_model": "m", "note": "x"}},
    {"metadata": {"confidence_score": 0.5, "ai_cost_usd": 0.1, "ai_model": "m", "claimCount": 2}},
    {"metadata": {"confidence_score": 0.5, "ai_cost_usd": 0.1, "aiModel": "m"}},
    {"metadata": None}, {"metadata": "text"}, {"duration_ms": True},
    {"event_type": Text.A}, {"organization_id": np.str_("org-x")}, {"artifact_id": b"a5"},
    {"metadata": {"confidence_score": 0.5, "ai_cost_usd": 0.1, "ai_model": Text.A}},
])
def test_a_batch_of_one_shape_with_one_record_unlike_the_others(con, change):
    """A batch whose records all give the same names (their names read from a few of them
    only), and the same with one record, away from those few, that lacks a name, gives another
    (known or not, camelCase, in metadata too) or a twisted value (a subclass of str in a
    column of strings, bytes): judged as the JSON texts."""
    records = [_uniform(i) for i in range(200)]
    odd = records[5]
    for key, value in change.items():
        if value is None and key != "metadata":
            odd.pop(key, None)
        else:
            odd[key] = value
    fast = validate_fast(con, MappingRows(records), NOW, NOW)
    full = _full(con, records)
    assert fast[1].to_pylist() == full[1].to_pylist()
    assert fast[0].to_pylist() == full[0].to_pylist()
    assert fast[0].num_rows + fast[1].num_rows == 200
