"""Group commit in the collector: batches that wait together land as one landing, and each sender
still gets its own counts, worked out here by hand (duplicates across concurrent requests, a bad
record in one request, bodies that never join the landing)."""

from __future__ import annotations

import asyncio
import gzip
import json
import sys
import threading
import time
from datetime import timedelta

import duckdb
import httpx
import pytest
from conftest import NOW, event
from server_process import INGEST, STAFF

from voice_monitor.server import create_app, group_commit
from voice_monitor.server.group_commit import BadEncoding, BodyTooLarge, Collector


def lines(*records: dict | str) -> bytes:
    return b"".join((r if isinstance(r, str) else json.dumps(r)).encode() + b"\n" for r in records)


H14, H13, H12 = NOW - timedelta(minutes=20), NOW - timedelta(minutes=80), NOW - timedelta(hours=2)


def at(event_id: str, moment) -> dict:
    return event("artifact_received", moment, event_id=event_id)


def test_waiting_batches_land_as_one_with_each_senders_own_counts(lake, monkeypatch):
    landings: list[int] = []  # batches per call of land_batches
    gate = threading.Event()
    real = group_commit.land_batches

    def gated(lake, batches, sources, **kwargs):
        landings.append(len(batches))
        if len(landings) == 1:
            gate.wait(60)  # hold the first landing while the others queue up behind it
        return real(lake, batches, sources, **kwargs)

    monkeypatch.setattr(group_commit, "land_batches", gated)
    collector = Collector(lake, max_body_bytes=2048)
    bodies = {
        "first": lines(at("w1", H12)),
        "a": lines(at("x1", H14), at("x2", H14), at("x3", H14)),
        # x2 is a's (same hour); the second x4 repeats the first; x1 at 13:00 is another hour
        "b": lines(at("x2", H14), at("x4", H14), at("x4", H14), at("x1", H13)),
        # a broken record; x3 is a's; w1 was landed by the first landing (same hour)
        "c": lines("{broken", at("x3", H14), at("w1", H12)),
    }

    async def send() -> dict:
        loop_tasks = {}

        async def post(name: str, body: bytes, gzipped: bool = False):
            assert collector.admit()
            try:
                return await collector.land(body, gzipped, f"test:{name}")
            finally:
                collector.release()

        loop_tasks["first"] = asyncio.ensure_future(post("first", bodies["first"]))
        while not landings:
            await asyncio.sleep(0.01)
        for queued, name in enumerate("abc", 1):  # one after the other: the queue's order is known
            loop_tasks[name] = asyncio.ensure_future(post(name, bodies[name]))
            while collector._jobs.qsize() < queued:
                await asyncio.sleep(0.01)
        # two bodies that never join the landing: not gzip, and over the cap once decompressed
        with pytest.raises(BadEncoding):
            await post("bad-gzip", b"\x1f\x8b not gzip at all", gzipped=True)
        with pytest.raises(BodyTooLarge):
            await post("too-large", gzip.compress(b" " * 4096), gzipped=True)
        gate.set()
        done = {name: await task for name, task in loop_tasks.items()}
        return {name: (r.accepted, r.duplicates, r.quarantined) for name, r in done.items()}

    try:
        counts = asyncio.run(send())
    finally:
        gate.set()
        collector.close()
    assert landings == [1, 3]  # a, b and c landed together, after the first
    assert counts == {"first": (1, 0, 0), "a": (3, 0, 0), "b": (4, 2, 0), "c": (2, 2, 1)}
    assert collector.stats.commits == 2 and collector.stats.batches == 4
    assert collector.pending == 0 and collector.queued_bytes == 0
    con = duckdb.connect()
    stored = con.execute("select count(*) from read_parquet($f)",
                         {"f": [str(f) for f in lake.events_dir.rglob("*.parquet")]}).fetchone()
    assert stored == (1 + 3 + 4 + 2,)  # the raw log keeps every copy
    quarantined = con.execute("select raw, source from read_parquet($f)",
                              {"f": [str(f) for f in lake.root.glob("quarantine/*/*.parquet")]}
                              ).fetchall()
    assert quarantined == [("{broken", "test:c")]


