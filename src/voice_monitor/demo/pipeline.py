"""The artifact walk of the demo data: every voice note through the stages in order, vectorised.

All artifacts move together, one stage at a time: each draw (duration, outcome, retry, rate
limit) is one numpy call over every artifact, and each event type is added as one group of rows.
Times are integer microseconds since the epoch (UTC).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SECOND = 1_000_000  # times are integer microseconds since the epoch, always UTC
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR

# stage, started type, success type, failure type, AI model, median seconds, $ per run
STAGE_FLOW = (
    ("transcription", "transcription_started", "transcription_completed", "transcription_failed",
     "whisper-large-v3", None, None),
    ("claims_extraction", "claims_extraction_started", "claims_extracted", "claims_extraction_failed",
     "gpt-4o-mini", 4.0, 0.0015),
    ("entity_resolution", "entity_resolution_started", "entity_resolution_completed",
     "entity_resolution_failed", "gpt-4o-mini", 1.5, 0.0004),
    ("draft_generation", "draft_generation_started", "drafts_generated", "draft_generation_failed",
     "claude-sonnet-4", 9.0, 0.02),
)
ERRORS = {
    "transcription": ("audio_decode_error", "could not decode audio: unsupported codec"),
    "claims_extraction": ("llm_timeout", "LLM call timed out after 30s"),
    "entity_resolution": ("crm_lookup_failed", "CRM lookup failed: 401 for Authorization: Bearer "
                          "eyJhbGciOiJIUzI1NiJ9.demo.token"),
    "draft_generation": ("content_filter", "draft blocked by the content filter"),
}
P_FAIL = 0.035  # artifacts that fail for good at some stage (the outage adds more)
P_TRANSIENT = 0.02  # stage attempts that fail once and succeed on retry
P_RATE_LIMIT = 0.015
P_DISAMBIGUATION = 0.18


@dataclass
class _Group:
    event_type: str
    ts: np.ndarray
    art: np.ndarray
    org: np.ndarray
    fields: dict
    meta: dict


class Events:
    """Event groups, each one event type over many rows (columns as arrays or scalars)."""

    def __init__(self, org_of: np.ndarray):
        self.org_of = org_of
        self.groups: list[_Group] = []

    def add(self, event_type, ts, art, fields=None, meta=None, org=None, mask=None):
        ts, art = np.asarray(ts, np.int64), np.asarray(art, np.int64)
        fields, meta = dict(fields or {}), dict(meta or {})
        if mask is not None:
            ts, art = ts[mask], art[mask]
            for cols in (fields, meta):
                for key, value in cols.items():
                    if isinstance(value, np.ndarray):
                        cols[key] = value[mask]
            org = None if org is None else np.asarray(org)[mask]
        if not len(ts):
            return
        org = np.where(art >= 0, self.org_of[np.maximum(art, 0)], -1) if org is None else org
        self.groups.append(_Group(event_type, ts // 1000 * 1000, art, np.asarray(org), fields, meta))


@dataclass(frozen=True)
class Incidents:
    """Incident windows as (start, end) microseconds, or None when the range has no room."""

    outage: tuple[int, int] | None
    slow_drafts: tuple[int, int] | None
    upload_gap: tuple[int, int] | None


def lognormal_us(rng, median_s: float, sigma: float, n: int) -> np.ndarray:
    """n log-normal durations in microseconds with the given median (seconds)."""
    return (rng.lognormal(np.log(median_s), sigma, n) * SECOND).astype(np.int64)


def iso(us: np.ndarray, offset_hours: int = 0) -> np.ndarray:
    """ISO-8601 texts (millisecond precision) of epoch microseconds, in UTC or at an offset."""
    moment = (us // 1000 + offset_hours * 3_600_000).astype("datetime64[ms]")
    suffix = "Z" if offset_hours == 0 else f"{offset_hours:+03d}:00"
    return np.char.add(np.datetime_as_string(moment, unit="ms"), suffix)


def _opt(present: np.ndarray, values) -> np.ndarray:
    """Values where `present`, None (field absent) elsewhere, as Python objects for JSON."""
    values = values.tolist() if isinstance(values, np.ndarray) else [values] * len(present)
    return np.array([v if p else None for v, p in zip(values, present.tolist(), strict=True)], object)


def simulate(rng, ev: Events, received: np.ndarray, inc: Incidents) -> None:
    """Walk every artifact through the stages in order; all artifacts at once, one stage at a time."""
    n = len(received)
    idx = np.arange(n)
    coach = np.array([f"coach-{o + 1:02d}-{c}" if o >= 0 else f"coach-solo-{c}"
                      for o, c in zip(ev.org_of.tolist(), rng.integers(1, 6, n).tolist(), strict=True)],
                     object)
    audio_s = np.clip(rng.lognormal(np.log(90), 0.6, n), 5, 1800)
    channel = rng.choice(np.array(["mobile_app", "web", "email", "api"], object), n, p=[.55, .25, .1, .1])
    ev.add("artifact_received", received, idx, fields={"coach_user_id": coach},
           meta={"source_channel": channel, "audio_bytes": (audio_s * 16_000).astype(np.int64)})

    def status(at, prev, new, mask):
        ev.add("artifact_status_changed", at, idx, fields={"previous_status": prev, "new_status": new},
               mask=mask)

    fail_stage = np.where(rng.random(n) < P_FAIL, rng.choice(4, n, p=[.35, .2, .2, .25]), -1)
    give_up_after = rng.choice(3, n, p=[.4, .4, .2])  # retries before failing for good
    disamb = rng.random(n) < P_DISAMBIGUATION
    drafts = 1 + rng.poisson(1.2, n)
    t = received + lognormal_us(rng, 1.5, 0.8, n)
    alive = np.ones(n, bool)
    status(t - 1000, "received", "processing", alive)
    for s, (stage, started, ok, failed, model, median_s, usd) in enumerate(STAGE_FLOW):
        if usd is None:  # transcription: time and price follow the audio length
            dur = (audio_s * 0.25 * rng.lognormal(0, 0.3, n) * SECOND).astype(np.int64) + 2 * SECOND
            cost = np.round(audio_s / 60 * 0.006, 6)
        else:
            dur = lognormal_us(rng, median_s, 0.5, n)
            cost = np.round(usd * rng.lognormal(0, 0.4, n), 6)
        code = np.full(n, ERRORS[stage][0], object)
        message = np.full(n, ERRORS[stage][1], object)
        if stage == "transcription" and inc.outage:
            lo, hi = inc.outage
            hit = alive & (t >= lo) & (t < hi)
            lost = hit & (rng.random(n) < 0.4)
            fail_stage[lost], give_up_after[lost] = 0, 1
            code[lost], message[lost] = "provider_unavailable", "transcribe-api: 503 Service Unavailable"
            held = hit & ~lost & (t >= lo + 2 * MINUTE)  # the breaker is open: work waits for it
            t[held] = hi + rng.integers(0, 10 * MINUTE, held.sum())
        if stage == "draft_generation" and inc.slow_drafts:
            dur[(t >= inc.slow_drafts[0]) & (t < inc.slow_drafts[1])] *= 100  # minutes, not seconds
        limited = alive & (rng.random(n) < P_RATE_LIMIT)
        ev.add("rate_limit_hit", t, idx, meta={"ai_model": model, "retry_after_s": 2}, mask=limited)
        t[limited] += 2 * SECOND
        doomed = alive & (fail_stage == s)
        transient = alive & ~doomed & (rng.random(n) < P_TRANSIENT)
        attempts = np.where(doomed, 1 + give_up_after, np.where(transient, 2, 1))
        timing = rng.choice(3, n, p=[0.45, 0.15, 0.40])  # duration_ms | started/completed | neither
        for a in range(int(attempts.max(initial=1))):
            trying = alive & (attempts > a)
            if a:
                ev.add("retry_initiated", t, idx, fields={"pipeline_stage": stage},
                       meta={"retry_attempt": a}, mask=trying)
                t[trying] += 2**a * SECOND + rng.integers(0, SECOND, n)[trying]
            began = t.copy()
            ev.add(started, began, idx, fields={"pipeline_stage": stage}, meta={"ai_model": model},
                   mask=trying)
            win = trying & (attempts == a + 1) & ~doomed
            lose = trying & ~win
            took = (dur * rng.uniform(0.85, 1.15, n)).astype(np.int64)
            took[lose] = (took[lose] * rng.uniform(0.2, 0.6, lose.sum())).astype(np.int64)
            t[trying] = began[trying] + took[trying]
            took_ms = took // 1000
            fields = {"pipeline_stage": stage, "duration_ms": _opt(timing == 0, took_ms),
                      "stage_started_at": _opt(timing == 1, iso(began)),
                      "stage_completed_at": _opt(timing == 1, iso(t))}
            meta = _success_meta(rng, stage, n, audio_s, disamb, drafts) | {
                "ai_cost_usd": cost, "ai_model": model, "retry_attempt": _opt(np.full(n, a > 0), a)}
            if stage == "entity_resolution":
                ev.add("entity_needs_disambiguation", t, idx, fields, meta, mask=win & disamb)
                ev.add(ok, t, idx, fields, meta, mask=win & ~disamb)
            else:
                ev.add(ok, t, idx, fields, meta, mask=win)
            fail_code = np.where(doomed, code, "timeout")
            fail_msg = np.where(doomed, message, f"{stage} attempt timed out")
            ev.add(failed, t, idx, {"pipeline_stage": stage, "error_code": fail_code,
                                    "error_message": fail_msg,
                                    "duration_ms": _opt(timing == 0, took_ms)},
                   {"ai_cost_usd": np.round(cost * 0.3, 6), "ai_model": model, "retry_attempt": a},
                   mask=lose)
            if a:
                kind = {"pipeline_stage": stage}
                ev.add("retry_succeeded", t + 5000, idx, kind, {"retry_attempt": a}, mask=win)
                ev.add("retry_failed", t + 5000, idx, kind, {"retry_attempt": a}, mask=lose)
        if stage == "entity_resolution":  # a person picks the right entity, then resolution reruns
            waiting = alive & ~doomed & disamb
            status(t + 1000, "processing", "awaiting_disambiguation", waiting)
            t[waiting] += lognormal_us(rng, 240, 0.7, n)[waiting]
            status(t, "awaiting_disambiguation", "processing", waiting)
            ev.add(started, t + 1000, idx, {"pipeline_stage": stage}, mask=waiting)
            t[waiting] += 1000 + lognormal_us(rng, 0.8, 0.3, n)[waiting]
            ev.add(ok, t, idx, {"pipeline_stage": stage}, {"entity_count": 1 + rng.poisson(0.5, n),
                   "auto_resolved_count": 0, "disambiguation_count": 0, "resolved_by": "person"},
                   mask=waiting)
        ev.add("artifact_failed", t + 50_000, idx, {"error_code": code, "error_message": message},
               mask=doomed)
        status(t + 51_000, "processing", "failed", doomed)
        alive &= ~doomed
        t += lognormal_us(rng, 1.5, 0.8, n)
    status(t, "processing", "awaiting_confirmation", alive)
    t += lognormal_us(rng, 90, 0.6, n)  # a coach reads the drafts
    confirmed = rng.random(n) < 0.85
    people = {"coach_user_id": coach, "pipeline_stage": "confirmation"}
    ev.add("draft_confirmed", t, idx, people, {"draft_count": drafts}, mask=alive & confirmed)
    ev.add("draft_rejected", t, idx, people, {"draft_count": drafts, "rejection_reason": "off-tone"},
           mask=alive & ~confirmed)
    t += 200_000
    e2e_ms = (t - received) // 1000
    ev.add("artifact_completed", t, idx, {"duration_ms": _opt(rng.random(n) < 0.5, e2e_ms)},
           {"draft_count": drafts}, mask=alive)
    status(t + 1000, "awaiting_confirmation", "completed", alive)


def _success_meta(rng, stage: str, n: int, audio_s, disamb, drafts) -> dict:
    if stage == "transcription":
        return {"transcript_word_count": (audio_s * 2.4 * rng.uniform(0.8, 1.2, n)).astype(np.int64),
                "transcript_duration_s": np.round(audio_s, 1),
                "confidence_score": np.round(rng.beta(18, 2, n), 4)}
    if stage == "claims_extraction":
        return {"claim_count": 1 + rng.poisson(3, n), "confidence_score": np.round(rng.beta(12, 3, n), 4)}
    if stage == "entity_resolution":
        entities = 1 + rng.poisson(2.5, n)
        unsure = np.where(disamb, np.minimum(entities, 1 + rng.poisson(0.5, n)), 0)
        return {"entity_count": entities, "auto_resolved_count": entities - unsure,
                "disambiguation_count": unsure}
    return {"draft_count": drafts, "confidence_score": np.round(rng.beta(9, 2, n), 4)}
