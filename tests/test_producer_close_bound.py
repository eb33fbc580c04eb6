"""close() is bounded when the collector is down: `close_timeout` (a durable producer's default: 10 s).

With the defaults a batch to a collector that is down was retried 8 times over ~92 s before
close() returned, also at interpreter exit; a collector that accepts and never answers held
each attempt for the 60 s request timeout. What close() gives up stays in the spool.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap

import pytest
from conftest import NOW, event
from server_process import INGEST, ServerProcess, free_port

from voice_monitor import Producer
from voice_monitor.producer import ProducerError

pytestmark = pytest.mark.slow


def spooled_ids(spool) -> list[str]:
    return sorted(json.loads(line)["event_id"] for f in spool.glob("*.jsonl")
                  for line in f.read_text().splitlines())


def test_close_gives_up_at_its_timeout_and_the_spool_keeps_the_events(tmp_path):
    spool = tmp_path / "spool"
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens
    producer = Producer(url=url, token=INGEST, durable=True, spool_dir=spool, close_timeout=0)
    for i in range(3):
        producer.emit(event("artifact_received", NOW, event_id=f"e{i}"))
    with pytest.raises(ProducerError) as raised:
        producer.close()
    assert producer.stats.retries == 0  # 8 by default: a pause would end past the deadline
    assert (f"1 landing(s) into '{url}' failed, retried until close()'s close_timeout of 0 s "
            f"(3 events not landed; they stay in spool '{spool}'") in str(raised.value)
    assert spooled_ids(spool) == ["e0", "e1", "e2"]
    with ServerProcess(tmp_path / "lake", log=tmp_path / "server.log") as server:
        again = Producer(url=server.url, token=INGEST, durable=True, spool_dir=spool)
        again.close()
    assert (again.stats.accepted, spooled_ids(spool)) == (3, [])


def test_a_collector_that_never_answers_holds_close_no_longer_than_its_timeout(tmp_path):
    # the kernel completes the connection (listen backlog); nothing reads or answers: each
    # attempt waited for the 60 s request timeout, nine of them
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        producer = Producer(url=url, token=INGEST, flush_interval=3600, close_timeout=0)
        producer.emit(event("artifact_received", NOW, event_id="silent"))
        with pytest.raises(ProducerError) as raised:
            producer.close()
    assert producer.stats.retries == 0
    assert "ReadTimeout" in str(raised.value) or "timed out" in str(raised.value)
    assert [json.loads(text)["event_id"] for text in producer.unlanded] == ["silent"]


def test_at_interpreter_exit_an_unclosed_producer_stops_retrying_at_the_default_timeout(
        tmp_path):
    spool = tmp_path / "spool"
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens
    script = textwrap.dedent(f"""
        from voice_monitor import Producer
        producer = Producer(url={url!r}, token="ingest-token-0123456789abcdef", durable=True,
                            spool_dir={str(spool)!r}, flush_interval=3600)
        producer.emit({{"event_id": "at-exit", "event_type": "artifact_received",
                        "timestamp": "2026-02-16T14:00:00Z"}})
        # no close(): atexit closes it
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    # retried 0.5 + 1 + 2 + 4 s, then the next pause (8 s) would end past 10 s: given up
    assert "retried until close()'s close_timeout of 10 s" in done.stderr
    assert spooled_ids(spool) == ["at-exit"]


@pytest.mark.parametrize("value", [-1, float("nan"), "10", True])
def test_a_close_timeout_that_is_no_number_of_seconds_is_refused(value):
    with pytest.raises(ValueError) as raised:
        Producer(url="http://127.0.0.1:9", token=INGEST, close_timeout=value)
    assert str(raised.value) == (f"close_timeout {value!r} must be a number of seconds >= 0, "
                                 "e.g. 10, or None to retry through every retry at close()")


@pytest.mark.parametrize("durable", [True, False])
def test_by_default_only_a_durable_producer_gives_up_at_close(tmp_path, monkeypatch, durable):
    # what a durable producer gives up waits in its spool; a memory producer's would be lost at
    # exit, so by default it goes through every retry. A first pause of 20 s ends past the
    # durable default's 10 s: given up at once there; in memory it is waited (patched: no sleep)
    from voice_monitor import producer as producer_module

    slept: list[float] = []
    monkeypatch.setattr(producer_module, "_sleep",
                        lambda seconds, until: slept.append(seconds) or False)
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens
    spool = {"durable": True, "spool_dir": tmp_path / "spool"} if durable else {}
    producer = Producer(url=url, token=INGEST, retries=2, retry_delay=20, flush_interval=3600,
                        **spool)
    sent = event("artifact_received", NOW)
    producer.emit(sent)
    with pytest.raises(ProducerError) as raised:
        producer.close()
    if durable:
        assert "retried until close()'s close_timeout of 10 s" in str(raised.value)
        assert slept == []
        assert spooled_ids(tmp_path / "spool") == [sent["event_id"]]
    else:
        assert "failed after 2 retries" in str(raised.value)
        assert slept == [20, 30]  # both pauses (the second capped at 30 s), each waited in full