def test_a_body_the_split_fails_on_fails_alone(lake, monkeypatch):
    # the committer splits the group's bodies into records: should the split ever fail on one
    # (no input is known to), that sender gets the error and its neighbours still land
    gate = threading.Event()
    real_land, real_split = group_commit.land_batches, group_commit.parse_records
    landed: list[int] = []

    def gated(lake, batches, sources, **kwargs):
        landed.append(len(batches))
        if len(landed) == 1:
            gate.wait(60)
        return real_land(lake, batches, sources, **kwargs)

    def split(body: bytes):
        if b"poison" in body:
            raise ValueError("cannot split poison")
        return real_split(body)

    monkeypatch.setattr(group_commit, "land_batches", gated)
    monkeypatch.setattr(group_commit, "parse_records", split)
    collector = Collector(lake)

    async def send():
        async def post(body: bytes):
            assert collector.admit()
            try:
                return await collector.land(body, False, "test")
            finally:
                collector.release()

        first = asyncio.ensure_future(post(lines(at("p0", H12))))
        while not landed:
            await asyncio.sleep(0.01)
        poisoned = asyncio.ensure_future(post(lines(at("poison", H14))))
        good = asyncio.ensure_future(post(lines(at("p1", H14), at("p2", H14))))
        while collector._jobs.qsize() < 2:
            await asyncio.sleep(0.01)
        gate.set()
        return await first, await asyncio.gather(poisoned, return_exceptions=True), await good

    try:
        first, [error], good = asyncio.run(send())
    finally:
        gate.set()
        collector.close()
    assert (first.accepted, good.accepted, good.duplicates) == (1, 2, 0)
    assert isinstance(error, ValueError) and str(error) == "cannot split poison"
    assert landed == [1, 1]  # the good body landed alone, without the poisoned one
    assert collector.stats.failed == 1 and collector.pending == 0 and collector.queued_bytes == 0


def gated_landing(monkeypatch) -> tuple[threading.Event, list[int]]:
    """land_batches held at its first call until the returned gate is set; the list fills with
    the batches per call."""
    gate, landings = threading.Event(), []
    real = group_commit.land_batches

    def gated(lake, batches, sources, **kwargs):
        landings.append(len(batches))
        if len(landings) == 1:
            gate.wait(60)
        return real(lake, batches, sources, **kwargs)

    monkeypatch.setattr(group_commit, "land_batches", gated)
    return gate, landings


def test_a_body_is_let_go_once_split_and_counted_as_its_records(lake, monkeypatch):
    # the queue's byte count is what it holds: a body stayed referenced beside its records
    # (held twice, counted once) until its sender was answered
    gate, landings = gated_landing(monkeypatch)
    collector = Collector(lake)
    small = lines(at("s1", H14))  # split by the committer that lands it
    record = json.dumps(at("l00000", H14)).encode()  # every id as long: every line as long
    n = group_commit.INLINE_SPLIT_BYTES // len(record) + 10
    large = lines(*(at(f"l{i:05d}", H14) for i in range(n)))  # split off the event loop
    assert len(large) == n * (len(record) + 1) > group_commit.INLINE_SPLIT_BYTES
    # the test's own references (and getrefcount's argument): the collector may hold none
    # once each is split
    alone = sys.getrefcount(small), sys.getrefcount(large)

    async def send():
        assert collector.admit() and collector.admit()
        first = asyncio.ensure_future(collector.land(small, False, "test:small"))
        while not landings:  # split, and held in its landing
            await asyncio.sleep(0.01)
        second = asyncio.ensure_future(collector.land(large, False, "test:large"))
        while collector._jobs.qsize() < 1:  # split, and waiting
            await asyncio.sleep(0.01)
        # the thread that split the large body lets go of its arguments just after handing the
        # records back (a busy machine catches it in between): waited for, while still queued
        deadline = time.monotonic() + 10
        while sys.getrefcount(large) != alone[1] and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        held = (sys.getrefcount(small), sys.getrefcount(large)), collector.queued_bytes
        gate.set()
        return held, await first, await second

    try:
        (refs, queued), first, second = asyncio.run(send())
    finally:
        gate.set()
        collector.close()
    assert refs == alone
    # the small body as sent; the large one's records: its lines without their newlines, and
    # 8-byte offsets around n + 1 pieces (the split keeps the empty piece after the last
    # newline in its buffers; the records leave it out)
    assert queued == len(small) + n * len(record) + 8 * (n + 2)
    assert (first.accepted, second.accepted) == (1, n)
    assert collector.queued_bytes == 0


