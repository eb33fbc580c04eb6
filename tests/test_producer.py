"""The producer: non-blocking emit, batches by size and time, flush on close, durable spool.

Everything runs for real: writer threads, producer subprocesses (one killed with SIGKILL), and
the lake read back with DuckDB. No test asserts a duration; waits poll with a deadline.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections import deque
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType

import pytest
from conftest import NOW, event, event_ids_in

from voice_monitor import Producer
from voice_monitor.counters import realtime_metrics
from voice_monitor.lake import Lake, connect
from voice_monitor.producer import ProducerError, SpoolGoneError, SpoolLockedError

DEADLINE_S = 30  # generous: the machine is shared; a pass is usually far quicker


def stored_ids(lake: Lake) -> list[str]:
    """Every event_id row in the lake (copies included), read with DuckDB."""
    return event_ids_in([str(p) for p in lake.events_dir.rglob("*.parquet")])


def quarantined(lake: Lake) -> list[tuple[str, str, str]]:
    """(raw, reason, source) of every quarantined record."""
    files = [str(p) for p in lake.quarantine_dir.rglob("*.parquet")]
    if not files:
        return []
    con = connect()
    try:
        return con.execute("select raw, reason, source from read_parquet($f) order by raw",
                           {"f": files}).fetchall()
    finally:
        con.close()


def wait_for(condition, what: str):
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {DEADLINE_S} s waiting for {what}")
        time.sleep(0.05)


def recent(i: int, event_type: str = "artifact_received", **fields) -> dict:
    # i seconds before NOW, so every event is inside the real-time window (59 min + this minute)
    return event(event_type, NOW - timedelta(seconds=i), **fields)


# -- flushing and batching -----------------------------------------------------------------

def test_close_lands_everything_emitted(lake):
    records = [recent(i) for i in range(250)]
    # an hour-long interval and a large batch: only close() can land these
    with Producer(lake, batch_size=10_000, flush_interval=3600, now=NOW) as producer:
        for r in records:
            producer.emit(r)
        producer.emit({"event_type": "artifact_received"})  # invalid: quarantined, not an error
    assert sorted(stored_ids(lake)) == sorted(r["event_id"] for r in records)
    assert [(reason, source) for _, reason, source in quarantined(lake)] == [
        ("event_id is required; timestamp is required", "producer:default")
    ]
    assert (producer.stats.accepted, producer.stats.quarantined, producer.stats.taken) == (250, 1, 251)
    assert producer.errors == []


def test_batches_by_size_without_waiting_for_the_interval(lake):
    producer = Producer(lake, batch_size=5, flush_interval=3600, now=NOW)
    try:
        records = [recent(i) for i in range(12)]
        for r in records:
            producer.emit(r)
        wait_for(lambda: producer.stats.batches == 2, "two full batches of 5")
        # 12 = 2 full batches + 2 left waiting for the (hour-long) interval or close()
        assert sorted(stored_ids(lake)) == sorted(r["event_id"] for r in records[:10])
        assert producer.pending == 2
    finally:
        producer.close()
    assert sorted(stored_ids(lake)) == sorted(r["event_id"] for r in records)


def test_batches_by_time_without_close(lake):
    producer = Producer(lake, batch_size=10_000, flush_interval=0.2, now=NOW)
    try:
        records = [recent(i) for i in range(3)]
        for r in records:
            producer.emit(r)
        wait_for(lambda: len(stored_ids(lake)) == 3, "the interval to land 3 events")
        assert sorted(stored_ids(lake)) == sorted(r["event_id"] for r in records)
    finally:
        producer.close()


def test_flush_lands_what_was_emitted_before_it(lake):
    with Producer(lake, batch_size=10_000, flush_interval=3600, now=NOW) as producer:
        first = [recent(i) for i in range(7)]
        for r in first:
            producer.emit(r)
        producer.flush()
        assert sorted(stored_ids(lake)) == sorted(r["event_id"] for r in first)


def test_flush_with_an_infinite_timeout_waits_and_a_nan_one_is_refused(lake):
    # flush(timeout=math.inf) was "OverflowError: timestamp out of range for platform time_t"
    # from threading's wait; it means "as long as it takes", as None does
    with Producer(lake, batch_size=10_000, flush_interval=3600, now=NOW) as producer:
        first = [recent(i) for i in range(4)]
        for r in first:
            producer.emit(r)
        producer.flush(timeout=math.inf)
        assert sorted(stored_ids(lake)) == sorted(r["event_id"] for r in first)
        with pytest.raises(ValueError, match=r"^flush timeout nan is not a number; pass "
                                             r"seconds, e.g. 30, or None to wait until"):
            producer.flush(timeout=math.nan)


def test_flush_with_a_timeout_of_centuries_waits_as_an_infinite_one_does(lake):
    # 1e10 s is above threading.TIMEOUT_MAX (~9.2e9 s): its wait raised "OverflowError:
    # timestamp out of range for platform time_t", as inf did
    with Producer(lake, batch_size=10_000, flush_interval=3600, now=NOW) as producer:
        records = [recent(i) for i in range(3)]
        for r in records:
            producer.emit(r)
        producer.flush(timeout=1e10)
        assert sorted(stored_ids(lake)) == sorted(r["event_id"] for r in records)


def test_odd_records_are_landed_or_quarantined_never_lost(lake):
    # orjson cannot encode a 70-bit int; JSON can, and a file holding it stores it as a double
    huge = recent(1, event_id="too-big", duration_ms=2**70)
    proxy = MappingProxyType(recent(2, event_id="from-a-mapping"))
    aware = event("artifact_received", NOW - timedelta(minutes=1), event_id="datetime-ts")
    aware["timestamp"] = NOW - timedelta(minutes=1)  # a tz-aware datetime, not a string
    raw_bytes = recent(3, event_id="bytes", error_code=b"E1")
    with Producer(lake, now=NOW) as producer:
        for r in (huge, proxy, aware, raw_bytes):
            producer.emit(r)
    assert sorted(stored_ids(lake)) == ["datetime-ts", "from-a-mapping", "too-big"]
    [(raw, reason, _)] = quarantined(lake)
    assert "'bytes'" in raw and reason == "error_code is bytes, not JSON; send text (decode the bytes)"


def test_emit_after_close_is_an_error(lake):
    producer = Producer(lake, now=NOW)
    producer.close()
    with pytest.raises(ProducerError, match="is closed"):
        producer.emit(recent(1))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size 0 must be a whole number >= 1"),
        ({"flush_interval": 0}, "flush_interval 0 must be"),
        # inf and 1e10 killed the writer thread at its first wait (OverflowError), and the events
        # emitted were lost, close() saying nothing
        ({"flush_interval": float("inf")}, r"flush_interval inf must be a number of seconds > 0 "
                                           r"and below 9223372036, e.g. 1.0"),
        ({"flush_interval": 1e10}, r"flush_interval 10000000000.0 must be a number of seconds"),
        ({"flush_interval": float("nan")}, r"flush_interval nan must be a number of seconds"),
        ({"spool_dir": "x"}, "pass durable=True"),
        ({"name": "a/b"}, "name 'a/b' must be a plain file name"),
        # NaN reached time.sleep at the first retry (ValueError) and the batch was left out of
        # producer.unlanded ("0 events not landed"); inf slept the 30 s cap on every retry
        ({"retry_delay": float("nan")}, r"retry_delay nan must be a finite number of seconds >= 0"),
        ({"retry_delay": float("inf")}, r"retry_delay inf must be a finite number of seconds >= 0"),
        ({"retry_delay": -1}, r"retry_delay -1 must be a finite number of seconds >= 0, e.g. 0.5"),
        # text (from an environment variable, say) raised a bare TypeError ("'<=' not supported
        # between instances of 'int' and 'str'"); True was taken for 1 s
        ({"retry_delay": "0.5"}, r"retry_delay '0.5' must be a finite number of seconds >= 0"),
        ({"retry_delay": True}, r"retry_delay True must be a finite number of seconds >= 0"),
        ({"flush_interval": "1"}, r"flush_interval '1' must be a number of seconds > 0"),
        # True is 1 to Python: batch_size=True landed every event alone, retries=True retried once
        ({"batch_size": True}, r"batch_size True must be a whole number >= 1, e.g. 5000"),
        ({"retries": True}, r"retries True must be a whole number >= 0, e.g. 3"),
        ({"retries": False}, r"retries False must be a whole number >= 0"),
        ({"batch_size": "500"}, r"batch_size '500' must be a whole number >= 1"),
    ],
)
def test_bad_settings_are_refused(lake, kwargs, message):
    with pytest.raises(ValueError, match=message):
        Producer(lake, **kwargs)


# -- failures surface ------------------------------------------------------------------------

def test_landing_failure_is_retried_then_raised_on_close(tmp_path):
    root = tmp_path / "not-a-dir"
    root.write_text("a file where the lake should be")
    producer = Producer(root, retries=2, retry_delay=0.01, now=NOW)
    records = [recent(i) for i in range(3)]
    for r in records:
        producer.emit(r)
    with pytest.raises(ProducerError, match=r"failed after 2 retries \(3 events not landed"):
        producer.close()
    # 1 landing, 2 retries of it, then given up: one error kept, the batch kept for the caller
    assert (producer.stats.retries, producer.stats.failed_batches, len(producer.errors)) == (2, 1, 1)
    assert [json.loads(line)["event_id"] for line in producer.unlanded] == [r["event_id"] for r in records]


# -- many processes --------------------------------------------------------------------------

CHILD = textwrap.dedent("""
    import json, sys
    from datetime import datetime
    from voice_monitor import Producer
    records = json.load(open(sys.argv[2]))
    now = datetime.fromisoformat(sys.argv[3])
    with Producer(sys.argv[1], batch_size=300, flush_interval=0.5, name=sys.argv[4], now=now) as p:
        for r in records:
            p.emit(r)
    print(p.stats.accepted)
