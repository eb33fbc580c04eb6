"""A fixed, varied set of events for comparing two lakes: two organizations and none, every
stage, failures, retries, duplicates, late arrivals and one bad record, over ~31 hours
(by default)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

NOW = datetime(2026, 2, 16, 14, 30, tzinfo=UTC)
STAGES = [("transcription_started", "transcription_completed", "transcription_failed"),
          ("claims_extraction_started", "claims_extracted", "claims_extraction_failed"),
          ("entity_resolution_started", "entity_resolution_completed",
           "entity_resolution_failed"),
          ("draft_generation_started", "drafts_generated", "draft_generation_failed")]


def _ts(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def artifact_events(rng: random.Random, n: int, start: datetime, hours: int) -> list[dict]:
    events: list[dict] = []
    for a in range(n):
        at = start + timedelta(seconds=rng.randrange(hours * 3600))
        org = rng.choice(["org-a", "org-b", None])
        base = {"artifact_id": f"art-{a}", **({"organization_id": org} if org else {})}

        def emit(kind: str, moment: datetime, base: dict = base, **extra) -> None:
            events.append({"event_id": f"e-{len(events)}", "event_type": kind,
                           "timestamp": _ts(moment), **base, **extra})

        emit("artifact_received", at, metadata={"source_channel": "app"})
        failed = False
        for started, done, fail in STAGES:
            at += timedelta(seconds=rng.randrange(5, 90))
            emit(started, at)
            at += timedelta(seconds=rng.randrange(5, 300))
            if rng.random() < 0.08:
                emit(fail, at, error_code="E_X", error_message="boom token=abc")
                emit("retry_initiated", at + timedelta(seconds=1))
                failed = True
                break
            meta = {"confidence_score": round(rng.random(), 3), "claim_count": rng.randrange(9),
                    "entity_count": 4, "auto_resolved_count": rng.randrange(5),
                    "disambiguation_count": 1, "draft_count": rng.randrange(1, 4),
                    "aiCost": round(rng.random() / 10, 4)}
            emit(done, at, duration_ms=rng.randrange(100, 50_000) if rng.random() < .5 else None,
                 metadata=meta)
        emit("artifact_failed" if failed else "artifact_completed", at + timedelta(seconds=2))
        if not failed and rng.random() < 0.5:
            emit("draft_confirmed", at + timedelta(seconds=30))
    return events


def write_batches(folder: Path, artifacts: int = 90, start: datetime = NOW - timedelta(hours=31),
                  hours: int = 30) -> list[Path]:
    """Three JSON Lines files to ingest in order: the bulk, a re-send with duplicates and late
    events for earlier hours, and one with a bad record."""
    rng = random.Random(11)
    events = artifact_events(rng, artifacts, start, hours)
    rng.shuffle(events)
    late = events[-25:]
    bulk = events[:-25]
    dupes = rng.sample(bulk, 20)
    files = []
    for name, batch in (("bulk", bulk), ("late", late + dupes),
                        ("bad", [{"event_id": "bad-1", "event_type": "nope",
                                  "timestamp": _ts(NOW)}])):
        path = folder / f"{name}.jsonl"
        path.write_text("".join(json.dumps(e) + "\n" for e in batch) + "not json\n" * (name == "bad"))
        files.append(path)
    return files
