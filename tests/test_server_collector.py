"""The collector as real `voice-monitor serve` processes: overload, kill -9, SIGTERM, two servers
on one lake, and a remote Producer that starts before its collector."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta

import duckdb
import httpx
import pytest
from server_process import INGEST, SCRIPT, STAFF, ServerProcess, bearer

from voice_monitor import Producer
from voice_monitor.lake import Lake

pytestmark = pytest.mark.slow
HEADERS = {**bearer(INGEST), "Content-Type": "application/x-ndjson"}


def batch(prefix: str, n: int) -> bytes:
    """n valid events stamped a minute ago (the server lands with its own clock)."""
    at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    return b"".join(json.dumps({"event_id": f"{prefix}-{i}", "event_type": "artifact_received",
                                "timestamp": at}).encode() + b"\n" for i in range(n))


def landed_ids(lake: Lake) -> list[str]:
    files = [str(f) for f in lake.events_dir.rglob("*.parquet")]
    if not files:
        return []
    con = duckdb.connect()
    return [r[0] for r in con.execute("select event_id from read_parquet($f)", {"f": files}).fetchall()]


def test_overload_is_refused_with_retry_after_and_nothing_accepted_is_lost(tmp_path):
    lake = Lake(tmp_path / "lake")
    answers: list[tuple[int, str, dict]] = []
    with ServerProcess(lake, "--queue-size", "0", "--landing-threads", "1",
                       log=tmp_path / "log") as server:
        def post(k: int) -> None:
            with httpx.Client(timeout=120) as http:
                response = http.post(server.url + "/v1/events", content=batch(f"o{k}", 2000),
                                     headers=HEADERS)
                answers.append((response.status_code, f"o{k}", dict(response.headers)))

        threads = [threading.Thread(target=post, args=(k,)) for k in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    codes = sorted(code for code, _, _ in answers)
    assert set(codes) == {200, 503}  # one place: the first in lands, the others are refused
    assert all(h["retry-after"] == "1" for code, _, h in answers if code == 503)
    accepted = {p for code, p, _ in answers if code == 200}
    ids = landed_ids(lake)
    assert sorted({i.rsplit("-", 1)[0] for i in ids}) == sorted(accepted)
    assert len(ids) == 2000 * len(accepted)


def test_a_queue_of_0_lands_batches_one_at_a_time_at_the_largest_body_cap(tmp_path):
    # --queue-size 0 is no queue, not a server that refuses everything: a batch lands in each
    # landing thread (the test above: a second at once is 503); posted one after another, each
    # lands. The largest --max-body-bytes takes gzip bodies (2**63 was a 500: zlib's ssize_t)
    import gzip

    lake = Lake(tmp_path / "lake")
    with ServerProcess(lake, "--queue-size", "0", "--max-body-bytes", str(512 * 1024 * 1024),
                       log=tmp_path / "log") as server, httpx.Client(timeout=60) as http:
        for k in range(3):
            response = http.post(server.url + "/v1/events", content=batch(f"q{k}", 10),
                                 headers=HEADERS)
            assert (response.status_code, response.json()) == (
                200, {"accepted": 10, "duplicates": 0, "quarantined": 0})
        response = http.post(server.url + "/v1/events", content=gzip.compress(batch("gz", 7)),
                             headers={**HEADERS, "Content-Encoding": "gzip"})
        assert (response.status_code, response.json()) == (
            200, {"accepted": 7, "duplicates": 0, "quarantined": 0})
    assert len(landed_ids(lake)) == 37


def test_kill_9_mid_batch_loses_nothing_that_was_acknowledged(tmp_path):
    lake = Lake(tmp_path / "lake")
    server = ServerProcess(lake, log=tmp_path / "log").start()
    acked: list[str] = []
    stop = threading.Event()

    def sender(name: str) -> None:
        with httpx.Client(timeout=120) as http:
            k = 0
            while not stop.is_set():
                prefix = f"{name}{k}"
                try:
                    response = http.post(server.url + "/v1/events", content=batch(prefix, 500),
                                         headers=HEADERS)
                except httpx.TransportError:
                    return  # the server died under us: this batch was never acknowledged
                if response.status_code == 200:
                    assert response.json()["accepted"] == 500
                    acked.append(prefix)
                k += 1

    threads = [threading.Thread(target=sender, args=(name,)) for name in "abc"]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 120
    while len(acked) < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.stop(signal.SIGKILL)
    stop.set()
    for thread in threads:
        thread.join()
    assert len(acked) >= 6
    ids = set(landed_ids(lake))  # every file in the lake is whole: it reads
    for prefix in acked:
        assert {f"{prefix}-{i}" for i in range(500)} <= ids, f"acknowledged batch {prefix} lost"


def test_sigterm_lands_the_batches_in_flight(tmp_path):
    lake = Lake(tmp_path / "lake")
    server = ServerProcess(lake, log=tmp_path / "log").start()
    answers: list[tuple[str, int]] = []

    def post(prefix: str) -> None:
        try:
            response = httpx.post(server.url + "/v1/events", content=batch(prefix, 3000),
                                  headers=HEADERS, timeout=120)
            answers.append((prefix, response.status_code))
        except httpx.TransportError:
            answers.append((prefix, 0))

    threads = [threading.Thread(target=post, args=(f"t{k}",)) for k in range(4)]
    for thread in threads:
        thread.start()
    in_flight, deadline = 0, time.monotonic() + 60
    while not in_flight and time.monotonic() < deadline:
        scrape = httpx.get(server.url + "/metrics", headers=bearer(STAFF), timeout=60).text
        in_flight = int(float(re.search(r"^voice_monitor_collector_queue_batches (\S+)$", scrape,
                                        re.M).group(1)))
    assert in_flight >= 1  # batches admitted and not yet answered
    # a clean stop is exit 0 (uvicorn re-raises SIGTERM after its shutdown: -15 to a supervisor)
    assert server.stop(signal.SIGTERM) == 0, server.output()
    for thread in threads:
        thread.join()
    ids = set(landed_ids(lake))
    answered = [p for p, code in answers if code == 200]
    assert len(answered) >= in_flight, answers  # every batch in flight at SIGTERM was answered
    assert {code for _, code in answers} <= {200, 0}  # answered ones succeeded; none cut off
    for prefix in answered:
        assert {f"{prefix}-{i}" for i in range(3000)} <= ids


def test_two_servers_on_one_lake_count_exactly(tmp_path):
    lake = Lake(tmp_path / "lake")
    with ServerProcess(lake, log=tmp_path / "a.log") as one, \
            ServerProcess(lake, log=tmp_path / "b.log") as two:
        results: dict[str, list[dict]] = {"one": [], "two": []}

        def send(name: str, url: str) -> None:
            with httpx.Client(timeout=120) as http:
                for k in range(6):
                    body = batch(f"{name}{k}", 400) + batch("shared", 100)
                    results[name].append(http.post(url + "/v1/events", content=body,
                                                   headers=HEADERS).json())

        threads = [threading.Thread(target=send, args=("one", one.url)),
                   threading.Thread(target=send, args=("two", two.url))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        stats = [httpx.get(s.url + "/api/v1/metrics/realtime",
                           headers=bearer(STAFF), timeout=60).json()
                 for s in (one, two)]
    answers = results["one"] + results["two"]
    assert sum(a["accepted"] for a in answers) == 12 * 500  # every record accepted
    assert sum(a["quarantined"] for a in answers) == 0
    ids = landed_ids(lake)
    assert len(ids) == 12 * 500  # the raw log keeps every copy
    # distinct: 12 x 400 own ids + the 100 shared ids sent by every batch
    assert len(set(ids)) == 12 * 400 + 100
    # the shared counters count each distinct event once, whichever server landed it
    assert stats[0]["artifacts_received"] == stats[1]["artifacts_received"] == 12 * 400 + 100


def test_remote_producer_waits_out_a_collector_that_is_not_up_yet(tmp_path):
    lake = Lake(tmp_path / "lake")
    server = ServerProcess(lake, log=tmp_path / "log")  # its port is chosen, nothing listens yet
    producer = Producer(url=server.url, token=INGEST, durable=True, spool_dir=tmp_path / "spool",
                        name="remote", batch_size=50, flush_interval=0.2, retry_delay=0.5,
                        retries=12)
    at = datetime.now(UTC) - timedelta(minutes=1)
    for i in range(120):
        producer.emit({"eventId": f"p-{i}", "eventType": "artifact_received",
                       "timestamp": at.isoformat().replace("+00:00", "Z")})
    time.sleep(1.5)  # the writer tries, fails, backs off
    assert producer.stats.retries >= 1
    assert list((tmp_path / "spool").glob("*.jsonl"))  # kept until acknowledged
    with server:
        producer.close()
    assert (producer.stats.accepted, producer.stats.quarantined) == (120, 0)
    assert sorted(landed_ids(lake)) == sorted(f"p-{i}" for i in range(120))
    assert not list((tmp_path / "spool").glob("*.jsonl"))  # acknowledged segments are gone


def test_remote_producer_refusals_of_numbers_name_the_field_as_a_file_would(tmp_path):
    # NaN and Infinity are refused by the producer; sent to a collector they must be refused
    # naming the field, as `ingest` refuses the same record in a file (not as unreadable JSON)
    at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    head = '{"event_id":"%s","event_type":"transcription_completed","timestamp":"%s",'
    lines = [head % ("n1", at) + '"duration_ms":NaN}',
             head % ("n2", at) + '"metadata":{"confidence_score":Infinity,"ai_model":"m"}}']
    by_file = ingested_by_file(tmp_path, "\n".join(lines) + "\n")
    lake = Lake(tmp_path / "lake")
    with ServerProcess(lake, log=tmp_path / "log") as server:
        producer = Producer(url=server.url, token=INGEST, batch_size=10, flush_interval=0.2)
        producer.emit({"event_id": "n1", "event_type": "transcription_completed",
                       "timestamp": at, "duration_ms": float("nan")})
        producer.emit({"event_id": "n2", "event_type": "transcription_completed",
                       "timestamp": at, "metadata": {"confidence_score": float("inf"),
                                                     "ai_model": "m"}})
        producer.close()
    assert (producer.stats.accepted, producer.stats.quarantined) == (0, 2)
    sent, filed = quarantine_reasons(lake), quarantine_reasons(by_file)
    assert sent == filed
    assert "duration_ms" in sent["n1"] and "confidence_score" in sent["n2"]


def test_remote_producer_lands_a_record_with_a_datetime_and_a_huge_number_as_a_file_does(
        tmp_path):
    # orjson writes a datetime itself but no integer over 64 bits; the JSON fallback for such a
    # record could not write the datetime, so the record was quarantined as "record cannot be
    # written as JSON ()" (and a NaN beside a datetime got the producer's reason, not a file's)
    at = datetime.now(UTC) - timedelta(minutes=1)
    text = at.isoformat().replace("+00:00", "Z")
    head = '{"event_id":"%s","event_type":"transcription_completed","timestamp":"%s",'
    by_file = ingested_by_file(
        tmp_path, head % ("huge", text) + '"duration_ms":1000000000000000000000000000000}\n'
        + head % ("meta", text) + '"metadata":{"note":100000000000000000000}}\n'
        + head % ("nan", text) + '"duration_ms":NaN}\n')
    lake = Lake(tmp_path / "lake")
    with ServerProcess(lake, log=tmp_path / "log") as server:
        producer = Producer(url=server.url, token=INGEST, batch_size=10, flush_interval=0.2)
        for event_id, fields in (("huge", {"duration_ms": 10**30}),
                                 ("meta", {"metadata": {"note": 10**20}}),
                                 ("nan", {"duration_ms": float("nan")})):
            producer.emit({"event_id": event_id, "event_type": "transcription_completed",
                           "timestamp": at, **fields})  # a datetime, not a string
        producer.close()
    assert (producer.stats.accepted, producer.stats.quarantined) == (2, 1)
    query = ("select event_id, duration_ms, metadata from read_parquet($f) order by event_id")
    rows = duckdb.connect().execute(
        query, {"f": [str(f) for f in lake.events_dir.rglob("*.parquet")]}).fetchall()
    assert rows == [("huge", 1e30, None), ("meta", None, '{"note":100000000000000000000}')]
    assert quarantine_reasons(lake) == quarantine_reasons(by_file)
    assert "duration_ms" in quarantine_reasons(lake)["nan"]


def ingested_by_file(tmp_path, text: str) -> Lake:
    """A lake made by `voice-monitor ingest` of a file holding `text`: what a producer's
    records must come to when sent to a collector."""
    (tmp_path / "by-file.jsonl").write_text(text)
    by_file = Lake(tmp_path / "by-file")
    ingested = subprocess.run([str(SCRIPT), "ingest", str(tmp_path / "by-file.jsonl"), "--lake",
                               str(by_file.root)], capture_output=True, text=True, timeout=300)
    assert ingested.returncode == 0, ingested.stderr
    return by_file


def quarantine_reasons(lake: Lake) -> dict[str, str]:
    files = [str(f) for f in lake.quarantine_dir.rglob("*.parquet")]
    rows = duckdb.connect().execute("select raw, reason from read_parquet($f)",
                                    {"f": files}).fetchall()
    # (the id read off the raw text, whether JSON or a Python repr)
    return {re.search(r"""["']event_id["']: ?["'](\w+)""", raw).group(1): reason
            for raw, reason in rows}


class _NotJson:
    """An object JSON cannot hold (the producer refuses it naming the field)."""


def test_remote_producer_refusals_of_values_json_cannot_hold_name_the_field_as_landing_locally(
        tmp_path):
    """bytes, a set, a non-string key, an object, a lone surrogate: the producer refuses the
    record naming the field and the rule; sent to a collector its repr reached quarantine as
    "record is not valid JSON". Now the collector quarantines it with the reason the local
    producer gives, in memory and durable mode, and its neighbours in the batch land."""
    at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat().replace("+00:00", "Z")

    def records(prefix: str) -> list[dict]:
        def one(name: str, **fields) -> dict:
            return {"event_id": f"{prefix}{name}", "event_type": "artifact_received",
                    "timestamp": at, **fields}
        return [one("ok1"), one("bytes", error_code=b"E1"), one("set", metadata={"tags": {1, 2}}),
                one("key", metadata={1: "a"}), one("object", metadata={"x": _NotJson()}),
                one("surrogate", error_code="a\ud800"), one("ok2")]

    # the reasons, written out by hand (docs/landing.md, "Python values")
    expected = {"bytes": "error_code is bytes, not JSON; send text (decode the bytes)",
                "set": "metadata.tags is a set, not JSON; send a list",
                "key": "metadata has the key 1 of type int; JSON keys are strings",
                "object": "metadata.x is a _NotJson, not JSON; send a string, number, list or "
                          "mapping",
                "surrogate": "error_code is not valid UTF-8 (it holds a lone surrogate)"}
    local = Lake(tmp_path / "local")
    with Producer(local, flush_interval=0.2) as producer:
        for r in records(""):
            producer.emit(r)
    assert quarantine_reasons(local) == expected
    lake = Lake(tmp_path / "lake")
    with ServerProcess(lake, log=tmp_path / "log") as server:
        spool = {"durable": True, "spool_dir": tmp_path / "spool"}
        for prefix, durable in (("m_", {}), ("d_", spool)):
            producer = Producer(url=server.url, token=INGEST, batch_size=50, flush_interval=0.2,
                                **durable)
            for r in records(prefix):
                producer.emit(r)
            producer.close()
            assert (producer.stats.accepted, producer.stats.quarantined) == (2, 5)
        # a marked line sent by hand, uncompressed (split by the landing itself), is read so too
        marked = (b'\x00rejected\t["{\'event_id\': \'h_set\'}",'
                  b'"metadata.tags is a set, not JSON; send a list"]')
        answer = httpx.post(server.url + "/v1/events", headers=HEADERS,
                            content=batch("h", 1) + marked + b"\n")
        assert answer.json() == {"accepted": 1, "duplicates": 0, "quarantined": 1}
    sent = quarantine_reasons(lake)
    assert sent == {**{"m_" + k: v for k, v in expected.items()},
                    **{"d_" + k: v for k, v in expected.items()},
                    "h_set": expected["set"]}
    assert sorted(landed_ids(lake)) == ["d_ok1", "d_ok2", "h-0", "m_ok1", "m_ok2"]


def test_remote_producer_does_not_retry_a_refusal(tmp_path):
    lake = Lake(tmp_path / "lake")
    with ServerProcess(lake, log=tmp_path / "log") as server:
        producer = Producer(url=server.url, token="not-a-token-0123456789", batch_size=10,
                            retry_delay=5)
        producer.emit({"event_id": "x", "event_type": "artifact_received",
                       "timestamp": datetime.now(UTC).isoformat()})
        with pytest.raises(Exception, match=r"refused the batch \(401\)"):
            producer.close()
    assert producer.stats.retries == 0
    assert len(producer.unlanded) == 1


@pytest.mark.parametrize("durable", [False, True])
def test_remote_producer_splits_a_batch_over_the_collectors_size_cap(tmp_path, durable):
    """A batch of valid events over the collector's cap (413) failed at once with every event
    unlanded, though each event was far under the cap: the producer now sends it in halves
    until each part fits. Only a single event over the cap by itself stays refused."""
    lake = Lake(tmp_path / "lake")
    at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    spool = {"durable": True, "spool_dir": tmp_path / "spool"} if durable else {}
    # 40 events of ~2,100 bytes each: ~84 KB a batch against a cap of 20,000 bytes
    with ServerProcess(lake, "--max-body-bytes", "20000", log=tmp_path / "log") as server:
        producer = Producer(url=server.url, token=INGEST, batch_size=40, flush_interval=0.2,
                            **spool)
        for i in range(40):
            producer.emit({"event_id": f"s-{i}", "event_type": "artifact_received",
                           "timestamp": at, "metadata": {"note": f"{i:04d}" * 500}})
        producer.emit({"event_id": "huge", "event_type": "artifact_received", "timestamp": at,
                       "metadata": {"note": "y" * 30_000}})  # over the cap alone
        with pytest.raises(Exception, match=r"refused the batch \(413\)"):
            producer.close()
    assert producer.stats.accepted == 40
    assert sorted(landed_ids(lake)) == sorted(f"s-{i}" for i in range(40))
    assert producer.stats.unlanded == 1
    if not durable:
        assert [json.loads(line)["event_id"] for line in producer.unlanded] == ["huge"]


def test_a_durable_producer_sets_aside_an_event_over_the_cap_by_itself(tmp_path):
    """An event the collector refuses as too large even alone (413) kept its whole spool segment
    in the spool: every later start sent the segment again and failed on that event again, for
    ever. Now the event is set aside in a file of its own under <spool_dir>/too-large/ (named
    in the error, never sent again) and the rest of the segment is acknowledged and deleted."""
    lake, spool = Lake(tmp_path / "lake"), tmp_path / "spool"
    at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    huge = {"event_id": "huge", "event_type": "artifact_received", "timestamp": at,
            "metadata": {"note": "y" * 30_000}}  # ~30 KB against a cap of 20,000 bytes
    with ServerProcess(lake, "--max-body-bytes", "20000", log=tmp_path / "log") as server:
        producer = Producer(url=server.url, token=INGEST, batch_size=10, flush_interval=0.2,
                            durable=True, spool_dir=spool)
        for i in range(3):
            producer.emit({"event_id": f"s-{i}", "event_type": "artifact_received",
                           "timestamp": at})
        producer.emit(huge)
        producer.emit({"event_id": "s-3", "event_type": "artifact_received", "timestamp": at})
        with pytest.raises(Exception, match=r"refused the batch \(413\)") as raised:
            producer.close()
        (aside,) = (spool / "too-large").iterdir()
        assert str(aside) in str(raised.value) and "never sent again" in str(raised.value)
        assert [json.loads(line) for line in aside.read_text().splitlines()] == [huge]
        assert sorted(p.name for p in spool.glob("*.jsonl")) == []  # the segment is gone
        assert (producer.stats.accepted, producer.stats.set_aside) == (4, 1)
        # a producer started on the same spool has nothing to send, and nothing fails
        again = Producer(url=server.url, token=INGEST, flush_interval=0.2, durable=True,
                         spool_dir=spool)
        again.close()
        assert again.stats.taken == 0 and again.errors == []
    assert sorted(landed_ids(lake)) == ["s-0", "s-1", "s-2", "s-3"]
    assert list((spool / "too-large").iterdir()) == [aside]  # still there, for the user
