"""Invariants of the rollups: daily rows = the definitions over raw events (checked by an
independent plain-Python model), idempotent reruns, late data, refusal after retention."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from conftest import NOW, event, ts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voice_monitor import sketch
from voice_monitor.lake import Lake, connect, dropped_periods, record_dropped
from voice_monitor.landing import land_records
from voice_monitor.rollups import RefusedError, run_daily, run_hourly

D = datetime(2026, 2, 15, tzinfo=UTC)
STAGES = ("transcription", "claims_extraction", "entity_resolution", "draft_generation")
SUCCESS = {"transcription_completed": "transcription", "claims_extracted": "claims_extraction",
           "entity_resolution_completed": "entity_resolution",
           "entity_needs_disambiguation": "entity_resolution",
           "drafts_generated": "draft_generation"}
STARTED = {f"{s}_started": s for s in STAGES}
FAILED = {"transcription_failed": "transcription", "claims_extraction_failed": "claims_extraction",
          "entity_resolution_failed": "entity_resolution",
          "draft_generation_failed": "draft_generation"}
TYPES = sorted([*SUCCESS, *STARTED, *FAILED, "artifact_received", "artifact_completed",
                "artifact_failed", "draft_confirmed", "retry_initiated"])
# hours with events: the previous day's last two (look-back only) and three hours of D
HOURS = (D - timedelta(hours=2), D - timedelta(hours=1), D, D + timedelta(hours=1),
         D + timedelta(hours=23))


@st.composite
def event_specs(draw):
    n = draw(st.integers(1, 40))
    specs = []
    for i in range(n):
        hour = draw(st.sampled_from(HOURS))
        at = hour + timedelta(milliseconds=draw(st.sampled_from(
            [0, 3_599_999, draw(st.integers(0, 3_599_999))])))
        etype = draw(st.sampled_from(TYPES))
        fields = {"artifact_id": draw(st.sampled_from(["a1", "a2", "a3"])),
                  "event_id": f"e{i}"}
        org = draw(st.sampled_from([None, "o1", "o2"]))
        if org:
            fields["organization_id"] = org
        timing = draw(st.sampled_from(["none", "duration", "stage_times"]))
        if timing == "duration":
            fields["duration_ms"] = draw(st.sampled_from([0, 1, 250.5, 60_000, 7_200_000]))
        elif timing == "stage_times" and etype in SUCCESS:
            fields["stage_started_at"] = ts(at - timedelta(seconds=draw(st.integers(0, 900))))
            fields["stage_completed_at"] = ts(at)
        meta = {}
        for key in ("claim_count", "entity_count", "auto_resolved_count",
                    "disambiguation_count", "draft_count"):
            if draw(st.booleans()):
                meta[key] = draw(st.integers(0, 6))
        if draw(st.booleans()):
            meta["confidence_score"] = draw(st.sampled_from([0.0, 0.25, 0.9, 1.0]))
        if draw(st.booleans()):
            meta["ai_cost_usd"] = draw(st.sampled_from([0.0, 0.01, 0.5]))
        specs.append((etype, at, fields, meta))
    # copies landed later (same id, same hour, different fields): the first must win
    dup_ids = draw(st.lists(st.integers(0, n - 1), max_size=3, unique=True))
    copies = []
    for k in dup_ids:
        etype, at, fields, meta = specs[k]
        hour_start = at.replace(minute=0, second=0, microsecond=0)
        copies.append(("artifact_failed", hour_start + timedelta(minutes=59), dict(fields),
                       {"ai_cost_usd": 9.0}))
    return specs, copies


def to_records(specs):
    return [event(t, at, **fields, **({"metadata": meta} if meta else {}))
            for t, at, fields, meta in specs]


# -- the independent model -------------------------------------------------------------------
def model_latencies(events):
    """Latency per event index (contract §6), by brute force over all landed events."""
    out = {}
    day24 = timedelta(hours=24)
    for i, (etype, at, f, _) in enumerate(events):
        if etype in SUCCESS:
            if f.get("duration_ms") is not None:
                out[i] = float(f["duration_ms"])
            elif "stage_started_at" in f:
                start = datetime.fromisoformat(f["stage_started_at"].replace("Z", "+00:00"))
                out[i] = (at - start) / timedelta(milliseconds=1)
            else:
                starts = [a for t, a, g, _ in events if t == f"{SUCCESS[etype]}_started"
                          and g["artifact_id"] == f["artifact_id"] and a <= at]
                if starts and at - max(starts) <= day24:
                    out[i] = (at - max(starts)) / timedelta(milliseconds=1)
        elif etype == "artifact_completed":
            if f.get("duration_ms") is not None:
                out[i] = float(f["duration_ms"])
            else:
                got = [a for t, a, g, _ in events if t == "artifact_received"
                       and g["artifact_id"] == f["artifact_id"] and at - day24 <= a <= at]
                if got:
                    out[i] = (at - min(got)) / timedelta(milliseconds=1)
    return out


def safe(num, den):
    return num / den if den else 0.0


def model_day(specs):
    """Expected daily pipeline and stage figures per scope (None = platform)."""
    events = specs  # copies never win: the originals landed first
    lat = model_latencies(events)
    pipe = defaultdict(lambda: defaultdict(float))
    e2e = defaultdict(list)
    stage = defaultdict(lambda: defaultdict(float))
    stage_lat = defaultdict(list)
    for i, (etype, at, f, meta) in enumerate(events):
        if not D <= at < D + timedelta(days=1):
            continue
        for scope in {None, f.get("organization_id")}:
            p = pipe[scope]
            p["event_count"] += 1
            p[etype] += 1
            p["cost"] += meta.get("ai_cost_usd", 0.0)
            if etype == "transcription_completed" and "confidence_score" in meta:
                p["conf_sum"] += meta["confidence_score"]
                p["conf_n"] += 1
            if etype == "claims_extracted":
                p["claims"] += meta.get("claim_count", 0)
                p["claim_w"] += meta.get("confidence_score", 0) * meta.get("claim_count", 0) \
                    if "confidence_score" in meta and "claim_count" in meta else 0.0
            if etype in ("entity_resolution_completed", "entity_needs_disambiguation"):
                p["entities"] += meta.get("entity_count", 0)
                p["auto"] += meta.get("auto_resolved_count", 0)
                p["disamb"] += meta.get("disambiguation_count", 0)
            if etype == "drafts_generated":
                p["drafts"] += meta.get("draft_count", 0)
            if etype == "artifact_completed" and i in lat:
                e2e[scope].append(lat[i])
            for table, kind in ((STARTED, "started"), (SUCCESS, "succeeded"), (FAILED, "failed")):
                if etype in table:
                    stage[(scope, table[etype])][kind] += 1
            if etype in SUCCESS and i in lat:
                stage_lat[(scope, SUCCESS[etype])].append(lat[i])
    return pipe, e2e, stage, stage_lat


def assert_in_band(estimate, values, q):
    if not values:
        assert estimate == 0.0
        return
    xs = sorted(values)
    r = q * (len(xs) - 1)
    lo, hi = xs[math.floor(r)], xs[math.ceil(r)]
    assert 0.99 * lo * (1 - 1e-12) <= estimate <= 1.01 * hi * (1 + 1e-12), (estimate, q, xs)


def rows(lake, table, period):
    return pl.read_parquet(lake.snapshot_partition(table, period)).to_dicts()


@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=event_specs())
def test_daily_rows_equal_definitions_over_raw_events(tmp_path_factory, data):
    specs, copies = data
    lake = Lake(tmp_path_factory.mktemp("prop") / "lake")
    land_records(lake, to_records(specs), now=NOW)
    if copies:
        land_records(lake, to_records(copies), now=NOW)
    for hour in HOURS[2:]:
        run_hourly(lake, NOW, hour=hour)
    run_daily(lake, NOW, day=D)
    pipe, e2e, stage, stage_lat = model_day(specs)

    daily = {r["organization_id"]: r for r in rows(lake, "pipeline_daily", D)}
    assert set(daily) == set(pipe) | {None}
    for scope, row in daily.items():
        p = pipe[scope]
        assert row["event_count"] == p["event_count"]
        assert row["artifacts_received"] == p["artifact_received"]
        assert row["artifacts_completed"] == p["artifact_completed"]
        assert row["artifacts_failed"] == p["artifact_failed"]
        assert row["overall_failure_rate"] == pytest.approx(
            safe(p["artifact_failed"], p["artifact_completed"] + p["artifact_failed"]))
        assert row["e2e_latency_count"] == len(e2e[scope])
        assert row["e2e_latency_avg_ms"] == pytest.approx(
            float(np.mean(e2e[scope])) if e2e[scope] else 0.0)
        for q, col in ((0.5, "e2e_latency_p50_ms"), (0.95, "e2e_latency_p95_ms"),
                       (0.99, "e2e_latency_p99_ms")):
            assert_in_band(row[col], e2e[scope], q)
        assert row["avg_transcript_confidence"] == pytest.approx(safe(p["conf_sum"], p["conf_n"]))
        assert row["claims_extracted_total"] == p["claims"]
        assert row["avg_claim_confidence"] == pytest.approx(safe(p["claim_w"], p["claims"]))
        assert row["entities_resolved_total"] == p["entities"]
        assert row["auto_resolution_rate"] == pytest.approx(safe(p["auto"], p["entities"]))
        assert row["disambiguation_rate"] == pytest.approx(safe(p["disamb"], p["entities"]))
        assert row["drafts_generated_total"] == p["drafts"]
        assert row["drafts_confirmed"] == p["draft_confirmed"]
        assert row["retries_initiated"] == p["retry_initiated"]
        assert row["total_ai_cost_usd"] == pytest.approx(p["cost"])
        assert row["avg_cost_per_artifact_usd"] == pytest.approx(
            safe(p["cost"], p["artifact_received"]))

    stage_rows = rows(lake, "stage_daily", D)
    assert len(stage_rows) == 4 * len(daily)
    for row in stage_rows:
        key = (row["organization_id"], row["pipeline_stage"])
        s, lats = stage[key], stage_lat[key]
        assert (row["started"], row["succeeded"], row["failed"]) == (
            s["started"], s["succeeded"], s["failed"])
        assert row["failure_rate"] == pytest.approx(safe(s["failed"], s["succeeded"] + s["failed"]))
        assert row["latency_count"] == len(lats)
        assert row["latency_avg_ms"] == pytest.approx(float(np.mean(lats)) if lats else 0.0)
        for q, col in ((0.5, "latency_p50_ms"), (0.95, "latency_p95_ms"),
                       (0.99, "latency_p99_ms")):
            assert_in_band(row[col], lats, q)

    # rerunning gives identical rows (computed_at aside)
    def snapshot():
        return {t: [{k: v for k, v in r.items() if k != "computed_at"}
                    for r in rows(lake, t, D if "daily" in t else D + timedelta(hours=23))]
                for t in ("pipeline_hourly", "stage_hourly", "pipeline_daily", "stage_daily")}

    before = snapshot()
    run_hourly(lake, NOW, hour=D + timedelta(hours=23))
    run_daily(lake, NOW, day=D)
    assert snapshot() == before


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.one_of(
    st.just(0.0), st.floats(1e-3, 1e9), st.integers(0, 100_000).map(float)), min_size=1,
    max_size=400), parts=st.integers(1, 5), q=st.sampled_from([0.0, 0.01, 0.5, 0.95, 0.99, 1.0]))
def test_merged_sketch_quantile_within_band(values, parts, q):
    """The SQL sketch, split into `parts` hours and merged, estimates inside the contract band."""
    con = connect()
    sketch.install(con)
    chunks = [values[i::parts] for i in range(parts)]
    # per "hour": keys and counts, as the hourly rollup stores them; then merged like daily
    rows_ = con.execute("""
        with hours as (select unnest($chunks) as chunk, generate_subscripts($chunks, 1) as h),
        vals as (select h, unnest(chunk) as x from hours),
        hour_buckets as (select h, sketch_key(x) as key, count(*) as n from vals group by all),
        merged as (select key, sum(n) as n from hour_buckets group by key),
        cum as (select key, sum(n) over (order by key) as ends from merged),
        sk as (select list(key order by key) as keys, list(ends order by key) as ends from cum),
        stats as (select count(*) as n, min(x) as lo, max(x) as hi from vals)
        select sketch_quantile(keys, ends, n, lo, hi, $q) from sk, stats
    """, {"chunks": [c for c in chunks if c], "q": q}).fetchall()
    con.close()
    assert_in_band(rows_[0][0], values, q)


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.one_of(
    st.just(0.0), st.floats(1e-3, 1e9), st.integers(0, 100_000).map(float)), min_size=1,
    max_size=400), parts=st.integers(1, 5))
def test_daily_sketch_merge_within_band(values, parts):
    """The path the daily SQL takes (sketch_rank_keys, then sketch_quantile_of), in the band."""
    con = connect()
    sketch.install(con)
    chunks = [values[i::parts] for i in range(parts)]
    rows_ = con.execute("""
        with hours as (select unnest($chunks) as chunk, generate_subscripts($chunks, 1) as h),
        vals as (select h, unnest(chunk) as x from hours),
        buckets as (select 1 as scope_id, h, sketch_key(x) as key, count(*) as n
                    from vals group by all),
        sk as (select * from sketch_rank_keys(buckets)),
        stats as (select count(*) as n, min(x) as lo, max(x) as hi from vals)
        select sketch_quantile_of(n, lo, hi, 0.5, p50_floor_key, p50_ceil_key),
               sketch_quantile_of(n, lo, hi, 0.95, p95_floor_key, p95_ceil_key),
               sketch_quantile_of(n, lo, hi, 0.99, p99_floor_key, p99_ceil_key)
        from sk, stats
    """, {"chunks": [c for c in chunks if c]}).fetchall()
    con.close()
    for q, estimate in zip((0.5, 0.95, 0.99), rows_[0], strict=True):
        assert_in_band(estimate, values, q)


# -- bookkeeping: late data, look-back, refusal ------------------------------------------------
def platform(lake, table, period):
    return rows(lake, table, period)[0]


def test_late_events_are_reflected_by_the_next_run(lake):
    h11 = datetime(2026, 2, 16, 11, tzinfo=UTC)
    land_records(lake, [event("artifact_received", h11 + timedelta(minutes=5))], now=NOW)
    first = run_hourly(lake, NOW)          # no explicit hour: 13:00 plus 11:00 (never built)
    assert first.periods == [h11, h11 + timedelta(hours=1), h11 + timedelta(hours=2)]
    assert platform(lake, "pipeline_hourly", h11)["event_count"] == 1
    land_records(lake, [event("artifact_received", h11 + timedelta(minutes=50))], now=NOW)
    later = NOW + timedelta(hours=1)
    second = run_hourly(lake, later)       # 14:00 (previous hour) and 11:00 (changed) only
    assert second.periods == [h11, datetime(2026, 2, 16, 14, tzinfo=UTC)]
    assert platform(lake, "pipeline_hourly", h11)["event_count"] == 2
    assert run_hourly(lake, later).periods == [datetime(2026, 2, 16, 14, tzinfo=UTC)]


def test_daily_rebuilds_days_whose_hourly_rows_changed(lake):
    d14, d15 = datetime(2026, 2, 14, tzinfo=UTC), datetime(2026, 2, 15, tzinfo=UTC)
    now = datetime(2026, 2, 16, 1, 30, tzinfo=UTC)
    land_records(lake, [event("artifact_received", d14 + timedelta(hours=11))], now=NOW)
    run_hourly(lake, now)
    assert run_daily(lake, now).periods == [d14, d15]
    assert run_daily(lake, now).periods == [d15]        # nothing changed: the previous day only
    land_records(lake, [event("artifact_received", d14 + timedelta(hours=11, minutes=9))], now=NOW)
    assert run_hourly(lake, now).periods == [d14 + timedelta(hours=11), now.replace(minute=0)
                                             - timedelta(hours=1)]
    assert run_daily(lake, now).periods == [d14, d15]
    assert platform(lake, "pipeline_daily", d14)["artifacts_received"] == 2


def test_late_start_in_look_back_hour_rebuilds_the_paired_hour(lake):
    h13 = datetime(2026, 2, 16, 13, tzinfo=UTC)
    done = event("transcription_completed", h13 + timedelta(minutes=5), artifact_id="A")
    land_records(lake, [done], now=NOW)
    run_hourly(lake, NOW)
    assert rows(lake, "stage_hourly", h13)[0]["latency_count"] == 0   # no start yet
    late_start = event("transcription_started", h13 - timedelta(minutes=10), artifact_id="A")
    land_records(lake, [late_start], now=NOW)
    report = run_hourly(lake, NOW)        # hour 12 changed, and 13 read hour 12 for pairing
    assert h13 in report.periods
    row = rows(lake, "stage_hourly", h13)[0]
    assert (row["latency_count"], row["latency_avg_ms"]) == (1, 15 * 60_000.0)  # 12:50 -> 13:05


def test_dropped_source_is_refused_until_forced(lake):
    h10 = datetime(2026, 2, 16, 10, tzinfo=UTC)
    land_records(lake, [event("artifact_received", h10 + timedelta(minutes=1)),
                        event("artifact_received", h10 + timedelta(minutes=2))], now=NOW)
    run_hourly(lake, NOW)
    snapshot = lake.snapshot_partition("pipeline_hourly", h10) / "part-0.parquet"
    before = snapshot.read_bytes()
    # what retention does: remember the hour, then delete it; then old events land again
    record_dropped(lake, "event_hours", [h10])
    lake.drop_partition(lake.event_partition(h10))
    land_records(lake, [event("artifact_received", h10 + timedelta(minutes=3))], now=NOW)
    assert h10 in dropped_periods(lake, "event_hours")

    report = run_hourly(lake, NOW)
    assert h10 not in report.periods
    assert [p for p, _ in report.refused] == [h10]
    assert "dropped by retention" in report.refused[0][1]
    with pytest.raises(RefusedError, match=r"refusing to rebuild 2026-02-16T10:00.*force=True"):
        run_hourly(lake, NOW, hour=h10)
    assert snapshot.read_bytes() == before
    assert platform(lake, "pipeline_hourly", h10)["event_count"] == 2

    forced = run_hourly(lake, NOW, hour=h10, force=True)
    assert forced.periods == [h10]
    assert platform(lake, "pipeline_hourly", h10)["event_count"] == 1   # what is there now


def test_an_hour_retention_drops_while_its_rollup_reads_it_is_refused(lake, monkeypatch):
    # the rollup checked the hour was not dropped, then retention dropped it (recording the
    # drop, then deleting), then the rollup listed it: no files, so it replaced the hour's good
    # snapshot (2 events) with a quiet hour's zeros. Retention records before it deletes, so a
    # second look after the read sees it
    from voice_monitor import rollups

    h10 = datetime(2026, 2, 16, 10, tzinfo=UTC)
    land_records(lake, [event("artifact_received", h10 + timedelta(minutes=m)) for m in (1, 2)],
                 now=NOW)
    run_hourly(lake, NOW, hour=h10)
    real = rollups.build_hour

    def retention_meanwhile(lake, hour, *args):
        record_dropped(lake, "event_hours", [h10])
        lake.drop_partition(lake.event_partition(h10))
        return real(lake, hour, *args)

    monkeypatch.setattr(rollups, "build_hour", retention_meanwhile)
    with pytest.raises(RefusedError, match=r"refusing to rebuild 2026-02-16T10:00:00Z: its event "
                                           r"partition was dropped by retention"):
        run_hourly(lake, NOW, hour=h10)
    assert platform(lake, "pipeline_hourly", h10)["event_count"] == 2  # left as it was


def test_a_day_whose_hour_snapshot_retention_drops_while_it_is_read_is_refused(lake,
                                                                              monkeypatch):
    # the same race for a daily rollup and snapshot retention: the day was built from 23 hours
    from voice_monitor import rollups

    land_records(lake, [event("artifact_received", D + timedelta(hours=3))], now=NOW)
    run_hourly(lake, NOW, hour=D + timedelta(hours=3))
    run_daily(lake, NOW, day=D)
    real = rollups.build_day

    def retention_meanwhile(lake, day, *args):
        h3 = D + timedelta(hours=3)
        record_dropped(lake, "snapshot_hours", [h3])
        for table in ("pipeline_hourly", "stage_hourly"):
            lake.drop_partition(lake.snapshot_partition(table, h3))
        return real(lake, day, *args)

    monkeypatch.setattr(rollups, "build_day", retention_meanwhile)
    with pytest.raises(RefusedError, match="hourly snapshot hour 2026-02-15T03:00"):
        run_daily(lake, NOW, day=D)
    assert platform(lake, "pipeline_daily", D)["event_count"] == 1  # left as it was


def test_pairing_with_a_dropped_look_back_hour_is_refused(lake):
    h13 = datetime(2026, 2, 16, 13, tzinfo=UTC)
    land_records(lake, [event("transcription_completed", h13 + timedelta(minutes=5),
                              artifact_id="A")], now=NOW)
    record_dropped(lake, "event_hours", [h13 - timedelta(hours=20)])
    with pytest.raises(RefusedError, match="look-back hour 2026-02-15T17:00"):
        run_hourly(lake, NOW, hour=h13)
    assert run_hourly(lake, NOW, hour=h13, force=True).periods == [h13]


def test_daily_refuses_a_day_whose_hourly_snapshots_were_dropped(lake):
    land_records(lake, [event("artifact_received", D + timedelta(hours=3))], now=NOW)
    run_hourly(lake, NOW, hour=D + timedelta(hours=3))
    run_daily(lake, NOW, day=D)
    before = (lake.snapshot_partition("pipeline_daily", D) / "part-0.parquet").read_bytes()
    record_dropped(lake, "snapshot_hours", [D + timedelta(hours=3)])
    lake.drop_partition(lake.snapshot_partition("pipeline_hourly", D + timedelta(hours=3)))
    lake.drop_partition(lake.snapshot_partition("stage_hourly", D + timedelta(hours=3)))
    with pytest.raises(RefusedError, match="hourly snapshot hour 2026-02-15T03:00"):
        run_daily(lake, NOW, day=D)
    report = run_daily(lake, datetime(2026, 2, 16, 1, 30, tzinfo=UTC))
    assert [p for p, _ in report.refused] == [D] and report.periods == []
    assert (lake.snapshot_partition("pipeline_daily", D) / "part-0.parquet").read_bytes() == before
    run_daily(lake, NOW, day=D, force=True)
    assert platform(lake, "pipeline_daily", D)["event_count"] == 0


def test_retention_of_look_back_hours_alone_does_not_trigger_rebuilds(lake):
    h12, h13 = datetime(2026, 2, 16, 12, tzinfo=UTC), datetime(2026, 2, 16, 13, tzinfo=UTC)
    land_records(lake, [event("transcription_started", h12 - timedelta(hours=3), artifact_id="A"),
                        event("transcription_completed", h12 + timedelta(minutes=5),
                              artifact_id="A")], now=NOW)
    run_hourly(lake, NOW)
    # retention drops the start's hour (09:00), which hour 12 recorded as a look-back source
    record_dropped(lake, "event_hours", [h12 - timedelta(hours=3)])
    lake.drop_partition(lake.event_partition(h12 - timedelta(hours=3)))
    report = run_hourly(lake, NOW)
    assert report.periods == [h13] and report.refused == []   # only the previous hour
    assert rows(lake, "stage_hourly", h12)[0]["latency_avg_ms"] == 3 * 3_600_000 + 5 * 60_000
