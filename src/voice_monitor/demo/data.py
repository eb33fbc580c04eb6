"""Synthetic demo events: several UTC days of a realistic voice-note pipeline, deterministic per seed.

Artifacts arrive on a diurnal curve from ~20 organizations of Zipf-skewed size and flow through
the stages in order. Every per-artifact draw (organization, durations, outcomes, retries) is one
numpy call over all artifacts; only the final step turns rows into JSON texts. Deliveries are
imperfect on purpose so that every landing rule shows up: camelCase producers, timestamp-only
stage events (latency must be paired from `*_started`), late and duplicate deliveries, and a few
invalid records. Three incidents give the health checks something to find: a transcription
provider outage (circuit breaker, failures, a queue), a slow draft model (latency) and a gap in
uploads (inactivity).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import orjson

from voice_monitor.demo.pipeline import (
    DAY,
    HOUR,
    MINUTE,
    SECOND,
    Events,
    Incidents,
    iso,
    simulate,
)
from voice_monitor.schema import FIELDS, METADATA_FIELDS, UNIX_EPOCH

ORG_NAMES = (
    "Northwind Coaching", "Summit Sales Academy", "Blue Harbor Health", "Cedar & Pine Realty",
    "Lumen Learning", "Atlas Field Services", "Brightpath Mentors", "Keystone Insurance",
    "Meridian Dental", "Orchard Tech", "Pioneer Logistics", "Quarry Legal", "Riverbend Clinics",
    "Sable Finance", "Tidewater Retail", "Union Street Fitness", "Vantage Consulting",
    "Willow Care Homes", "Yellowstone Outfitters", "Zephyr Energy",
)
P_LEGACY = 0.15  # producers that still send camelCase
P_DUPLICATE, P_INVALID = 0.004, 0.0008
# Late deliveries come in episodes: one producer host's buffer for a few minutes is stuck and
# flushed hours later in one go (one episode every ~12 hours, a third of that window's events).
LATE_EVERY, LATE_WINDOW, LATE_SHARE = 12 * HOUR, 10 * MINUTE, 0.3


@dataclass
class DemoData:
    """The generated input: JSON texts in delivery order, and when each is delivered."""

    start: datetime
    end: datetime
    lines: list[str]
    delivered_us: np.ndarray  # sorted, one per line
    organizations: list[tuple[str, str | None]]  # (organization_id, name or None)
    incidents: dict[str, tuple[datetime, datetime]]
    artifacts: int
    counts: dict[str, int] = field(default_factory=dict)

    def batch(self, after: datetime, until: datetime) -> list[str]:
        """The lines delivered in (after, until]."""
        lo, hi = np.searchsorted(self.delivered_us, [to_us(after), to_us(until)], side="right")
        return self.lines[lo:hi]


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch of an aware datetime."""
    delta = moment.astimezone(UTC) - UNIX_EPOCH
    return (delta.days * 86_400 + delta.seconds) * SECOND + delta.microseconds


def from_us(us: int) -> datetime:
    return UNIX_EPOCH + timedelta(microseconds=int(us))


def _latest_window(start: int, end: int, at: timedelta, length: timedelta,
                   before: timedelta, after: timedelta) -> tuple[int, int] | None:
    # the latest daily window starting at `at` with room before it (baselines) and after (resolves)
    day = end // DAY * DAY
    while day >= start - DAY:
        lo = day + int(at.total_seconds()) * SECOND
        hi = lo + int(length.total_seconds()) * SECOND
        if lo - start >= before.total_seconds() * SECOND and end - hi >= after.total_seconds() * SECOND:
            return lo, hi
        day -= DAY
    return None


