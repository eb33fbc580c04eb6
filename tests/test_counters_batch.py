"""Batched counter updates (counters.py, redis_counters.py): a batch's new events are summed per
scope, minute and metric before the store; the totals still equal an independent count of the
distinct (event_id, hour) pairs in the window, on both stores, and a schema-1 SQLite store keeps
its state when opened by this version."""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest
from conftest import counted_table, use_counter_store

from voice_monitor.counters import (
    COUNTERS_ENV,
    METRIC_OF,
    METRICS,
    PLATFORM,
    open_counters,
    realtime_metrics,
)

AT = datetime(2026, 2, 16, 14, 30, 20, 500_000, tzinfo=UTC)
WINDOW_START = datetime(2026, 2, 16, 13, 31, tzinfo=UTC)
TYPES = sorted(METRIC_OF) + ["transcription_started", "draft_generation_started"]


@pytest.fixture(params=["sqlite", "redis"])
def store_env(request, monkeypatch):
    return use_counter_store(request.param, request, monkeypatch)


def expected(events: list[tuple], org: str | None) -> dict[str, int]:
    """Counted by hand: the first copy of each (id, hour), stamped inside the window."""
    first: dict[tuple, tuple] = {}
    for event_id, event_type, at, organization in events:
        first.setdefault((event_id, at.replace(minute=0, second=0, microsecond=0)),
                         (event_type, at, organization))
    totals = dict.fromkeys(METRICS, 0)
    for event_type, at, organization in first.values():
        if WINDOW_START <= at <= AT and (org is None or organization == org):
            for metric in METRIC_OF.get(event_type, ()):
                totals[metric] += 1
    return totals


def test_random_batches_equal_an_independent_count(lake, store_env):
    rng = random.Random(11)
    events = []
    store = open_counters(lake)
    try:
        for _ in range(12):
            # copies of an id share its type (a re-delivered event); their times and
            # organizations may differ: the first copy recorded is the one that counts
            ids = [rng.randrange(400) for _ in range(rng.randrange(1, 80))]
            batch = [(f"e{i}", TYPES[i % len(TYPES)],
                      # the window, a little before it, and just after `now` in its minute
                      AT - timedelta(seconds=rng.randrange(-30, 4000), microseconds=rng.randrange(10**6)),
                      rng.choice([None, "org-1", "org-2"])) for i in ids]
            events += batch
            store.record(pa.table({
                "event_id": [e[0] for e in batch], "event_type": [e[1] for e in batch],
                "timestamp": pa.array([e[2] for e in batch], pa.timestamp("us", tz="UTC")),
                "organization_id": [e[3] for e in batch],
            }), AT)
    finally:
        store.close()
    for org in (None, "org-1", "org-2"):
        got = realtime_metrics(lake, org, now=AT)
        assert {m: got[m] for m in METRICS} == expected(events, org), org


# the per-minute table of schemas 1 and 2 (3 keeps it as it is)
COUNTS = """
create table counts (scope text not null, minute integer not null, metric text not null,
    n integer not null, primary key (scope, minute, metric)) without rowid;
create index counts_minute on counts (minute);
"""
V1 = """
create table seen (event_id text not null, hour integer not null, ts_us integer not null,
    scope text not null, event_type text not null, primary key (event_id, hour)) without rowid;
create index seen_ts on seen (ts_us);
create table metric_of (event_type text not null, metric text not null);
pragma user_version = 1;
""" + COUNTS
V2 = """
create table seen (hour integer not null, event_id text not null, ts_us integer not null,
    scope text not null, metrics integer not null, primary key (hour, event_id)) without rowid;
create index seen_ts on seen (ts_us);
pragma user_version = 2;
""" + COUNTS


def old_store(lake, ddl: str) -> sqlite3.Connection:
    """The lake's counter store file, created with an earlier version's schema."""
    path = lake.state_dir / "counters.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.executescript(ddl)
    return db


