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


@pytest.mark.parametrize("location, said, base", [
    ("https://collector.example:8443/v1/events", "https://collector.example:8443/v1/events",
     "https://collector.example:8443"),
    # a relative Location (nginx's `return 308 /new/v1/events`) is read against the url posted
    # to: alone it made "give url='/new'", no url a producer can be given
    ("/new/v1/events", "http://127.0.0.1:{port}/new/v1/events", "http://127.0.0.1:{port}/new"),
])
def test_a_redirect_fails_at_once_naming_where_it_points(tmp_path, location, said, base):
    # a load balancer answering http:// with 308 to https:// failed with "refused the batch
    # (308): " and its body (empty here), never saying where it pointed
    import http.server
    import threading

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(308)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        producer = Producer(url=url, token=INGEST, durable=True, spool_dir=tmp_path / "spool")
        producer.emit(event("artifact_received", NOW, event_id="kept"))
        with pytest.raises(ProducerError) as raised:
            producer.close()
    finally:
        server.shutdown()
    assert producer.stats.retries == 0
    port = server.server_port
    assert (f"collector {url} refused the batch (308): redirected to "
            f"'{said.format(port=port)}'; give url='{base.format(port=port)}' if that is the "
            "collector (a redirect is not followed)") in str(raised.value)
    assert spooled_ids(tmp_path / "spool") == ["kept"]


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


@pytest.mark.parametrize("url", ["http://collector:8787?x=1", "http://collector:8787/?",
                                 "http://collector:8787/#events", "http://collector:8787#"])
def test_a_url_with_a_query_or_fragment_is_refused_by_the_constructor(url):
    # /v1/events went after it: 'http://collector:8787?x=1/v1/events' posted to '/', and the
    # collector's 405 ('method POST is not allowed on /') failed the batch, the url not named
    with pytest.raises(ValueError) as raised:
        Producer(url=url, token=INGEST)
    assert str(raised.value) == (
        f"collector url {url!r} has a query string or a fragment ('?…', '#…'), which the "
        "collector takes none of; give scheme://host:port, e.g. 'http://collector:8787'")


def test_a_user_part_in_the_url_beside_a_token_is_refused_by_the_constructor(tmp_path):
    # httpx sends 'http://user:pw@host' as 'Authorization: Basic', in place of the token: a
    # real collector answered every batch 401 'a valid ingest token is required'
    url = "http://relay:s3cret@127.0.0.1:8787"
    with pytest.raises(ValueError) as raised:
        Producer(url=url, token=INGEST)
    assert str(raised.value) == (
        "collector url 'http://relay:****@127.0.0.1:8787' holds a user name, which is sent as "
        "'Authorization: Basic' in place of the token, so the collector would refuse every "
        "batch (401); give the url without 'user…@', e.g. 'http://collector:8787'")
    with pytest.raises(ValueError, match="holds a user name"):
        Producer(url="http://relay@127.0.0.1:8787", token=INGEST)
    Producer(url=url, token=None).close()  # no token (a --no-auth collector behind a proxy)


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


def self_signed(folder) -> tuple[str, str]:
    """A certificate for 127.0.0.1 no CA signed, and its key (files), made with cryptography."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


def tls_listener(folder, handshake: bool):
    """A TLS server on 127.0.0.1 with a self-signed certificate that completes handshakes
    (`handshake`), or one that accepts each connection and closes it at once (a connection cut
    mid-handshake); yields its https url."""
    import contextlib
    import socket
    import ssl
    import threading

    @contextlib.contextmanager
    def running():
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*self_signed(folder))
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(0.2)
        stop = threading.Event()

        def serve():
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    continue
                if handshake:
                    with contextlib.suppress(OSError):
                        context.wrap_socket(conn, server_side=True).close()
                conn.close()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            yield f"https://127.0.0.1:{listener.getsockname()[1]}"
        finally:
            stop.set()
            thread.join()
            listener.close()

    return running()


def test_a_certificate_no_trusted_ca_signed_fails_at_once_naming_the_fix(tmp_path):
    with tls_listener(tmp_path, handshake=True) as url:
        producer = Producer(url=url, token=INGEST)
        producer.emit(event("artifact_received", NOW))
        with pytest.raises(ProducerError) as raised:
            producer.close()
    assert producer.stats.retries == 0
    assert (f"cannot reach collector {url}: its TLS certificate is not trusted (self-signed "
            "certificate); give the server a certificate from a trusted CA, or point "
            "SSL_CERT_FILE at the CA bundle that signed it") in str(raised.value)


def test_a_connection_cut_mid_handshake_is_retried_as_a_network_fault(tmp_path, monkeypatch):
    # a TLS proxy restarting: an EOF in the handshake may pass, unlike a handshake refused
    monkeypatch.setattr(producer_module, "_sleep", lambda seconds, until: None)
    with tls_listener(tmp_path, handshake=False) as url:
        producer = Producer(url=url, token=INGEST, retries=2)
        producer.emit(event("artifact_received", NOW))
        with pytest.raises(ProducerError, match="failed after 2 retries"):
            producer.close()
    assert producer.stats.retries == 2