def _arrivals(rng, start: int, end: int, per_day: int, gap) -> np.ndarray:
    hours = np.arange(start // HOUR * HOUR, end, HOUR)
    hod = (hours // HOUR) % 24
    weekday = ((hours // DAY) + 3) % 7  # 1970-01-01 was a Thursday; 5, 6 = Sat, Sun
    # business-hours peak around 15:00 UTC, a quiet night, half volume at weekends
    weight = (0.12 + np.exp(-(((hod - 15) / 4.5) ** 2))) * np.where(weekday >= 5, 0.5, 1.0)
    expected = weight / weight.mean() * per_day / 24
    counts = rng.poisson(expected)
    times = np.repeat(hours, counts) + rng.integers(0, HOUR, counts.sum())
    times = times[(times >= start) & (times < end)]
    if gap is not None:  # uploads queued upstream during the gap arrive in a burst after it
        held = (times >= gap[0]) & (times < gap[1])
        times[held] = gap[1] + rng.integers(0, 5 * MINUTE, held.sum())
    return np.sort(times)


def generate(end: datetime, days: int = 3, seed: int = 7, artifacts_per_day: int = 1000) -> DemoData:
    """Generate `days` UTC days of demo input ending at `end`; the same arguments give the same data."""
    if days < 1:
        raise ValueError(f"days must be at least 1 (got {days})")
    rng = np.random.default_rng(seed)
    end_us = to_us(end) // 1000 * 1000
    start_us = end_us - days * DAY
    inc = Incidents(
        outage=_latest_window(start_us, end_us, timedelta(hours=15, minutes=10),
                              timedelta(minutes=70), timedelta(hours=2), timedelta(hours=1)),
        slow_drafts=_latest_window(start_us, end_us, timedelta(hours=20), timedelta(hours=1),
                                   timedelta(hours=8), timedelta(hours=2, minutes=30)),
        upload_gap=_latest_window(start_us, end_us, timedelta(hours=2, minutes=20),
                                  timedelta(minutes=85), timedelta(hours=1), timedelta(hours=1)),
    )
    received = _arrivals(rng, start_us, end_us, artifacts_per_day, inc.upload_gap)
    n = len(received)
    zipf = 1.0 / np.arange(1, len(ORG_NAMES) + 1) ** 1.1
    org_of = rng.choice(len(ORG_NAMES), n, p=zipf / zipf.sum())
    org_of[rng.random(n) < 0.03] = -1  # personal accounts: no organization
    ev = Events(org_of)
    simulate(rng, ev, received, inc)
    _breakers(rng, ev, start_us, end_us, inc)
    _budgets(ev, days)
    records, ts = _records(rng, ev, seed)
    lines, delivered, counts = _deliver(rng, records, ts, start_us, end_us)
    incidents = {name: (from_us(w[0]), from_us(w[1]))
                 for name, w in vars(inc).items() if w is not None}
    organizations = [(f"org-{i + 1:02d}", None if i == 13 else name)  # one nameless: "Unknown"
                     for i, name in enumerate(ORG_NAMES)]
    return DemoData(from_us(start_us), from_us(end_us), lines, delivered, organizations,
                    incidents, n, counts)


def _breakers(rng, ev: Events, start: int, end: int, inc: Incidents) -> None:
    none = np.array([-1])
    if inc.outage:
        opened, closed = inc.outage[0] + 2 * MINUTE, inc.outage[1]
        meta = {"provider": "transcribe-api", "consecutive_failures": 5}
        ev.add("circuit_breaker_opened", [opened], none, meta=meta)
        ev.add("circuit_breaker_closed", [closed], none, meta={"provider": "transcribe-api"})
    # a short flap of the draft model's breaker once a day, as real providers do
    days = np.arange(start // DAY * DAY, end, DAY)
    opened = days + rng.integers(0, DAY, len(days))
    closed = opened + rng.integers(40 * SECOND, 3 * MINUTE, len(days))
    keep = (opened >= start) & (closed < end)
    arts = np.full(keep.sum(), -1)
    ev.add("circuit_breaker_opened", opened[keep], arts, meta={"provider": "drafts-api"})
    ev.add("circuit_breaker_closed", closed[keep], arts, meta={"provider": "drafts-api"})


def _budgets(ev: Events, days: int) -> None:
    costs = [(g.ts, g.org, np.broadcast_to(g.meta["ai_cost_usd"], g.ts.shape))
             for g in ev.groups if "ai_cost_usd" in g.meta]
    ts = np.concatenate([c[0] for c in costs])
    org = np.concatenate([c[1] for c in costs])
    usd = np.concatenate([c[2] for c in costs]).astype(float)
    keep = org >= 0
    ts, org, usd = ts[keep], org[keep], usd[keep]
    order = np.lexsort((ts, ts // DAY, org))
    ts, org, usd, day = ts[order], org[order], usd[order], ts[order] // DAY
    for o in (0, 2):  # the busiest organization overspends; the third only gets close
        mine = org == o
        if not mine.any():
            continue
        per_day = {d: usd[mine & (day == d)] for d in np.unique(day[mine])}
        budget = round(float(max(v.sum() for v in per_day.values())) * (0.9 if o == 0 else 1.1), 2)
        for d, spend in per_day.items():
            when = ts[mine & (day == d)]
            total = np.cumsum(spend)
            for kind, level in (("budget_threshold_reached", 0.8), ("budget_exceeded", 1.0)):
                crossed = np.nonzero(total >= level * budget)[0]
                if len(crossed):
                    i = crossed[0]
                    ev.add(kind, [when[i] + 1000], [-1], org=[o], meta={
                        "budget_usd": budget, "spent_usd": round(float(total[i]), 4),
                        "threshold": level, "period": "day"})


_CAMEL = {f.name: f.camel for f in FIELDS} | {f.name: (f.aliases or (f.camel,))[-1] for f in METADATA_FIELDS}


def _records(rng, ev: Events, seed: int) -> tuple[list[dict], np.ndarray]:
    """Every event as a record (snake_case or camelCase), sorted by event time."""
    ts = np.concatenate([g.ts for g in ev.groups])
    order = np.argsort(ts, kind="stable")
    n = len(ts)
    # timestamps: mostly ISO with Z, some epoch milliseconds, a few with a +02:00 offset
    style = rng.choice(3, n, p=[0.85, 0.1, 0.05])
    stamp = np.where(style == 2, iso(ts, 2), iso(ts)).astype(object)
    epoch = style == 1
    stamp[epoch] = (ts[epoch] // 1000).tolist()
    legacy_art = rng.random(len(ev.org_of)) < P_LEGACY
    prefix = f"{seed & 0xFFFFFFFF:08x}"
    records: list[dict] = []
    for g in ev.groups:
        size = len(g.ts)
        cols = {k: (v.tolist() if isinstance(v, np.ndarray) else [v] * size) for k, v in g.fields.items()}
        metas = {k: (v.tolist() if isinstance(v, np.ndarray) else [v] * size) for k, v in g.meta.items()}
        arts, orgs = g.art.tolist(), g.org.tolist()
        for j in range(size):
            rec = {"event_type": g.event_type}
            art = arts[j]
            if art >= 0:
                rec["artifact_id"] = f"art-{prefix}-{art:06d}"
                rec["voice_note_id"] = f"vn-{prefix}-{art:06d}"
            if orgs[j] >= 0:
                rec["organization_id"] = f"org-{orgs[j] + 1:02d}"
            for key, col in cols.items():
                if col[j] is not None and col[j] == col[j]:  # None and NaN mean absent
                    rec[key] = col[j]
            meta = {k: col[j] for k, col in metas.items() if col[j] is not None and col[j] == col[j]}
            if meta:
                rec["metadata"] = meta
            rec["_legacy"] = bool(legacy_art[art]) if art >= 0 else None
            records.append(rec)
    out = []
    for k, i in enumerate(order.tolist()):
        rec = records[i]
        legacy = rec.pop("_legacy")
        rec = {"event_id": f"evt-{prefix}-{k:07d}", "timestamp": stamp[i], **rec}
        if legacy or (legacy is None and rng.random() < P_LEGACY):
            rec = _camel(rec)
        out.append(rec)
    return out, ts[order]


def _camel(rec: dict) -> dict:
    out = {_CAMEL.get(k, k): v for k, v in rec.items() if k != "metadata"}
    if "metadata" in rec:
        out["metadata"] = {_CAMEL.get(k, k): v for k, v in rec["metadata"].items()}
    return out


def _deliver(rng, records: list[dict], ts: np.ndarray, start: int, end: int):
    """JSON texts in delivery order: normal lag, a few late, duplicated and invalid records."""
    n = len(records)
    lag = (rng.exponential(1.5, n) * SECOND).astype(np.int64)
    late = np.zeros(n, bool)
    for _ in range(max(1, round((end - start) / LATE_EVERY))):
        lo = int(rng.integers(start, end - LATE_WINDOW))
        stuck = (ts >= lo) & (ts < lo + LATE_WINDOW) & (rng.random(n) < LATE_SHARE)
        flushed = lo + LATE_WINDOW + int(rng.integers(90 * MINUTE, 6 * HOUR))
        lag[stuck] = flushed + rng.integers(0, SECOND, stuck.sum()) - ts[stuck]
        late |= stuck
    delivered = ts + lag
    texts = [orjson.dumps(r).decode() for r in records]
    dup = np.nonzero(rng.random(n) < P_DUPLICATE)[0]
    dup_at = delivered[dup] + rng.integers(SECOND // 2, 2 * MINUTE, len(dup))  # a producer retry
    bad_texts, bad_at = _invalid(rng, records, ts, start, end, max(3, round(n * P_INVALID)))
    all_texts = texts + [texts[i] for i in dup.tolist()] + bad_texts
    all_at = np.concatenate([delivered, dup_at, bad_at])
    keep = np.nonzero(all_at <= end)[0]  # what arrives after `end` is still on its way
    order = keep[np.argsort(all_at[keep], kind="stable")]
    counts = {"events": n, "late": int((late & (delivered <= end)).sum()),
              "duplicates": int((dup_at <= end).sum()), "invalid": int((bad_at <= end).sum()),
              "in_flight": int((all_at > end).sum())}
    return [all_texts[i] for i in order.tolist()], all_at[order], counts


def _invalid(rng, records, ts, start, end, per_kind: int):
    """Records a careless producer sends: each breaks exactly one landing rule."""
    texts, at = [], []
    for kind in ("no_event_id", "naive_timestamp", "unknown_type", "negative_duration", "not_json"):
        for i in rng.integers(0, len(records), per_kind).tolist():
            moment = str(np.datetime64(int(ts[i]), "us").astype("datetime64[ms]"))
            rec = {"event_id": f"bad-{kind}-{len(texts)}", "event_type": "transcription_completed",
                   "timestamp": moment + "Z", "artifact_id": records[i].get("artifact_id")}
            if kind == "no_event_id":
                del rec["event_id"]
            elif kind == "naive_timestamp":
                rec["timestamp"] = moment
            elif kind == "unknown_type":
                rec["event_type"] = "transcription_retried"
            elif kind == "negative_duration":
                rec["duration_ms"] = -int(rng.integers(1, 5000))
            text = orjson.dumps(rec).decode()
            texts.append(text[: len(text) // 2] if kind == "not_json" else text)
            at.append(min(int(ts[i]) + int(rng.integers(SECOND, 10 * MINUTE)), end))
    return texts, np.array(at, np.int64)