def test_a_schema_1_store_keeps_its_state(lake, monkeypatch):
    monkeypatch.delenv(COUNTERS_ENV, raising=False)
    db = old_store(lake, V1)
    # one event counted by the old version, stamped 10 s after AT in AT's minute
    ts_us = int((AT + timedelta(seconds=10)).timestamp() * 1_000_000)
    db.execute("insert into seen values ('old', ?, ?, 'o:org-1', 'artifact_failed')",
               (ts_us // 3_600_000_000, ts_us))
    for scope in ("p", "o:org-1"):
        for metric in ("artifacts_failed", "failures"):
            db.execute("insert into counts values (?, ?, ?, 1)", (scope, ts_us // 60_000_000, metric))
    db.commit()
    db.close()
    store = open_counters(lake)
    try:
        # the old event is still known: recording it again counts nothing
        assert store.record(pa.table({
            "event_id": ["old"], "event_type": ["artifact_failed"],
            "timestamp": pa.array([ts_us], pa.timestamp("us", tz="UTC")),
            "organization_id": ["org-1"]}), AT) == 0
    finally:
        store.close()
    # at AT it is after `now` in the current minute: not in the window yet; 10 s later it is
    assert realtime_metrics(lake, "org-1", now=AT)["failures"] == 0
    assert realtime_metrics(lake, "org-1", now=AT + timedelta(seconds=10))["failures"] == 1
    assert realtime_metrics(lake, now=AT + timedelta(seconds=10))["artifacts_failed"] == 1


def test_a_schema_2_store_keeps_its_state(lake, monkeypatch):
    monkeypatch.delenv(COUNTERS_ENV, raising=False)
    db = old_store(lake, V2)
    # two events counted by the old version: one 10 s after AT (in AT's minute), one before
    rows = [("late", AT + timedelta(seconds=10), "o:org-1", 0b10000100),  # artifacts_failed + failures
            ("early", AT - timedelta(minutes=3), "", 0b1)]  # artifacts_received
    for event_id, at, scope, mask in rows:
        ts_us = int(at.timestamp() * 1_000_000)
        db.execute("insert into seen values (?, ?, ?, ?, ?)",
                   (ts_us // 3_600_000_000, event_id, ts_us, scope, mask))
        for s in {"p", scope} - {""}:
            for bit, metric in enumerate(METRICS):
                if mask >> bit & 1:
                    db.execute("insert into counts values (?, ?, ?, 1)", (s, ts_us // 60_000_000, metric))
    db.commit()
    db.close()
    store = open_counters(lake)
    try:
        # both are still known: recording them again counts nothing, a new id counts
        again = pa.concat_tables([counted_table(["late"], AT + timedelta(seconds=10), "artifact_failed", "org-1"),
                                  counted_table(["early", "new"], AT - timedelta(minutes=3))])
        assert store.record(again, AT) == 1
    finally:
        store.close()
    assert realtime_metrics(lake, "org-1", now=AT)["failures"] == 0  # after now, not yet
    assert realtime_metrics(lake, "org-1", now=AT + timedelta(seconds=10))["failures"] == 1
    assert realtime_metrics(lake, now=AT)["artifacts_received"] == 2
    db = sqlite3.connect(lake.state_dir / "counters.sqlite")
    assert sorted(r[0] for r in db.execute("select event_id from seen")) == ["early", "late", "new"]
    db.close()


V3 = """
create table seen_blocks (id integer primary key autoincrement, second integer not null,
    n integer not null, hashes blob not null, events text not null);
create index seen_blocks_second on seen_blocks (second);
pragma user_version = 3;
""" + COUNTS


def test_a_schema_3_store_keeps_its_state(lake, monkeypatch):
    """Schema 3 kept one counts row per (scope, minute, metric); 4 keeps one per (scope,
    minute): the counts and the counted events come through."""
    from voice_monitor.seen_index import stable_hashes

    monkeypatch.delenv(COUNTERS_ENV, raising=False)
    db = old_store(lake, V3)
    # "late": artifact_failed of org-1 10 s after AT; "early": artifact_received 3 min before;
    # and 4 completions of org-2, 20 min before, counted without their events (already pruned)
    late_us = int((AT + timedelta(seconds=10)).timestamp() * 1_000_000)
    early_us = int((AT - timedelta(minutes=3)).timestamp() * 1_000_000)
    for event_id, ts_us, scope, mask in (("late", late_us, "o:org-1", 0b10000100),
                                         ("early", early_us, "", 0b1)):
        db.execute("insert into seen_blocks (second, n, hashes, events) values (?, 1, ?, ?)",
                   (ts_us // 1_000_000, stable_hashes(pa.array([event_id])).astype("<i8").tobytes(),
                    f'[["{event_id}",{ts_us},"{scope}",{mask}]]'))
    rows = [("p", late_us, "artifacts_failed"), ("p", late_us, "failures"),
            ("o:org-1", late_us, "artifacts_failed"), ("o:org-1", late_us, "failures"),
            ("p", early_us, "artifacts_received")]
    db.executemany("insert into counts values (?, ?, ?, 1)",
                   [(scope, ts // 60_000_000, metric) for scope, ts, metric in rows])
    minute = int((AT - timedelta(minutes=20)).timestamp()) // 60
    db.executemany("insert into counts values (?, ?, 'artifacts_completed', 4)",
                   [("p", minute), ("o:org-2", minute)])
    db.commit()
    db.close()
    store = open_counters(lake)
    try:
        again = pa.concat_tables([counted_table(["late"], AT + timedelta(seconds=10), "artifact_failed", "org-1"),
                                  counted_table(["early", "new"], AT - timedelta(minutes=3))])
        assert store.record(again, AT) == 1
        start = AT - timedelta(minutes=50)
        assert store.organizations(start, AT, ("artifacts_completed", "artifacts_failed"), 1) \
            == ["org-1", "org-2"]
        assert store.organizations(start, AT, ("artifacts_completed",), 4) == ["org-2"]
        assert store.organizations(start, AT, ("artifacts_received",), 1) == []
    finally:
        store.close()
    assert realtime_metrics(lake, "org-1", now=AT)["failures"] == 0  # after now, not yet
    assert realtime_metrics(lake, "org-1", now=AT + timedelta(seconds=10))["failures"] == 1
    platform = realtime_metrics(lake, now=AT + timedelta(seconds=10))
    assert {m: platform[m] for m in METRICS} == {
        **dict.fromkeys(METRICS, 0), "artifacts_received": 2, "artifacts_completed": 4,
        "artifacts_failed": 1, "failures": 1}
    assert realtime_metrics(lake, "org-2", now=AT)["artifacts_completed"] == 4
    db = sqlite3.connect(lake.state_dir / "counters.sqlite")
    try:
        assert db.execute("pragma user_version").fetchall() == [(4,)]
        assert db.execute("select count(*) from counts").fetchall() == [(5,)]  # 3 of p, 2 orgs
    finally:
        db.close()


@pytest.mark.parametrize("dense", [True, False])
def test_minute_counts_against_a_plain_python_sum(monkeypatch, dense):
    # the counts per (scope, minute, metric) a batch adds, summed one event at a time here
    from voice_monitor import counters

    if not dense:  # too many cells for the dense grid: only the cells with events
        monkeypatch.setattr(counters, "_DIRECT_CELLS", 0)
    rng = random.Random(5)
    scopes = [f"o:org-{i}" for i in range(7)]
    n = 3000
    ts = [1_771_250_000_000_000 + rng.randrange(0, 90 * 60_000_000) for _ in range(n)]
    org = [rng.randrange(-1, len(scopes)) for _ in range(n)]
    mask = [rng.choice([0, 1, 2, 4, 6, 1 << (len(METRICS) - 1), 2 ** len(METRICS) - 1]) for _ in range(n)]
    want: dict[tuple[str, int], list[int]] = {}
    for t, o, m in zip(ts, org, mask, strict=True):
        for scope in [PLATFORM, *([scopes[o]] if o >= 0 else [])]:
            for i in range(len(METRICS)):
                if m >> i & 1:
                    want.setdefault((scope, t // 60_000_000), [0] * len(METRICS))[i] += 1
    got = counters.minute_counts(np.array(ts, np.int64), np.array(org, np.int64), scopes,
                                 np.array(mask, np.int64))
    assert {(name, minute): list(n) for name, minute, *n in got} == want
    assert len(got) == len(want)