""")

TYPES = ("artifact_received", "artifact_completed", "transcription_failed", "claims_extracted")


@pytest.mark.slow  # 8 interpreters importing DuckDB and Arrow on 2 cores: about 20 s
def test_eight_producer_processes_land_exactly_what_they_emitted(lake, tmp_path):
    emitted: list[dict] = []
    procs = []
    for p in range(8):
        records = [recent(i % 3000, TYPES[(p + i) % 4], event_id=f"p{p}-{i}",
                          organization_id=f"org-{i % 3}") for i in range(1000)]
        emitted += records
        path = tmp_path / f"records-{p}.json"
        path.write_text(json.dumps(records))
        procs.append(subprocess.Popen(
            [sys.executable, "-c", CHILD, str(lake.root), str(path), NOW.isoformat(), f"proc-{p}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert out.strip() == "1000"
    ids = stored_ids(lake)
    assert len(ids) == 8000 and set(ids) == {r["event_id"] for r in emitted}

    # the counters, against counts worked out from what was emitted (all inside the window)
    def expected(org=None):
        mine = [r for r in emitted if org is None or r["organization_id"] == org]
        n = {t: sum(r["event_type"] == t for r in mine) for t in TYPES}
        return {"artifacts_received": n["artifact_received"],
                "artifacts_completed": n["artifact_completed"],
                "failures": n["transcription_failed"], "claims_extracted": n["claims_extracted"]}

    for org in (None, "org-1"):
        metrics = realtime_metrics(lake, organization_id=org, now=NOW)
        assert {k: metrics[k] for k in expected(org)} == expected(org)
    # 8 processes x 1000 events, 4 types in turn: each type is a quarter of the platform
    assert expected()["artifacts_received"] == 2000


# -- durable mode ----------------------------------------------------------------------------

DURABLE_CHILD = textwrap.dedent("""
    import sys, time
    from datetime import datetime
    from voice_monitor import Producer
    n, now = int(sys.argv[2]), datetime.fromisoformat(sys.argv[3])
    # nothing lands on its own: an hour-long interval and a batch larger than n
    p = Producer(sys.argv[1], durable=True, name="victim", batch_size=n + 1,
                 flush_interval=3600, now=now)
    for i in range(n):
        p.emit({"event_id": f"d-{i}", "event_type": "artifact_received",
                "timestamp": int(now.timestamp() * 1000) - i})
    print("emitted", flush=True)
    time.sleep(600)
