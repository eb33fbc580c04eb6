"""A Redis that lost its data is refilled from the lake (contract §5, §13): the need is kept in
Redis, so any process that lands finds it, one at a time refills, only a refill that finished
clears it, and a collector's senders never wait for it. A real redis-server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from contextlib import closing
from datetime import UTC, datetime, timedelta

import pytest
import redis
from conftest import event, use_counter_store

from voice_monitor import counter_refill
from voice_monitor.counters import COUNTERS_ENV, METRICS, open_counters, realtime_metrics
from voice_monitor.landing import land_batches, land_records
from voice_monitor.server import background  # noqa: F401 (a server's process: refills in the background)

AT = datetime(2026, 2, 16, 14, 30, 20, 500_000, tzinfo=UTC)
AT_TEXT = "2026-02-16T14:30:20.500Z"
REAL_LANDED_SINCE = counter_refill.landed_since


@pytest.fixture(autouse=True)
def redis_store(request, monkeypatch, redis_url) -> redis.Redis:
    use_counter_store("redis", request, monkeypatch)
    return redis.Redis.from_url(redis_url, decode_responses=True)


def _before() -> list[dict]:
    """10 received events, 14:29:20.5 ... 14:20:20.5: inside the window that ends at AT."""
    return [event("artifact_received", AT - timedelta(minutes=m), event_id=f"before-{m}")
            for m in range(1, 11)]


def _one(event_id: str) -> list[dict]:
    return [event("artifact_received", AT - timedelta(seconds=5), event_id=event_id)]


def held(lake) -> int:
    """Artifacts received in the window as the store holds them (no look at the lake)."""
    with closing(open_counters(lake)) as store:
        return store.window_counts(None, AT - timedelta(minutes=59, seconds=20.5), AT)[
            "artifacts_received"]


def seen(lake) -> int:
    """Artifacts received in the window as a reader is answered (`realtime_metrics`)."""
    return realtime_metrics(lake, now=AT)["artifacts_received"]


def _failing(*args, **kwargs):
    raise OSError(5, "Input/output error", "events/date=2026-02-16/hour=14")


def test_a_refill_that_fails_leaves_the_need_for_the_next_landing(lake, redis_store, monkeypatch):
    land_records(lake, _before(), now=AT)
    redis_store.flushdb()  # Redis restarted without persistence
    monkeypatch.setattr(counter_refill, "landed_since", _failing)
    land_records(lake, _one("after-1"), now=AT)
    # the refill failed (logged): the store holds only what landed since, and says so, so a
    # reader is answered from the lake's files: 10 before + 1 after
    assert held(lake) == 1
    assert redis_store.exists("vm:r") == 1
    assert seen(lake) == 11
    monkeypatch.setattr(counter_refill, "landed_since", REAL_LANDED_SINCE)
    land_records(lake, _one("after-2"), now=AT)  # the next landing refills
    assert held(lake) == 12 and seen(lake) == 12
    assert redis_store.exists("vm:r", "vm:rl") == 0  # done: no need, no lease left
    land_records(lake, _before(), now=AT)  # the same events sent again still count once
    assert held(lake) == 12


def test_an_ingest_in_another_process_refills_what_a_failed_refill_left(lake, redis_store,
                                                                         monkeypatch, tmp_path):
    # the landing that found Redis empty was in another process (a collector whose refill
    # failed, or that was killed): an `ingest` opens its own store, which finds Redis no longer
    # empty (that landing wrote to it), yet it refills: the need is in Redis
    land_records(lake, _before(), now=AT)
    redis_store.flushdb()
    monkeypatch.setattr(counter_refill, "landed_since", _failing)
    land_records(lake, _one("after-1"), now=AT)
    assert held(lake) == 1
    batch = tmp_path / "batch.jsonl"
    batch.write_text(json.dumps(_one("after-2")[0]) + "\n")
    env = {**os.environ, COUNTERS_ENV: os.environ[COUNTERS_ENV]}
    done = subprocess.run([os.path.join(os.path.dirname(sys.executable), "voice-monitor"),
                           "ingest", str(batch), "--lake", str(lake.root), "--now", AT_TEXT],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "accepted 1 (of which duplicate 0), quarantined 0"
    assert held(lake) == 12  # 10 before + 2 after, all in the store
    assert redis_store.exists("vm:r") == 0


def test_a_collectors_landing_answers_before_its_refill_ends(lake, redis_store, monkeypatch):
    # a landing with its caller's store (the collector's committer) refills on a background
    # thread: the senders of the landing that found Redis empty are answered meanwhile
    land_records(lake, _before(), now=AT)
    redis_store.flushdb()
    started, release = threading.Event(), threading.Event()

    def held_up(*args, **kwargs):
        started.set()
        release.wait(30)  # (the old inline refill: the landing waited for it)
        return REAL_LANDED_SINCE(*args, **kwargs)

    monkeypatch.setattr(counter_refill, "landed_since", held_up)
    with closing(open_counters(lake)) as store:
        (result,) = land_batches(lake, [[json.dumps(e) for e in _one("after-1")]], ["collector"],
                                 now=AT, counters=store)
        # landed and answered while the refill waits to read the lake
        assert (result.accepted, result.duplicates) == (1, 0)
        assert started.wait(60)
        assert held(lake) == 1 and seen(lake) == 11  # meanwhile: read from the lake
        # another landing, from any process, while the refill holds its lease: no second refill
        assert counter_refill.refill(lake, AT) == 0
        release.set()
        counter_refill._running.join(60)
    assert held(lake) == 11 and redis_store.exists("vm:r", "vm:rl") == 0


def test_the_apis_read_answers_from_the_lake_while_its_refill_runs(lake, redis_store,
                                                                   monkeypatch):
    # GET /api/v1/metrics/realtime that found Redis emptied refilled it inside the request: the
    # lake's last 2 hours counted before the answer (minutes with hundreds of millions of
    # events; the dashboard's cards waited). It starts the refill on a background thread, as a
    # collector's landing does, and answers from the lake's files meanwhile
    from fastapi.testclient import TestClient

    from voice_monitor.server import create_app

    land_records(lake, _before(), now=AT)
    redis_store.flushdb()
    monkeypatch.setattr(counter_refill, "landed_since", _failing)
    land_records(lake, _one("after-1"), now=AT)  # marks Redis; its refill fails (logged)
    assert held(lake) == 1 and redis_store.exists("vm:r") == 1
    started, release = threading.Event(), threading.Event()

    def held_up(*args, **kwargs):
        started.set()
        release.wait(60)
        return REAL_LANDED_SINCE(*args, **kwargs)

    monkeypatch.setattr(counter_refill, "landed_since", held_up)
    monkeypatch.setattr(counter_refill, "_next_try", -float("inf"))
    staff = "staff-token-0123456789abcdef"
    answers = []
    with TestClient(create_app(lake, staff_tokens=[staff])) as http:
        def read():
            answers.append(http.get("/api/v1/metrics/realtime", params={"now": AT_TEXT},
                                    headers={"Authorization": f"Bearer {staff}"}))

        reader = threading.Thread(target=read)
        reader.start()
        try:
            assert started.wait(60)
            reader.join(30)  # answered while the refill waits (the old read waited for it)
            answered_while_refilling = not reader.is_alive()
        finally:
            release.set()
        reader.join(60)
        assert answered_while_refilling
        (answer,) = answers
        # 10 before + 1 after, from the lake's files
        assert (answer.status_code, answer.json()["artifacts_received"]) == (200, 11)
        counter_refill._running.join(60)
    assert held(lake) == 11 and redis_store.exists("vm:r", "vm:rl") == 0


def test_two_refills_count_each_event_once(lake, redis_store):
    # a second refill (the first one's lease expired with a stalled process; Redis marked
    # again) counts nothing the first counted: each event is counted once per (hour, event_id)
    land_records(lake, _before(), now=AT)
    redis_store.flushdb()
    land_records(lake, _one("after-1"), now=AT)
    assert held(lake) == 11
    redis_store.set("vm:r", "1")  # marked again, as by a second landing that found it empty
    assert counter_refill.refill(lake, AT) == 0  # none new
    assert held(lake) == 11 and redis_store.exists("vm:r") == 0
    assert {k: v for k, v in realtime_metrics(lake, now=AT).items() if k in METRICS} == {
        **dict.fromkeys(METRICS, 0), "artifacts_received": 11}


def test_a_read_refills_what_no_landing_could(lake, redis_store, monkeypatch):
    # Redis lost its data and the one landing since could not refill it; no landing comes: the
    # next real-time read does (`metrics realtime`, the dashboard's cards, an alert check)
    land_records(lake, _before(), now=AT)
    redis_store.flushdb()
    monkeypatch.setattr(counter_refill, "landed_since", _failing)
    land_records(lake, _one("after-1"), now=AT)
    assert held(lake) == 1
    monkeypatch.setattr(counter_refill, "landed_since", REAL_LANDED_SINCE)
    assert seen(lake) == 11
    assert held(lake) == 11 and redis_store.exists("vm:r", "vm:rl") == 0


class _Clock:
    """time.monotonic() as the test sets it."""

    def __init__(self):
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def test_a_collector_asks_for_the_lease_at_most_every_few_seconds(lake, redis_store,
                                                                  monkeypatch):
    # another host is refilling (it holds the lease): each landing of a busy collector would
    # start a thread and open a Redis connection to learn it; one every TRY_EVERY_S (5 s) does
    land_records(lake, _before(), now=AT)
    redis_store.flushdb()
    redis_store.set("vm:rl", "another host's refill", ex=600)
    clock, tries = _Clock(), []
    monkeypatch.setattr(counter_refill, "time", clock)
    monkeypatch.setattr(counter_refill, "_next_try", -float("inf"))
    monkeypatch.setattr(counter_refill, "refill", lambda *args: tries.append(clock.now) or 0)

    def land(event_id):
        with closing(open_counters(lake)) as store:
            land_batches(lake, [[json.dumps(e) for e in _one(event_id)]], ["collector"], now=AT,
                         counters=store)
        counter_refill._running.join(60)

    land("after-1")
    land("after-2")  # the same instant: no second try
    clock.now += 4.9
    land("after-3")
    clock.now += 0.1  # 5 s after the first
    land("after-4")
    assert tries == [1000.0, 1005.0]


def test_a_read_at_a_past_now_refills_the_window_of_the_landings(lake, redis_store, monkeypatch):
    # a read at a --now 3 hours back (a replay, an analyst's `metrics realtime --now`) finds the
    # mark and refills: it must count the lake's last 2 hours before the landings' present (AT),
    # not those before its own now (empty), or it clears the mark with the 10 events landed
    # before the flush never counted again: 10 before + 2 after = 12
    land_records(lake, _before(), now=AT)
    redis_store.flushdb()
    monkeypatch.setattr(counter_refill, "landed_since", _failing)
    land_records(lake, _one("after-1"), now=AT)
    monkeypatch.setattr(counter_refill, "landed_since", REAL_LANDED_SINCE)
    assert realtime_metrics(lake, now=AT - timedelta(hours=3))["artifacts_received"] == 0
    land_records(lake, _one("after-2"), now=AT)
    assert held(lake) == 12 and seen(lake) == 12


def test_metrics_count_from_the_lake_while_redis_waits_for_its_refill(lake, redis_store,
                                                                      monkeypatch):
    # /metrics read the store alone: 1 artifact received in the last hour where the lake
    # holds 11, for as long as the refill had not finished (here: it fails)
    from fastapi.testclient import TestClient

    from voice_monitor.server import catch_up, create_app

    now = datetime.now(UTC)
    land_records(lake, [event("artifact_received", now - timedelta(minutes=m),
                              event_id=f"before-{m}") for m in range(1, 11)], now=now)
    redis_store.flushdb()
    monkeypatch.setattr(counter_refill, "landed_since", _failing)
    monkeypatch.setattr(catch_up, "landed_since", _failing)  # (the starting collector's too)
    land_records(lake, [event("artifact_received", now - timedelta(seconds=5),
                              event_id="after")], now=now)
    assert redis_store.exists("vm:r") == 1
    staff = "staff-token-0123456789abcdef"
    app = create_app(lake, ingest_tokens=["ingest-token-0123456789abcdef"], staff_tokens=[staff])
    with TestClient(app, base_url="http://testserver") as http:
        text = http.get("/metrics", headers={"Authorization": f"Bearer {staff}"}).text
    assert ('voice_monitor_realtime_events{metric="artifacts_received",organization_id="",'
            'scope="platform"} 11.0') in text


def test_events_landed_while_redis_refused_writes_are_counted_by_the_next_read(lake, redis_store):
    # a real fault of the shared store after the files are placed: Redis over its maxmemory
    # (noeviction) refuses the landing's count ("command not allowed when used memory >
    # 'maxmemory'"). The lake holds the batch, Redis does not; the landing's note
    # (uncounted.py) has the next read count it
    import pyarrow.parquet as pq

    land_records(lake, _before(), now=AT)
    batch = [event("artifact_received", AT - timedelta(seconds=30 + i), event_id=f"oom-{i}")
             for i in range(20)]
    redis_store.config_set("maxmemory-policy", "noeviction")
    redis_store.config_set("maxmemory", "1")
    try:
        with pytest.raises(redis.ResponseError, match="maxmemory"):
            land_records(lake, batch, now=AT)
    finally:
        redis_store.config_set("maxmemory", "0")
    files = sorted((lake.root / "events").rglob("*.parquet"))
    in_lake = {i for f in files for i in pq.read_table(f).column("event_id").to_pylist()}
    assert in_lake == {f"before-{m}" for m in range(1, 11)} | {f"oom-{i}" for i in range(20)}
    assert held(lake) == 10  # Redis counted only the first landing
    assert seen(lake) == 30 == len(in_lake)  # the read counted the rest in Redis
    assert held(lake) == 30
    assert os.listdir(lake.root / "state" / "uncounted") == []
    land_records(lake, batch, now=AT)  # sent again: copies, counted once
    assert held(lake) == seen(lake) == 30



def test_the_metrics_gauges_count_what_a_landing_left_uncounted(lake, redis_store):
    # /metrics' real-time family (LakeCollector._realtime, read here without a server, whose
    # starting catch-up would count the lake anyway) after a landing whose count Redis
    # refused (over its maxmemory, noeviction): the note is counted first, 10 + 20 received
    from voice_monitor.server.metrics import LakeCollector

    now = datetime.now(UTC)
    land_records(lake, [event("artifact_received", now - timedelta(minutes=m),
                              event_id=f"before-{m}") for m in range(1, 11)], now=now)
    redis_store.config_set("maxmemory-policy", "noeviction")
    redis_store.config_set("maxmemory", "1")
    try:
        with pytest.raises(redis.ResponseError, match="maxmemory"):
            land_records(lake, [event("artifact_received", now - timedelta(seconds=5 + i),
                                      event_id=f"oom-{i}", organization_id="org-a")
                                for i in range(20)], now=now)
    finally:
        redis_store.config_set("maxmemory", "0")
    family = LakeCollector(lake, None)._realtime(now)
    received = {s.labels["organization_id"]: s.value for s in family.samples
                if s.labels["metric"] == "artifacts_received"}
    assert received == {"": 30, "org-a": 20}
    assert os.listdir(lake.root / "state" / "uncounted") == []


def test_metrics_and_realtime_read_while_redis_is_over_its_maxmemory(lake, redis_store):
    # Redis over its maxmemory with noeviction refuses writes, and every command of a MULTI
    # transaction, reads too: /metrics' per-organization gauges read the organizations in one
    # and answered 500. Reads need no memory: both answer with what Redis holds
    from fastapi.testclient import TestClient

    from voice_monitor.server import create_app

    now = datetime.now(UTC)
    # 10 received in the last 10 minutes: org-a the even ones (5), org-b the odd (5)
    land_records(lake, [event("artifact_received", now - timedelta(minutes=m, seconds=5),
                              event_id=f"m-{m}", organization_id=f"org-{'ab'[m % 2]}")
                        for m in range(10)], now=now)
    staff = "staff-token-0123456789abcdef"
    app = create_app(lake, ingest_tokens=["ingest-token-0123456789abcdef"], staff_tokens=[staff])
    with TestClient(app, base_url="http://testserver") as http:
        redis_store.config_set("maxmemory-policy", "noeviction")
        redis_store.config_set("maxmemory", "1")
        try:
            answer = http.get("/metrics", headers={"Authorization": f"Bearer {staff}"})
            run = subprocess.run([sys.executable, "-c", "from voice_monitor.cli import main; main()",
                                  "metrics", "realtime", "--json", "--lake", str(lake.root)],
                                 capture_output=True, text=True, env={**os.environ})
        finally:
            redis_store.config_set("maxmemory", "0")
    assert answer.status_code == 200, answer.text
    for org, n in (("", 10), ("org-a", 5), ("org-b", 5)):
        assert (f'voice_monitor_realtime_events{{metric="artifacts_received",organization_id='
                f'"{org}",scope="{"organization" if org else "platform"}"}} {n}.0') in answer.text
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["artifacts_received"] == 10
