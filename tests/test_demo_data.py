"""The demo generator: realistic, imperfect on purpose, deterministic per seed.

Every check parses the generated JSON texts independently (plain `json`, its own camelCase
mapping and time parsing) instead of trusting the generator's own bookkeeping.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from voice_monitor.demo.data import generate
from voice_monitor.schema import EVENT_TYPES

END = datetime(2026, 2, 18, 12, 0, tzinfo=UTC)  # a Wednesday; two days back is Monday noon
STAGE_ORDER = ["ingestion", "transcription", "claims_extraction", "entity_resolution",
               "draft_generation", "confirmation"]
STAGE_OF = {"artifact_received": "ingestion", "draft_confirmed": "confirmation",
            "draft_rejected": "confirmation"}
for _stage, _started, _ok in [
    ("transcription", "transcription_started", ["transcription_completed"]),
    ("claims_extraction", "claims_extraction_started", ["claims_extracted"]),
    ("entity_resolution", "entity_resolution_started",
     ["entity_resolution_completed", "entity_needs_disambiguation"]),
    ("draft_generation", "draft_generation_started", ["drafts_generated"]),
]:
    STAGE_OF[_started] = _stage
    for _t in _ok:
        STAGE_OF[_t] = _stage
SUCCESS = {"transcription_completed": "transcription_started",
           "claims_extracted": "claims_extraction_started",
           "entity_resolution_completed": "entity_resolution_started",
           "entity_needs_disambiguation": "entity_resolution_started",
           "drafts_generated": "draft_generation_started"}


# the two legacy metadata names that are not a plain camelCase of the stored column
ALIASES = {"aiCost": "ai_cost_usd", "transcriptDurationSeconds": "transcript_duration_s"}


def snake(key: str) -> str:
    return ALIASES.get(key, re.sub(r"([A-Z])", r"_\1", key).lower())


def parse_time(value) -> datetime | None:
    """Epoch ms or ISO-8601 with Z/offset; None for a naive date-time."""
    if isinstance(value, int):
        return datetime.fromtimestamp(value / 1000, UTC)
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment.astimezone(UTC) if moment.tzinfo else None


@pytest.fixture(scope="module")
def data():
    return generate(END, days=2, seed=7)


@pytest.fixture(scope="module")
def parsed(data):
    """(records normalised to snake_case with delivery time, non-JSON lines, raw records)."""
    records, broken, raw = [], [], []
    for line, at in zip(data.lines, data.delivered_us.tolist(), strict=True):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            broken.append(line)
            continue
        raw.append(rec)
        norm = {snake(k): v for k, v in rec.items() if k != "metadata"}
        norm["metadata"] = {snake(k): v for k, v in rec.get("metadata", {}).items()}
        norm["delivered_at"] = datetime.fromtimestamp(at / 1e6, UTC)
        records.append(norm)
    return records, broken, raw


def valid(records):
    """Records that break no landing rule, with their time parsed; first copy of each id."""
    seen, out = set(), []
    for r in records:
        if "event_id" not in r or r.get("event_type") not in EVENT_TYPES:
            continue
        at = parse_time(r["timestamp"])
        if at is None or r.get("duration_ms", 0) < 0 or r["event_id"] in seen:
            continue
        seen.add(r["event_id"])
        out.append({**r, "at": at})
    return out


def test_all_27_event_types_occur(parsed):
    types = {r["event_type"] for r in valid(parsed[0])}
    assert len(EVENT_TYPES) == 27  # the contract's table
    assert types == set(EVENT_TYPES)


def test_about_five_percent_of_artifacts_fail(parsed):
    terminal = {}
    for r in valid(parsed[0]):
        if r["event_type"] in ("artifact_completed", "artifact_failed"):
            terminal[r["artifact_id"]] = r["event_type"]
    failed = sum(1 for t in terminal.values() if t == "artifact_failed")
    assert len(terminal) > 1000  # two days at ~1000 voice notes a weekday
    assert 0.03 <= failed / len(terminal) <= 0.08


def test_failures_come_after_retries_sometimes_and_name_the_stage(parsed):
    events = valid(parsed[0])
    retried_stages = {r["pipeline_stage"] for r in events if r["event_type"] == "retry_failed"}
    assert retried_stages == {"transcription", "claims_extraction", "entity_resolution",
                              "draft_generation"}
    assert all("error_code" in r for r in events if r["event_type"].endswith("_failed")
               and not r["event_type"].startswith("retry"))


def test_stages_run_in_order_for_every_artifact(parsed):
    first = defaultdict(dict)
    for r in valid(parsed[0]):
        stage = STAGE_OF.get(r["event_type"])
        if stage and r.get("artifact_id"):
            first[r["artifact_id"]].setdefault(stage, r["at"])
            first[r["artifact_id"]][stage] = min(first[r["artifact_id"]][stage], r["at"])
    for artifact, stages in first.items():
        times = [stages[s] for s in STAGE_ORDER if s in stages]
        assert times == sorted(times), artifact
    # an artifact's received event may still be on its way (stuck in a late batch) at the end
    with_received = sum(1 for stages in first.values() if "ingestion" in stages)
    assert with_received >= 0.99 * len(first)


def test_both_field_spellings_are_sent(parsed):
    raw = parsed[2]
    camel = sum(1 for r in raw if "eventId" in r or "eventType" in r)
    assert 0.05 <= camel / len(raw) <= 0.3  # ~15 % of producers are legacy
    assert any("aiCost" in r.get("metadata", {}) for r in raw)


def test_some_stage_events_carry_only_a_timestamp(parsed):
    events = valid(parsed[0])
    started = {(r["artifact_id"], r["event_type"]) for r in events if r["event_type"].endswith("_started")}
    bare = [r for r in events if r["event_type"] in SUCCESS and "duration_ms" not in r
            and "stage_started_at" not in r]
    paired = [r for r in bare if (r["artifact_id"], SUCCESS[r["event_type"]]) in started]
    with_duration = [r for r in events if r["event_type"] in SUCCESS and "duration_ms" in r]
    with_bounds = [r for r in events if r["event_type"] in SUCCESS and "stage_completed_at" in r]
    # pairable unless the started event is in a late batch not delivered by the end
    assert len(paired) > 1000 and len(paired) >= 0.99 * len(bare)
    assert with_duration and with_bounds


def test_some_deliveries_are_late_and_none_arrive_before_they_happen(parsed):
    events = valid(parsed[0])
    late = [r for r in events if r["delivered_at"] - r["at"] > timedelta(hours=1)]
    assert 10 <= len(late) <= 0.01 * len(events)
    assert all(r["delivered_at"] >= r["at"] for r in events)
    assert max(r["delivered_at"] for r in events) <= END


def test_some_events_are_delivered_twice_identically(data):
    ids = Counter()
    texts = defaultdict(set)
    for line in data.lines:
        match = re.search(r'"(?:event_id|eventId)":"([^"]+)"', line)
        if match:
            ids[match.group(1)] += 1
            texts[match.group(1)].add(line)
    twice = [i for i, n in ids.items() if n > 1]
    assert 10 <= len(twice) <= 0.01 * len(ids)
    assert all(len(texts[i]) == 1 for i in twice)


def test_a_few_records_are_invalid_in_each_way(parsed):
    records, broken, _ = parsed
    missing_id = [r for r in records if "event_id" not in r]
    naive = [r for r in records if "event_id" in r and isinstance(r.get("timestamp"), str)
             and parse_time(r["timestamp"]) is None]
    unknown = [r for r in records if r.get("event_type") not in EVENT_TYPES]
    negative = [r for r in records if r.get("duration_ms", 0) < 0]
    for kind in (broken, missing_id, naive, unknown, negative):
        assert 3 <= len(kind) <= 0.002 * len(records)


def test_volume_is_skewed_by_organization_and_follows_the_day(parsed):
    received = [r for r in valid(parsed[0]) if r["event_type"] == "artifact_received"]
    per_org = Counter(r.get("organization_id") for r in received)
    orgs = [n for org, n in per_org.items() if org is not None]
    assert len(orgs) == 20
    assert max(orgs) > 5 * sorted(orgs)[len(orgs) // 2]  # Zipf-like: the top one dwarfs the median
    assert per_org[None] > 0  # some voice notes belong to no organization
    by_hour = Counter(r["at"].hour for r in received)
    afternoon = sum(by_hour[h] for h in range(13, 18))
    night = sum(by_hour[h] for h in range(0, 5) if h != 2)  # 02:xx holds the upload-gap burst
    assert afternoon > 3 * night


def test_ai_stages_carry_cost_model_and_quality_metadata(parsed):
    events = valid(parsed[0])
    for event_type, keys in [
        ("transcription_completed", {"ai_cost_usd", "ai_model", "confidence_score",
                                     "transcript_word_count", "transcript_duration_s"}),
        ("claims_extracted", {"ai_cost_usd", "claim_count", "confidence_score"}),
        ("entity_needs_disambiguation", {"entity_count", "auto_resolved_count",
                                         "disambiguation_count"}),
        ("drafts_generated", {"ai_cost_usd", "draft_count"}),
    ]:
        rows = [r for r in events if r["event_type"] == event_type]
        assert rows and all(keys <= r["metadata"].keys() for r in rows), event_type
    scores = [r["metadata"]["confidence_score"] for r in events if "confidence_score" in r["metadata"]]
    assert all(0 <= s <= 1 for s in scores)


def test_same_seed_same_data_other_seed_other_data():
    small = dict(end=END, days=1, artifacts_per_day=200)
    a, b, c = generate(seed=3, **small), generate(seed=3, **small), generate(seed=4, **small)
    assert a.lines == b.lines and a.delivered_us.tolist() == b.delivered_us.tolist()
    assert a.lines != c.lines


def test_days_must_be_positive():
    with pytest.raises(ValueError, match="days must be at least 1"):
        generate(END, days=0)