""")


def test_durable_producer_survives_kill_9(lake):
    n = 500
    proc = subprocess.Popen([sys.executable, "-c", DURABLE_CHILD, str(lake.root), str(n),
                             NOW.isoformat()], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "emitted"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert stored_ids(lake) == []  # nothing landed before the kill: only the spool holds them
    spool = lake.state_dir / "spool" / "victim"
    [segment] = [p for p in spool.glob("*.jsonl") if p.stat().st_size]
    crashed_copy = segment.read_bytes()

    with Producer(lake, durable=True, name="victim", now=NOW) as successor:
        pass
    assert sorted(stored_ids(lake)) == sorted(f"d-{i}" for i in range(n))
    assert successor.stats.accepted == n
    assert list(spool.glob("*.jsonl")) == []  # landed segments are deleted

    # a crash after landing but before deleting leaves the segment behind: it lands again
    (spool / segment.name).write_bytes(crashed_copy)
    with Producer(lake, durable=True, name="victim", now=NOW) as again:
        pass
    assert again.stats.duplicates == n
    assert len(stored_ids(lake)) == 2 * n  # the raw log keeps both copies...
    con = connect()
    try:
        files = [str(p) for p in lake.events_dir.rglob("*.parquet")]
        distinct = con.execute(
            "select count(*) from (select event_id from read_parquet($f) "
            "group by event_id, date_trunc('hour', \"timestamp\"))", {"f": files}).fetchall()[0][0]
    finally:
        con.close()
    assert distinct == n  # ...which de-duplicate to one each
    assert realtime_metrics(lake, now=NOW)["artifacts_received"] == n


def test_partial_last_line_of_a_spool_segment_is_quarantined(lake):
    spool = lake.state_dir / "spool" / "default"
    spool.mkdir(parents=True)
    good = [recent(1, event_id="whole-1"), recent(2, event_id="whole-2")]
    torn = json.dumps(recent(3, event_id="torn"))[:25]  # killed mid-write: no closing brace
    text = "".join(json.dumps(r) + "\n" for r in good) + torn
    (spool / "00000000000000000001-1-000001.jsonl").write_text(text)
    with Producer(lake, durable=True, now=NOW):
        pass
    assert sorted(stored_ids(lake)) == ["whole-1", "whole-2"]
    assert [(raw, reason) for raw, reason, _ in quarantined(lake)] == [(torn, "record is not valid JSON")]


def test_durable_emits_land_and_leave_an_empty_spool(lake):
    with Producer(lake, durable=True, batch_size=4, flush_interval=3600, now=NOW) as producer:
        records = [recent(i) for i in range(10)]
        for r in records:
            producer.emit(r)
    assert sorted(stored_ids(lake)) == sorted(r["event_id"] for r in records)
    assert list(producer.spool_dir.glob("*.jsonl")) == []


def test_two_producers_cannot_share_a_spool(lake, tmp_path):
    spool = tmp_path / "shared-spool"
    with Producer(lake, durable=True, spool_dir=spool, now=NOW), \
            pytest.raises(SpoolLockedError, match=f"spool directory '{spool}' is in use"):
        Producer(lake, durable=True, spool_dir=spool, now=NOW)
    # released on close: the next one may take it
    Producer(lake, durable=True, spool_dir=spool, now=NOW).close()


@pytest.mark.parametrize("blocked", ["state/spool", "state/spool/svc"])
def test_a_file_where_the_spool_folder_should_be_is_named_with_the_fix(lake, blocked):
    # it said "cannot use spool directory '…/state/spool/svc': [Errno 20] Not a directory"
    # (or "[Errno 17] File exists"), naming no fix; the state folders say mv since 3d8bdbf
    in_the_way = lake.root / blocked
    in_the_way.parent.mkdir(parents=True, exist_ok=True)
    in_the_way.write_text("not a folder\n")
    spool = lake.root / "state" / "spool" / "svc"
    message = (f"cannot use spool directory '{spool}': '{in_the_way}' is a file, not a folder; "
               f"move it aside (mv {in_the_way} {in_the_way}.moved) and start the producer "
               "again")
    with pytest.raises(ProducerError) as refused:
        Producer(lake, durable=True, name="svc", now=NOW)
    assert str(refused.value) == message
    in_the_way.rename(f"{in_the_way}.moved")  # the fix it gives
    record = recent(1)
    with Producer(lake, durable=True, name="svc", now=NOW) as producer:
        producer.emit(record)
    assert stored_ids(lake) == [record["event_id"]]


def test_durable_failure_keeps_the_segment_for_the_next_producer(tmp_path):
    lake = Lake(tmp_path / "lake")
    spool = tmp_path / "spool"
    blocked = tmp_path / "lake" / "events"
    blocked.parent.mkdir()
    blocked.write_text("a file where the events folder should be")
    producer = Producer(lake, durable=True, spool_dir=spool, retries=0, now=NOW)
    producer.emit(recent(1, event_id="kept"))
    with pytest.raises(ProducerError, match="stay in spool"):
        producer.close()
    assert len([p for p in spool.glob("*.jsonl") if p.stat().st_size]) == 1
    blocked.unlink()
    with Producer(lake, durable=True, spool_dir=spool, now=NOW):
        pass
    assert stored_ids(lake) == ["kept"]


def test_a_producer_does_not_make_its_deleted_lake_again(tmp_path):
    # the lake deleted (or unmounted) under a running producer: its landings, and their
    # retries, made a lake there again (without its marker); they fail, and the spool keeps
    # the events for the next producer once the lake is back
    lake = Lake.create(tmp_path / "lake")
    spool = tmp_path / "spool"  # outside the lake, as one would put it on another disk
    producer = Producer(lake, durable=True, spool_dir=spool, retries=1, retry_delay=0.01,
                        flush_interval=3600, now=NOW)
    producer.emit(recent(1, event_id="first"))
    producer.flush()
    assert stored_ids(lake) == ["first"]
    shutil.rmtree(lake.root)
    producer.emit(recent(2, event_id="kept"))
    with pytest.raises(ProducerError, match="stay in spool") as raised:
        producer.close()
    assert f"no lake at {lake.root}; create it with voice-monitor init" in str(raised.value)
    assert not lake.root.exists()
    assert len([p for p in spool.glob("*.jsonl") if p.stat().st_size]) == 1
    Lake.create(lake.root)
    with Producer(lake, durable=True, spool_dir=spool, now=NOW):
        pass
    assert stored_ids(lake) == ["kept"]


def test_a_durable_producer_whose_spool_went_with_its_lake_loses_nothing_silently(tmp_path):
    # the default spool lies in the lake (<lake>/state/spool/default): the lake deleted under
    # the producer, emit() kept writing into a segment whose file was gone and answered as if
    # the events were kept (a failed rotation at most, named after that file), and went on
    # accepting events nobody would ever read
    lake = Lake.create(tmp_path / "a lake")  # the command it names quotes it
    producer = Producer(lake, durable=True, retries=0, flush_interval=3600, now=NOW)
    assert producer.spool_dir == lake.state_dir / "spool" / "default"
    accepted = []
    for i in range(3):
        producer.emit(recent(i, event_id=f"before-{i}"))
        accepted.append(f"before-{i}")
    producer.flush()
    assert sorted(stored_ids(lake)) == ["before-0", "before-1", "before-2"]
    shutil.rmtree(lake.root)  # mid-stream: the producer still open
    for i in range(2):
        producer.emit(recent(i, event_id=f"after-{i}"))  # into the spool's open segment
        accepted.append(f"after-{i}")
    with pytest.raises(ProducerError, match="its spool .* is gone"):
        producer.flush()  # the writer finds its spool gone
    with pytest.raises(ProducerError) as refused:
        producer.emit(recent(9, event_id="refused"))
    assert str(refused.value).startswith(
        f"producer 'default': its spool '{producer.spool_dir}' is gone (deleted or unmounted")
    assert f"(voice-monitor init '{tmp_path}/a lake') and start" in str(refused.value)
    assert "spool_dir outside the lake" in str(refused.value)
    with pytest.raises(ProducerError, match="their JSON texts are in producer.unlanded"):
        producer.close()
    # accepted after the deletion: 2, none in a lake or spool (both gone), both handed back
    assert not lake.root.exists()  # and no lake made again without its marker
    handed_back = sorted(json.loads(text)["event_id"] for text in producer.unlanded)
    assert handed_back == ["after-0", "after-1"] == accepted[3:]


def test_a_durable_producer_whose_spool_alone_was_deleted_lands_what_it_held(tmp_path):
    # only the spool deleted (the lake kept): what emit() had put there lands; later events
    # are refused. Counted: 2 before, 2 rescued from the deleted segment, 1 refused
    lake = Lake.create(tmp_path / "lake")
    producer = Producer(lake, durable=True, retries=0, flush_interval=3600, now=NOW)
    producer.emit(recent(1, event_id="a"))
    producer.emit(recent(2, event_id="b"))
    producer.flush()
    shutil.rmtree(producer.spool_dir)
    producer.emit(recent(3, event_id="c"))
    producer.emit(recent(4, event_id="d"))
    with pytest.raises(ProducerError, match="is gone"):
        producer.flush()
    with pytest.raises(ProducerError, match="is gone"):
        producer.emit(recent(5, event_id="e"))
    with pytest.raises(ProducerError, match="is gone"):
        producer.close()
    assert producer.unlanded == []
    assert sorted(stored_ids(lake)) == ["a", "b", "c", "d"]


FORGETFUL_CHILD = textwrap.dedent("""
    import sys
    from datetime import datetime
    from voice_monitor import Producer
    now = datetime.fromisoformat(sys.argv[2])
    p = Producer(sys.argv[1], flush_interval=3600, now=now)
    for i in range(5):
        p.emit({"event_id": f"f-{i}", "event_type": "artifact_received",
                "timestamp": int(now.timestamp() * 1000)})
    # no close(): the interpreter's exit must still land them
