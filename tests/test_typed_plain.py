"""The typed rules in Arrow (`typed_plain`) judge the plain rows as the full rule query does.

The records here are shaped so that Arrow's JSON reader takes the whole batch (one JSON type per
field), and each carries at most a few twists the reader cannot see but the rules can: numbers
out of bounds or not written back exactly, times at the edges of the range and of the future
tolerance, ISO forms the Arrow reading leaves to the query, stages that contradict the event
type, long messages, metadata keys kept or holding a secret.
"""

from __future__ import annotations

import json
import random
from datetime import timedelta

import faultgen as fg
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voice_monitor import typed
from voice_monitor.fastpath import validate_fast
from voice_monitor.lake import connect
from voice_monitor.validation import validate

NOW = fg.NOW
_TYPES = list(fg.STAGE_OF)
_LIMIT = NOW + timedelta(minutes=5)  # the future tolerance


def _iso(moment, digits: int = 6) -> str:
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        text += "." + f"{moment.microsecond:06d}{'000'}"[:digits]
    return text + "Z"


TIMES = [
    _iso(NOW), _iso(NOW, 0), _iso(NOW, 1), _iso(NOW, 3), _iso(NOW, 9), _iso(_LIMIT, 0),
    _iso(_LIMIT + timedelta(microseconds=1)), _iso(_LIMIT + timedelta(seconds=1), 0),
    "1999-12-31T23:59:59.999999Z", "2000-01-01T00:00:00Z", "2026-02-16T24:00:00Z",
    "2026-02-30T10:00:00Z", "2026-02-16 14:00:00Z", "2026-02-16T14:00:00z",
    "2026-02-16T14:00:00+00:00", "2026-02-16T15:00:00+01", "2026-02-16T14:00:00", "2026-02-16T14:00Z",
    "9999-12-31T23:59:59.999999Z", "2026-13-01T00:00:00Z", "yesterday",
]
MILLIS = [946_684_799_999, 946_684_800_000, int(NOW.timestamp() * 1000),
          int(_LIMIT.timestamp() * 1000), int(_LIMIT.timestamp() * 1000) + 1, 0, 253_402_300_799_999,
          253_402_300_800_000]
NUMBERS = [0.0, -0.0, 1.5, 0.5, 1.0, -1.0, 1e-320, 1e-300, 2.0 ** 53, 2.0 ** 53 - 1, 1e308,
           1.0000001, 12.25]
COUNTS = [0, 1, -1, 2 ** 62, 7]
MESSAGES = ["timeout", "x" * 2000, "y" * 2001, "é" * 2000 + "z", "Bearer abcdef123456 failed",
            "call https://api.example.com/v1 failed"]
KEPT = [{}, {"foo": "bar"}, {"note": "token sk-abcdefghijklmnop"}, {"a": "1", "b": "two"}]


def _record(rng: random.Random, i: int, millis: bool) -> tuple[dict, int]:
    """(a record, how many twists it got)"""
    event_type = rng.choice(_TYPES)
    at = NOW - timedelta(seconds=rng.randrange(0, 7200), microseconds=rng.randrange(10 ** 6))
    rec = {"event_id": f"e{i}", "event_type": event_type,
           "timestamp": int(at.timestamp() * 1000) if millis else _iso(at, rng.choice([0, 3, 6])),
           "organization_id": rng.choice(["org-1", "org-2"]), "artifact_id": f"a{i % 17}",
           "duration_ms": rng.choice([12.5, 1500.0]), "confidence_score": 0.75,
           "metadata": {"claim_count": 3, "ai_cost_usd": 0.0125, "ai_model": "m-1"}}
    stage = fg.STAGE_OF[event_type]
    if stage and rng.random() < 0.5:
        rec["pipeline_stage"] = stage
    twists = rng.choice([0, 0, 1, 2])
    for _ in range(twists):
        twist = rng.randrange(9)
        if twist == 0:
            rec["timestamp"] = rng.choice(MILLIS) if millis else rng.choice(TIMES)
        elif twist == 1:
            rec["stage_started_at"] = rng.choice(MILLIS) if millis else rng.choice(TIMES)
        elif twist == 2:
            rec["duration_ms"] = rng.choice(NUMBERS)
        elif twist == 3:
            rec["confidence_score"] = rng.choice(NUMBERS)
        elif twist == 4:
            rec["metadata"]["claim_count"] = rng.choice(COUNTS)
        elif twist == 5:
            rec["pipeline_stage"] = rng.choice([*fg.STAGE_OF.values(), "nope"]) or "ingestion"
        elif twist == 6:
            rec["event_type"] = rng.choice([*_TYPES, "nope"])
        elif twist == 7:
            rec["error_message"] = rng.choice(MESSAGES)
        else:
            rec["metadata"].update(rng.choice(KEPT))
    return rec, twists