def test_a_gzip_body_is_refused_once_decompressed_it_takes_the_queue_over_its_cap(
        lake, monkeypatch):
    # a gzip body was admitted on its compressed size: bodies of repeated events (a few KiB
    # each compressed) filled the queue many times over its cap
    monkeypatch.setattr(group_commit, "MAX_QUEUED_BYTES", 100_000)
    gate, landings = gated_landing(monkeypatch)
    app = create_app(lake, ingest_tokens=[INGEST], staff_tokens=[STAFF])
    collector = app.state.collector
    plain = [lines(*(at(f"{name}{i:04d}", H14) for i in range(700))) for name in "ab"]
    bodies = [gzip.compress(body) for body in plain]
    # each alone is under the cap, both are over it; compressed, both are far under it
    assert all(60_000 < len(body) < 100_000 for body in plain)
    assert all(len(body) < 10_000 for body in bodies)
    headers = {"Authorization": f"Bearer {INGEST}", "Content-Type": "application/x-ndjson"}

    async def send():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            def post(body: bytes, gzipped: bool = True):
                return asyncio.ensure_future(http.post(
                    "/v1/events", content=body,
                    headers={**headers, **({"Content-Encoding": "gzip"} if gzipped else {})}))

            first = post(lines(at("f1", H12)), gzipped=False)
            while not landings:
                await asyncio.sleep(0.01)
            a = post(bodies[0])
            while collector._jobs.qsize() < 1:  # decompressed, split, and waiting
                await asyncio.sleep(0.01)
            b = post(bodies[1])
            while not b.done() and collector._jobs.qsize() < 2:  # 2: b was let in
                await asyncio.sleep(0.01)
            refused = b.done()
            gate.set()
            return refused, await first, await a, await b

    try:
        refused, first, a, b = asyncio.run(send())
    finally:
        gate.set()
        collector.close()
    assert refused
    assert (b.status_code, b.headers["retry-after"]) == (503, "1")
    assert (first.status_code, first.json()["accepted"]) == (200, 1)
    assert (a.status_code, a.json()["accepted"]) == (200, 700)
    assert collector.stats.refused_overload == 1 and collector.queued_bytes == 0
    assert collector.pending == 0


@pytest.mark.parametrize(("body", "kept"), [
    (b'{"a":1}\n{"b":2}\n', True),  # each record followed by one newline: the body as it is
    (b'{"a":1}\n{"b":2}', False),  # no newline after the last record
    (b'{"a":1}\r\n{"b":2}\r\n', False),  # \r\n: the records lose their \r
    (b'{"a":1}\n\n{"b":2}\n', False),  # a blank line
    (b'{"a":1}\n{"b":2}\n \n', False),  # a blank line at the end
    (b'\xef\xbb\xbf{"a":1}\n', False),  # a byte-order mark
    (b'[{"a":1}, {"b":2}]\n', False),  # a JSON array: its elements
    (b'{\n"a": 1}\n', False),  # one pretty-printed object: one record over two lines
])
def test_a_body_that_is_its_records_each_with_a_newline_is_kept_for_the_json_reader(body, kept):
    # the committer's split keeps a copy of such a body (`streaming.LineBatch.joined`): the
    # JSON reader reads it instead of the records joined again; any other body is its records
    split = group_commit.split_body(body, keep_text=True)
    records = split.records if kept else split
    assert isinstance(split, group_commit.LineBatch) is kept
    assert records.to_pylist() == group_commit.parse_records(body).to_pylist()
    if kept:
        assert bytes(split.joined) == body == b"".join(r + b"\n" for r in records.to_pylist())
    assert not isinstance(group_commit.split_body(body), group_commit.LineBatch)  # (the default)