""")


def test_a_producer_not_closed_is_flushed_at_normal_exit(lake):
    subprocess.run([sys.executable, "-c", FORGETFUL_CHILD, str(lake.root), NOW.isoformat()],
                   check=True, timeout=120)
    assert sorted(stored_ids(lake)) == [f"f-{i}" for i in range(5)]


# -- batches validated ahead of their landing ------------------------------------------------

def test_batches_validated_ahead_land_in_order_with_copies_counted(lake):
    # 4 batches of 10 queued at once: each is validated while the one before is landed; the
    # last batch copies 5 events of the first (same id, same hour): duplicates, in input order
    records = [recent(i) for i in range(35)]
    copies = [dict(r) for r in records[:5]]
    with Producer(lake, batch_size=10, flush_interval=3600, now=NOW) as producer:
        for r in records + copies:
            producer.emit(r)
    assert (producer.stats.accepted, producer.stats.duplicates, producer.stats.batches) == (40, 5, 4)
    assert sorted(stored_ids(lake)) == sorted([r["event_id"] for r in records + copies])
    assert producer.errors == []


def test_a_batch_whose_validation_ahead_fails_is_landed_by_the_retry(lake, monkeypatch):
    calls = []

    def failing_check(*args, **kwargs):
        calls.append(1)
        raise OSError("no memory for the batch ahead")

    monkeypatch.setattr("voice_monitor.producer.check", failing_check)
    records = [recent(i) for i in range(25)]
    with Producer(lake, batch_size=10, flush_interval=3600, now=NOW) as producer:
        for r in records:
            producer.emit(r)
    assert len(calls) == 3  # each batch tried ahead, each landed the plain way
    assert sorted(stored_ids(lake)) == sorted(r["event_id"] for r in records)
    assert (producer.stats.accepted, producer.errors) == (25, [])


def test_a_batch_whose_validation_ahead_cannot_start_is_still_landed(lake, monkeypatch):
    # the connection for validating ahead fails to open once: the batch was already taken from
    # the queue, and must land through the landing's own validation (not be lost)
    from voice_monitor import producer as producer_module

    real, calls = producer_module.connect, []

    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise OSError("cannot open DuckDB (temp dir full)")
        return real()

    monkeypatch.setattr(producer_module, "connect", flaky)
    records = [recent(i) for i in range(10)]
    with Producer(lake, batch_size=10, flush_interval=3600, now=NOW) as producer:
        for r in records:
            producer.emit(r)
    assert sorted(stored_ids(lake)) == sorted(r["event_id"] for r in records)
    assert (producer.stats.accepted, producer.unlanded, producer.errors) == (10, [], [])


def test_connections_that_fail_to_open_early_and_ahead_leave_the_batch_to_the_landing(lake, monkeypatch):
    # the writer opens its DuckDB connections while the first batch fills; when that fails,
    # and opening one again to validate the batch ahead fails too, the landing opens its own
    # and validates the batch itself: nothing lost, no error
    from voice_monitor import producer as producer_module

    opened = []
    refusals = iter([OSError("temp dir full"), OSError("temp dir still full")])
    monkeypatch.setattr(producer_module, "connect", lambda: opened.append(1) or _refuse_or(
        next(refusals, None), connect))
    checks = []
    real_check = producer_module.check
    monkeypatch.setattr(producer_module, "check",
                        lambda *a, **k: checks.append(1) or real_check(*a, **k))
    records = [recent(i, event_id=f"early-{i}") for i in range(12)]
    producer = Producer(lake, batch_size=12, flush_interval=3600, now=NOW)
    for r in records:
        producer.emit(r)
    producer.close()
    assert (sorted(stored_ids(lake)), producer.stats.accepted) == (
        sorted(f"early-{i}" for i in range(12)), 12)
    # the third connection is the landing's; nothing was validated ahead
    assert (producer.unlanded, producer.errors, len(opened), checks) == ([], [], 3, [])


def _refuse_or(error: Exception | None, make):
    if error is not None:
        raise error
    return make()


def test_an_emit_that_close_overtakes_raises_and_loses_nothing(lake):
    # emit() takes no lock: close() may begin between its check and its append. The record is
    # then either landed (the writer's last look comes after) or not, and emit() raises: the
    # caller never believes an event queued that is not landed
    producer = Producer(lake, now=NOW, flush_interval=3600)

    class Overtaken(deque):
        def append(self, item):
            super().append(item)
            if item["event_id"] == "overtaken":
                producer._open = False  # close() begins right after this append

    producer._queue = Overtaken()
    producer.emit(recent(1, event_id="before"))
    with pytest.raises(ProducerError, match="was closed during emit"):
        producer.emit(recent(2, event_id="overtaken"))
    with pytest.raises(ProducerError, match="is closed; emit"):
        producer.emit(recent(3, event_id="after"))
    producer._open = True  # let close() run as it would have: it lands what the queue holds
    producer.close()
    assert sorted(stored_ids(lake)) == ["before", "overtaken"]


def test_a_spool_of_its_own_deleted_is_named_as_such_not_as_a_failed_landing(tmp_path):
    # a spool_dir outside the lake, deleted (the lake kept): its events land, and the message
    # said "1 landing(s) into ... failed after 0 retries (0 events not landed ...)" of a landing
    # that never failed, and blamed "the lake it lies in", advising a spool_dir outside the lake
    lake = Lake.create(tmp_path / "lake")
    spool = tmp_path / "spool"
    producer = flushed_by_hand(lake, spool)
    producer.emit(recent(1, event_id="a"))
    producer.flush()
    producer.emit(recent(2, event_id="b"))
    shutil.rmtree(spool)
    with pytest.raises(ProducerError) as raised:
        producer.flush()
    expected = (f"producer 'default': its spool {str(spool)!r} is gone (deleted or unmounted), "
                "so emit() refuses events from now on; those it had spooled are landed or in "
                "producer.unlanded. Start a new Producer")
    assert str(raised.value) == expected + " (0 events not landed; their JSON texts are in " \
                                           "producer.unlanded)"
    with pytest.raises(SpoolGoneError, match="is gone"):
        producer.emit(recent(3, event_id="c"))
    with pytest.raises(ProducerError, match="is gone"):
        producer.close()
    assert producer.stats.failed_batches == 0 and producer.unlanded == []
    assert sorted(stored_ids(lake)) == ["a", "b"]


def blocked_lake(tmp_path) -> tuple[Lake, object]:
    """A lake whose landings fail for good: a file where its events folder should be."""
    blocked = tmp_path / "lake" / "events"
    blocked.parent.mkdir()
    blocked.write_text("a file where the events folder should be")
    return Lake(tmp_path / "lake"), blocked


def flushed_by_hand(lake, spool) -> Producer:
    """A durable producer that lands only when flushed (or closed), and gives a failed landing
    up at once, its segment kept in `spool`."""
    return Producer(lake, durable=True, spool_dir=spool, retries=0, flush_interval=3600, now=NOW)


def kept_segments(spool) -> list:
    return [p for p in spool.glob("*.jsonl") if p.stat().st_size]


def kept_after_a_failed_flush(producer, spool, *events) -> Path:
    """Emit `events` and flush (the landing fails): the one segment newly kept for them."""
    before = set(kept_segments(spool))
    for one in events:
        producer.emit(one)
    with pytest.raises(ProducerError):
        producer.flush()
    [kept] = [p for p in kept_segments(spool) if p not in before]
    return kept


def test_a_segment_kept_after_a_failed_landing_is_handed_back_when_its_spool_goes(tmp_path):
    # a segment whose landing failed "stays in spool" for the next producer; the spool deleted
    # afterwards took it, and close() still said the 2 events stayed in a spool that was gone
    lake, _ = blocked_lake(tmp_path)
    spool = tmp_path / "spool"
    producer = flushed_by_hand(lake, spool)
    producer.emit(recent(1, event_id="a"))
    producer.emit(recent(2, event_id="b"))
    with pytest.raises(ProducerError, match="stay in spool"):
        producer.flush()
    assert len(kept_segments(spool)) == 1
    shutil.rmtree(spool)
    with pytest.raises(ProducerError) as raised:
        producer.close()
    message = str(raised.value)
    assert "(2 events not landed; their JSON texts are in producer.unlanded)" in message
    assert f"; and producer 'default': its spool {str(spool)!r} is gone" in message
    assert sorted(json.loads(text)["event_id"] for text in producer.unlanded) == ["a", "b"]
    assert producer.stats.unlanded == 2


def test_a_kept_segment_deleted_alone_is_handed_back_and_the_rest_stay(tmp_path):
    # two failed segments kept in the spool; one of them deleted by hand: its 1 event handed
    # back, the other segment's 2 events still in the spool, the message saying which is where
    lake, blocked = blocked_lake(tmp_path)
    spool = tmp_path / "spool"
    producer = flushed_by_hand(lake, spool)
    first = kept_after_a_failed_flush(producer, spool, recent(1, event_id="first"))
    kept_after_a_failed_flush(producer, spool, recent(2, event_id="second-a"),
                              recent(3, event_id="second-b"))
    first.unlink()
    with pytest.raises(ProducerError) as raised:
        producer.close()
    assert (f"(3 events not landed; 1 of them, their segment deleted from the spool since, are "
            f"in producer.unlanded (JSON texts); the others stay in spool {str(spool)!r}") \
        in str(raised.value)
    assert [json.loads(text)["event_id"] for text in producer.unlanded] == ["first"]
    blocked.unlink()
    with Producer(lake, durable=True, spool_dir=spool, now=NOW):
        pass
    assert sorted(stored_ids(lake)) == ["second-a", "second-b"]


def test_beyond_the_segments_held_open_a_deleted_one_is_named_with_its_count(tmp_path,
                                                                             monkeypatch):
    # a long outage must not use up the descriptors: beyond HELD_OPEN (here 1) a kept segment
    # is watched by its path only, and its loss is one line naming it and its count
    monkeypatch.setattr("voice_monitor.producer.HELD_OPEN", 1)
    lake, _ = blocked_lake(tmp_path)
    spool = tmp_path / "spool"
    producer = flushed_by_hand(lake, spool)
    kept_after_a_failed_flush(producer, spool, recent(1, event_id="held"))
    named = kept_after_a_failed_flush(
        producer, spool, *(recent(2 + i, event_id=f"named-{i}") for i in range(3)))
    shutil.rmtree(spool)
    with pytest.raises(ProducerError) as raised:
        producer.close()
    assert (f"; and producer 'default': spool segment {str(named)!r} was deleted before its 3 "
            "events landed (its landing had failed); they are lost") in str(raised.value)
    assert [json.loads(text)["event_id"] for text in producer.unlanded] == ["held"]


def test_a_spool_deleted_between_rotation_and_reading_loses_no_segment(tmp_path, monkeypatch):
    # the writer closed a segment, then read it back by its path: deleted in between (with its
    # folder), the segment was dropped ("FileNotFoundError" at close(), nothing in unlanded)
    from voice_monitor.spool import Spool

    lake = Lake.create(tmp_path / "lake")
    spool = tmp_path / "spool"
    rotate = Spool.rotate

    def rotate_then_delete(self):  # the deletion at the worst moment, on real files
        closed = rotate(self)
        shutil.rmtree(self.directory)
        return closed

    monkeypatch.setattr(Spool, "rotate", rotate_then_delete)
    producer = flushed_by_hand(lake, spool)
    producer.emit(recent(1, event_id="a"))
    producer.emit(recent(2, event_id="b"))
    producer.flush()
    assert sorted(stored_ids(lake)) == ["a", "b"]
    with pytest.raises(ProducerError, match="is gone"):
        producer.close()
    assert producer.errors and all(isinstance(e, SpoolGoneError) for e in producer.errors)
    assert producer.unlanded == []


def test_a_leftover_segment_deleted_before_it_was_read_is_named_with_its_size(tmp_path):
    lake = Lake.create(tmp_path / "lake")
    spool = tmp_path / "spool"
    spool.mkdir()
    line = json.dumps(recent(1, event_id="left")) + "\n"
    leftover = spool / "00000000000000000001-1-000001.jsonl"
    leftover.write_text(line)
    producer = flushed_by_hand(lake, spool)
    leftover.unlink()  # before the writer's first round (flush_interval: an hour)
    with pytest.raises(ProducerError) as raised:
        producer.close()
    assert str(raised.value) == (
        f"producer 'default': spool segment {str(leftover)!r}, left by an earlier producer "
        f"({len(line.encode())} bytes), was deleted before it was read; its events are lost")
