"""A producer pointed at a wrong collector url says so at once, its events kept.

A url that no retry can fix (an https:// url to the collector's plain HTTP, a path that is not
the collector's, an address no request can go to) failed only after every retry, about 90 s
with the default settings, or not at all where it raised past them; a fault that may pass (a
name that does not resolve, nothing listening) is retried as before, but said at once.
"""

from __future__ import annotations

import json
import logging

import pytest
from conftest import NOW, event
from server_process import INGEST, ServerProcess

from voice_monitor import Producer
from voice_monitor import producer as producer_module
from voice_monitor.producer import ProducerError

pytestmark = pytest.mark.slow


def spooled_ids(spool) -> list[str]:
    return sorted(json.loads(line)["event_id"] for f in spool.glob("*.jsonl")
                  for line in f.read_text().splitlines())


@pytest.mark.parametrize("wrong, said", [
    (lambda url: url.replace("http://", "https://"),
     "the TLS handshake failed (WRONG_VERSION_NUMBER); if the collector serves plain HTTP "
     "(voice-monitor serve does, unless behind a TLS proxy), use an http:// url"),
    (lambda url: url + "/collector",
     "refused the batch (404): no such path '/collector/v1/events'"),
])
def test_a_wrong_url_fails_at_once_naming_it_and_the_spool_keeps_the_events(
        tmp_path, wrong, said):
    spool = tmp_path / "spool"
    with ServerProcess(tmp_path / "lake", log=tmp_path / "server.log") as server:
        url = wrong(server.url)
        producer = Producer(url=url, token=INGEST, durable=True, spool_dir=spool)
        producer.emit(event("artifact_received", NOW, event_id="kept"))
        with pytest.raises(ProducerError) as raised:
            producer.close()
        assert producer.stats.retries == 0  # 8 retries by default, ~90 s: none
        message = str(raised.value)
        assert f"into '{url}' failed at once (a refusal that retrying cannot fix)" in message
        assert f"cannot reach collector {url}: {said}" in message or (
            f"collector {url} {said}" in message
            and "check that url= is the address of voice-monitor serve, e.g. "
                "'http://collector:8787'" in message)
        assert spooled_ids(spool) == ["kept"]
        # the url put right, the next start sends what the spool kept
        again = Producer(url=server.url, token=INGEST, durable=True, spool_dir=spool)
        again.close()
    assert (again.stats.accepted, spooled_ids(spool)) == (1, [])


@pytest.mark.parametrize("url, reason", [
    ("http://collector:87x87", "is not a valid address (Port could not be cast to integer "
                               "value as '87x87')"),
    ("http://collector:99999", "is not a valid address (Port out of range 0-65535)"),
    ("http://[::1", "is not a valid address (Invalid IPv6 URL)"),
    ("http:///v1/events", "names no valid host"),
    ("http://collector host:8787", "names no valid host"),
])
def test_a_url_no_request_can_go_to_is_refused_by_the_constructor(url, reason):
    with pytest.raises(ValueError) as raised:
        Producer(url=url, token=INGEST)
    assert str(raised.value).startswith(f"collector url {url!r} {reason}")
    assert str(raised.value).endswith("give scheme://host:port, e.g. 'http://collector:8787'")


def test_a_name_that_does_not_resolve_is_retried_and_said_at_once(monkeypatch, caplog):
    # it may resolve later (a container restarting drops its name from Docker's DNS): retried,
    # but the first failure is logged before the first backoff, not after all of them
    said_before_backoff: list[list[str]] = []
    monkeypatch.setattr(producer_module, "_sleep", lambda seconds, until: said_before_backoff
                        .append([r.getMessage() for r in caplog.records]))
    caplog.set_level(logging.WARNING, logger="voice_monitor.producer")
    producer = Producer(url="http://collector.invalid:8787", token=INGEST, retries=2)
    producer.emit(event("artifact_received", NOW))
    with pytest.raises(ProducerError, match="failed after 2 retries"):
        producer.close()
    assert producer.stats.retries == 2
    first = said_before_backoff[0]
    assert len(first) == 1 and first[0].startswith(
        "producer 'default': a batch of 1 events into 'http://collector.invalid:8787' failed "
        "(cannot reach collector http://collector.invalid:8787: ")
    assert first[0].endswith("retrying up to 2 times with backoff, its events kept in memory")
