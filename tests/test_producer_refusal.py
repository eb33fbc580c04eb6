"""A producer refused by the collector (a wrong token) says it gave up at once, as it did.

Its error said "failed after 8 retries" although a 401 is never retried (stats.retries 0).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from conftest import NOW, event
from server_process import INGEST, ServerProcess

from voice_monitor import Producer
from voice_monitor import producer as producer_module
from voice_monitor.producer import ProducerError

pytestmark = pytest.mark.slow


@contextlib.contextmanager
def answering(respond) -> Iterator[str]:
    """A web server on 127.0.0.1 (a proxy, or a page that is not the collector) answering
    each POST with respond(path, body, headers) -> (status, body, headers); yields its url."""
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status, answer, headers = respond(self.path, body, self.headers)
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(answer))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    site = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{site.server_address[1]}"
    finally:
        site.shutdown()
        site.server_close()


def test_a_wrong_token_fails_at_once_and_says_so(tmp_path):
    with ServerProcess(tmp_path / "lake", log=tmp_path / "server.log") as server:
        producer = Producer(url=server.url, token="wrong-token-0123456789abcdef")
        producer.emit(event("artifact_received", NOW))
        with pytest.raises(ProducerError) as raised:
            producer.close()
    message = str(raised.value)
    assert "failed at once (a refusal that retrying cannot fix) (1 events not landed" in message
    assert "(401)" in message and "retries" not in message.split("(1 events")[0]
    assert producer.stats.retries == 0 and producer.stats.unlanded == 1


def test_a_retry_after_of_a_day_waits_no_longer_than_the_longest_backoff(monkeypatch):
    # a proxy or load balancer in front of the collector answering 503 with Retry-After: 86400
    # (maintenance) had each retry sleep a day: close(), and the interpreter's exit, hung
    slept: list[float] = []
    monkeypatch.setattr(producer_module, "_sleep", lambda seconds, until: slept.append(seconds))
    busy = (503, b'{"detail": "down for maintenance"}',
            {"Retry-After": "86400", "Content-Type": "application/json"})
    with answering(lambda path, body, headers: busy) as url:
        # (close_timeout None: every retry, the cap alone bounding each pause; a durable
        # producer's close() gives up at 10 s by default, before such a pause)
        producer = Producer(url=url, token="ingest-0123456789abcdef", retries=2, retry_delay=0.5,
                            close_timeout=None)
        producer.emit(event("artifact_received", NOW))
        with pytest.raises(ProducerError, match="1 events not landed"):
            producer.close()
    # backoff 0.5 s then 1 s, each raised to the hint, which counts as at most 30 s
    assert slept == [30.0, 30.0]
    assert producer.stats.unlanded == 1 and len(producer.unlanded) == 1


def test_a_token_read_with_its_newline_is_sent_as_the_server_reads_it(tmp_path):
    # Path("token").read_text() keeps the newline: httpx refused the header at each post, and
    # the producer said "cannot reach collector" after retrying it as a network fault
    with ServerProcess(tmp_path / "lake", log=tmp_path / "server.log") as server:
        producer = Producer(url=server.url, token=INGEST + "\n", retries=0)
        producer.emit(event("artifact_received", NOW, event_id="nl"))
        producer.close()
    assert (producer.stats.accepted, producer.stats.unlanded) == (1, 0)


@pytest.mark.parametrize("token", ["ingest\x00token-0123456789a", "ïngest-token-01234567890"])
def test_a_token_no_header_can_carry_is_refused_at_once_without_naming_it(token):
    with pytest.raises(ValueError) as raised:
        Producer(url="http://127.0.0.1:9", token=token)
    assert str(raised.value) == (
        "token (24 characters) holds a character an HTTP header cannot carry (a control "
        "character such as a newline or NUL, or one that is not ASCII); pass the ingest token "
        "exactly as the collector's VOICE_MONITOR_INGEST_TOKENS or --tokens-file holds it")


def test_a_200_that_is_not_a_collectors_answer_is_said_so():
    # a url that is not the collector's (a web server answering any POST with a page): the
    # producer's error was "first error: KeyError('accepted')" or a JSONDecodeError
    page = (200, b"<html>welcome</html>", {"Content-Type": "text/html"})
    with answering(lambda path, body, headers: page) as url:
        producer = Producer(url=url, token="ingest-0123456789abcdef", retries=0)
        producer.emit(event("artifact_received", NOW))
        with pytest.raises(ProducerError) as raised:
            producer.close()
    assert (f"first error: SendError(\"{url}/v1/events answered 200 without a collector's "
            "counts ('<html>welcome</html>'); check that url= is the address of voice-monitor "
            "serve\")") in str(raised.value)
    assert producer.stats.unlanded == 1 and len(producer.unlanded) == 1


@pytest.mark.parametrize("answer", [
    b'{"accepted": null, "duplicates": 0, "quarantined": 0}',
    b'{"accepted": "1", "duplicates": 0, "quarantined": 0}',
    b'{"accepted": true, "duplicates": 0, "quarantined": 0}',
    b'["accepted", 1]'])
def test_a_200_whose_counts_are_no_counts_is_said_so_and_its_events_handed_back(answer):
    # the collector's keys holding no whole numbers: the producer added them to its stats
    # outside the landing's error handling, so the batch was neither counted nor handed back,
    # and close() named a TypeError ("unsupported operand type(s) for +="); true counted as 1
    # event landed; a JSON list failed on "'list' object has no attribute 'get'"
    with answering(lambda path, body, headers: (200, answer, {})) as url:
        producer = Producer(url=url, token="ingest-0123456789abcdef", retries=0)
        producer.emit(event("artifact_received", NOW, event_id="counted"))
        with pytest.raises(ProducerError) as raised:
            producer.close()
    said = (f"{url}/v1/events answered 200 without a collector's counts ({answer.decode()!r}); "
            "check that url= is the address of voice-monitor serve")
    assert f"first error: SendError({said!r})" in str(raised.value)
    assert (producer.stats.accepted, producer.stats.unlanded) == (0, 1)
    assert [json.loads(text)["event_id"] for text in producer.unlanded] == ["counted"]


def test_a_load_balancers_429_and_408_are_waited_out_as_a_5xx_is(tmp_path):
    # a proxy in front of the collector that rate-limits (429) or timed out a body (408): both
    # say "send it later"; the producer gave the batch up at once, as for a 401
    refusals = [(429, "rate limited"), (408, "request timeout")]
    with ServerProcess(tmp_path / "lake", log=tmp_path / "server.log") as server:
        def proxy(path, body, headers):
            if refusals:
                status, text = refusals.pop(0)
                return status, text.encode(), {"Retry-After": "0"}
            sent = httpx.post(server.url + path, content=body, headers={
                k: v for k, v in headers.items()
                if k.lower() in ("authorization", "content-type", "content-encoding")})
            return sent.status_code, sent.content, {}

        with answering(proxy) as url:
            producer = Producer(url=url, token=INGEST, retries=2, retry_delay=0.01)
            producer.emit(event("artifact_received", NOW, event_id="behind-a-proxy"))
            producer.close()
    assert (producer.stats.retries, producer.stats.accepted, producer.stats.unlanded) == (2, 1, 0)
    assert refusals == []


def backoff_until_close(monkeypatch) -> tuple[list[float], dict]:
    """The producer's backoff recorded (the seconds it would sleep), the first retry held until
    close() has begun on the producer put in the returned dict as "producer"."""
    real_sleep, slept = producer_module.time.sleep, []
    holder: dict = {}

    def backoff(seconds, until):
        slept.append(seconds)
        while not holder["producer"]._closing:
            real_sleep(0.01)

    monkeypatch.setattr(producer_module, "_sleep", backoff)
    return slept, holder


def test_close_with_the_collector_down_gives_up_the_backlog_after_one_batch_failed(
        tmp_path, monkeypatch):
    # a backlog of 5 batches and no collector: close() waited out every retry of each batch in
    # turn (8 retries, about 90 s a batch by default: hours for an outage's backlog); now the
    # first batch is retried, then the rest is handed back untried, each event still reported
    server = ServerProcess(tmp_path / "lake")  # its port is chosen, nothing listens
    slept, holder = backoff_until_close(monkeypatch)
    producer = holder["producer"] = Producer(url=server.url, token=INGEST, batch_size=10,
                                             retries=2, flush_interval=3600)
    for i in range(50):
        producer.emit(event("artifact_received", NOW, event_id=f"b{i}"))
    with pytest.raises(ProducerError) as raised:
        producer.close()
    assert (len(slept), producer.stats.retries, producer.stats.unlanded) == (2, 2, 50)
    assert sorted(r["event_id"] for r in map(json.loads, producer.unlanded)) == sorted(
        f"b{i}" for i in range(50))
    assert (f"1 landing(s) into '{server.url}' failed after 2 retries (50 events not landed; "
            "their JSON texts are in producer.unlanded; 40 of them were not sent at all: close() "
            "gave up on the rest once a batch had failed through every retry)"
            ) in str(raised.value)


def test_close_with_the_collector_down_keeps_a_durable_backlog_untried_after_one_failed(
        tmp_path, monkeypatch):
    # segments left in the spool through an outage (here three, by producers that gave up at
    # once), and the collector still down: close() gave each one every retry in turn
    server = ServerProcess(tmp_path / "lake")  # its port is chosen, nothing listens
    spool = tmp_path / "spool"
    for k in range(3):
        first = Producer(url=server.url, token=INGEST, durable=True, spool_dir=spool, retries=0)
        for i in range(10):
            first.emit(event("artifact_received", NOW, event_id=f"s{k}-{i}"))
        with pytest.raises(ProducerError, match="events not landed"):
            first.close()
    assert len(list(spool.glob("*.jsonl"))) == 3
    slept, holder = backoff_until_close(monkeypatch)
    producer = holder["producer"] = Producer(url=server.url, token=INGEST, durable=True,
                                             spool_dir=spool, retries=2, flush_interval=3600)
    with pytest.raises(ProducerError) as raised:
        producer.close()
    assert (len(slept), producer.stats.retries, producer.stats.unlanded) == (2, 2, 30)
    kept = sorted(json.loads(line)["event_id"] for f in spool.glob("*.jsonl")
                  for line in f.read_text().splitlines())
    assert kept == sorted(f"s{k}-{i}" for k in range(3) for i in range(10))
    assert (f"(30 events not landed; they stay in spool '{spool}' and land when a durable "
            "producer next starts on it; 20 of them were not sent at all: close() gave up on "
            "the rest once a batch had failed through every retry)") in str(raised.value)


def test_a_password_in_the_collectors_url_is_masked_in_the_error(tmp_path):
    # http://user:password@host (a proxy with basic auth in front): the error, which programs
    # log, printed the password twice
    server = ServerProcess(tmp_path / "lake")  # its port is chosen, nothing listens
    url = server.url.replace("http://", "http://relay:s3cret-pw@")
    # with a token, refused at once (httpx sends the user part in place of the token), masked
    with pytest.raises(ValueError) as refused:
        Producer(url=url, token=INGEST)
    assert "s3cret-pw" not in str(refused.value)
    assert str(refused.value).startswith(
        f"collector url '{server.url.replace('http://', 'http://relay:****@')}' holds a user "
        "name")
    producer = Producer(url=url, token=None, retries=0)  # before a --no-auth collector
    producer.emit(event("artifact_received", NOW))
    with pytest.raises(ProducerError) as raised:
        producer.close()
    message, shown = str(raised.value), server.url.replace("http://", "http://relay:****@")
    assert "s3cret-pw" not in message
    assert message.startswith(f"producer 'default': 1 landing(s) into '{shown}' failed")
    assert f"cannot reach collector {shown}: " in message