@pytest.fixture(scope="module")
def con():
    con = connect()
    yield con
    con.close()


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2 ** 32 - 1), size=st.integers(1, 120), millis=st.booleans())
def test_plain_rows_judge_as_the_full_query(con, monkeypatch, seed, size, millis):
    rng = random.Random(seed)
    made = [_record(rng, i, millis) for i in range(size)]
    records = pa.array([json.dumps(rec, ensure_ascii=False) for rec, _ in made], pa.large_string())
    plain_counts = []
    original = typed.plain_rows

    def counted(src, fields, now):
        plain, result = original(src, fields, now)
        plain_counts.append(int(plain.sum()))
        return plain, result

    monkeypatch.setattr(typed, "plain_rows", counted)
    fast = validate_fast(con, records, NOW, NOW)
    full = validate(con, records, NOW, NOW)
    # the Arrow rules judged at least every record without a twist
    assert sum(plain_counts) >= sum(1 for _, twists in made if not twists)
    assert fast[1].to_pylist() == full[1].to_pylist()  # line_no, raw, reason
    assert fast[0].schema == full[0].schema
    assert fast[0].to_pylist() == full[0].to_pylist()


def test_edges_by_hand(con):
    # worked out from the rules (contract §3): stored instants, and who is rejected
    base = {"event_type": "transcription_started", "organization_id": "org-1"}
    cases = [
        ("ok-frac", _iso(NOW, 1), NOW.replace(microsecond=0)),  # NOW has no microseconds
        ("ok-limit", _iso(_LIMIT, 0), _LIMIT),
        ("late", _iso(_LIMIT + timedelta(microseconds=1)), None),
        ("early", "1999-12-31T23:59:59.999999Z", None),
        ("first", "2000-01-01T00:00:00Z", fg.datetime(2000, 1, 1, tzinfo=fg.UTC)),
    ]
    records = pa.array([json.dumps({**base, "event_id": name, "timestamp": ts}) for name, ts, _ in cases]
                       + [json.dumps({**base, "event_id": "neg", "timestamp": _iso(NOW), "duration_ms": -1.5}),
                          json.dumps({**base, "event_id": "stage", "timestamp": _iso(NOW),
                                      "pipeline_stage": "ingestion"})], pa.large_string())
    accepted, rejected = validate_fast(con, records, NOW, NOW)
    stored = dict(zip(accepted.column("event_id").to_pylist(), accepted.column("timestamp").to_pylist(),
                      strict=True))
    assert stored == {name: at for name, _, at in cases if at is not None}
    assert [r.split(" ")[0] for r in rejected.column("reason").to_pylist()] == [
        "timestamp", "timestamp", "duration_ms", "pipeline_stage"]


def test_retry_events_with_a_stage_are_judged_in_arrow(con, monkeypatch):
    # retry_* may carry any stage (they imply none): SQL's `in (...) OR derived = stage` is true
    # with a null derived stage, and the Arrow rules must say so too, not leave them to the query
    sent = []
    monkeypatch.setattr("voice_monitor.fastpath.validate",
                        lambda con, lines, now, at: sent.append(len(lines)) or validate(con, lines, now, at))
    records = pa.array([json.dumps({"event_id": f"r{i}", "event_type": "retry_initiated",
                                    "timestamp": _iso(NOW, 0), "pipeline_stage": "transcription"})
                        for i in range(20)], pa.large_string())
    accepted, rejected = validate_fast(con, records, NOW, NOW)
    assert (accepted.num_rows, rejected.num_rows, sent) == (20, 0, [])
    assert set(accepted.column("pipeline_stage").to_pylist()) == {"transcription"}


@st.composite
def _times(draw):
    """Strings of one length (as a producer writes them), most shaped like a plain time, fields
    at and beyond their bounds, a character changed now and then."""
    width = draw(st.sampled_from([19, 20, 21, 22, 24, 27, 28]))
    field = {5: ["00", "01", "09", "10", "12", "13", "19"], 8: ["00", "01", "19", "29", "31", "32", "40"],
             11: ["00", "09", "19", "23", "24", "30"], 14: ["00", "09", "59", "60"], 17: ["00", "59", "60", "61"]}
    out = []
    for _ in range(draw(st.integers(1, 12))):
        chars = [draw(st.sampled_from("0123456789")) for _ in range(width)]
        for at, char in ((4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":"), (19, ".")):
            if at < width:
                chars[at] = char
        for at, choices in field.items():
            chars[at:at + 2] = draw(st.sampled_from(choices))
        chars = chars[:width - 1] + ["Z"]
        if draw(st.integers(0, 5)) == 0:
            chars[draw(st.integers(0, width - 1))] = draw(st.sampled_from("0-TZ:.x٣ "))
        out.append(None if draw(st.integers(0, 9)) == 0 else "".join(chars))
    return out


@settings(max_examples=300, deadline=None)
@given(values=_times(), odd=st.booleans())
def test_plain_times_are_found_as_the_pattern_finds_them(values, odd):
    import re

    from voice_monitor.typed_plain import _PLAIN_TIME, _plain_times

    values = values + ["2026-02-16T14:00:00Z"] if odd else values  # lengths differ: the pattern
    expected = [v is not None and re.fullmatch(_PLAIN_TIME[1:-1], v, re.ASCII) is not None
                for v in values]
    assert _plain_times(pa.array(values, pa.string())).tolist() == expected
    assert _plain_times(pa.chunked_array([values[:3], values[3:]], pa.string())).tolist() == expected
