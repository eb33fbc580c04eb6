"""`GET /metrics` reuses the lake's figures between scrapes and reads them again in the background."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from datetime import UTC, datetime, timedelta

from conftest import NOW, event
from fastapi.testclient import TestClient

from voice_monitor.landing import land_records
from voice_monitor.server import background, create_app
from voice_monitor.server import metrics as metrics_module

STAFF = "staff-0123456789abcdef"
HEADERS = {"Authorization": f"Bearer {STAFF}"}
T1, T2 = NOW - timedelta(hours=3), NOW - timedelta(hours=1)  # an hour apart: 3,600 s of age


def event_age(http: TestClient) -> float:
    text = http.get("/metrics", headers=HEADERS).text
    return float(re.search(r'^voice_monitor_freshness_age_seconds\{what="event"\} (\S+)$', text,
                           re.M).group(1))


def newest_seen(http: TestClient) -> str:
    """Which landed event the scrape's event age points at (T1 or T2), read off the clock."""
    age = event_age(http)
    newer_age = time.time() - T2.timestamp()  # T1's age is this + 7,200 s
    return "T2" if age < newer_age + 3600 else "T1"


def test_a_scrape_reuses_the_lake_figures_and_reads_them_again_in_the_background(lake, monkeypatch):
    reads: list[int] = []
    real = metrics_module.moments
    monkeypatch.setattr(metrics_module, "moments", lambda lake: reads.append(1) or real(lake))
    app = create_app(lake, staff_tokens=[STAFF])
    land_records(lake, [event("artifact_received", T1)], now=NOW)
    with TestClient(app) as http:
        assert newest_seen(http) == "T1" and len(reads) == 1
        land_records(lake, [event("artifact_received", T2)], now=NOW)
        assert newest_seen(http) == "T1" and len(reads) == 1  # young figures: the lake is not read
        lake_metrics = app.state.lake_metrics
        read_at, *figures = lake_metrics._figures
        lake_metrics._figures = (read_at - metrics_module.REFRESH_S - 1, *figures)
        assert newest_seen(http) == "T1"  # served once more, while a thread reads the lake
        for thread in threading.enumerate():
            if thread.name == "voice-monitor-metrics":
                thread.join(60)
        assert len(reads) == 2
        assert newest_seen(http) == "T2"
        lake_metrics._figures = (read_at - metrics_module.MAX_AGE_S - 1, *figures)
        assert newest_seen(http) == "T2" and len(reads) == 3  # too old to serve: read at once


def samples(text: str, parse) -> dict:
    """{(name, labels): value} of an exposition, read with prometheus_client's own parser."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in parse(text) for s in family.samples}


def test_a_scrape_says_what_the_registry_says_in_both_formats_and_reuses_the_slow_part(
        lake, monkeypatch):
    from prometheus_client import generate_latest
    from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics
    from prometheus_client.parser import text_string_to_metric_families as plain

    now = datetime.now(UTC)  # the real-time counters are the last hour's by the real clock
    land_records(lake, [event("artifact_received", now - timedelta(minutes=5), organization_id=o)
                        for o in ("org-a", "org-b")], now=now)
    hops: list[str] = []
    real_hop = metrics_module.run_in_threadpool
    monkeypatch.setattr(metrics_module, "run_in_threadpool",
                        lambda f, *a: hops.append(f.__name__) or real_hop(f, *a))
    app = create_app(lake, ingest_tokens=["ingest-0123456789abcdef"], staff_tokens=[STAFF])
    with TestClient(app) as http:
        first = http.get("/metrics", headers=HEADERS)
        assert hops == ["render"]  # nothing read yet: the lake is read in a worker thread
        # the whole registry through prometheus_client's own generate_latest: the same samples
        # (freshness ages aside: they are worked out at each one's moment)
        expected = samples(generate_latest(app.state.registry).decode(), plain)
        got = samples(first.text, plain)
        assert got.keys() == expected.keys()
        assert {k: v for k, v in got.items() if "age_seconds" not in k[0]} == \
            {k: v for k, v in expected.items() if "age_seconds" not in k[0]}
        assert got[("voice_monitor_realtime_events", (("metric", "artifacts_received"),
                    ("organization_id", "org-b"), ("scope", "organization")))] == 1.0
        # an event posted: the live count follows at once, the real-time part is reused as is
        rendered = app.state.lake_metrics._rendered[first.headers["content-type"]][2]
        http.post("/v1/events", content=b'{"broken\n',
                  headers={"Authorization": "Bearer ingest-0123456789abcdef"})
        second = http.get("/metrics", headers=HEADERS)
        assert samples(second.text, plain)[("voice_monitor_collector_events_quarantined_total",
                                            ())] == 1.0
        assert app.state.lake_metrics._rendered[second.headers["content-type"]][2] is rendered
        assert hops == ["render"]  # answered on the event loop this time
        # OpenMetrics, as Prometheus asks: one # EOF, at the end, and the same samples
        om = http.get("/metrics", headers={**HEADERS, "Accept": "application/openmetrics-text; "
                                           "version=1.0.0"})
        assert om.headers["content-type"].startswith("application/openmetrics-text")
        assert om.text.count("# EOF") == 1 and om.text.endswith("# EOF\n")
        om_samples = samples(om.text, openmetrics)
        assert om_samples[("voice_monitor_collector_events_quarantined_total", ())] == 1.0
        assert om_samples[("voice_monitor_realtime_events", (("metric", "artifacts_received"),
                           ("organization_id", "org-a"), ("scope", "organization")))] == 1.0


def test_metrics_needs_a_staff_token(lake):
    app = create_app(lake, ingest_tokens=["ingest-0123456789abcdef"], staff_tokens=[STAFF])
    with TestClient(app) as http:
        assert http.get("/metrics").status_code == 401
        assert http.get("/metrics", headers={
            "Authorization": "Bearer ingest-0123456789abcdef"}).status_code == 403


def test_on_an_object_store_a_scrape_is_never_answered_on_the_event_loop():
    from types import SimpleNamespace

    # fresh figures, nothing to recount: a local lake would be ready; an object store's alert
    # listing is a request, so the scrape goes to a worker thread
    remote = metrics_module.LakeCollector(SimpleNamespace(remote=True), collector=None)
    remote._figures = (time.monotonic(), None, {})
    remote._alert_cache = ((), {})
    assert remote.ready() is False


def test_a_background_read_of_the_lake_stops_when_the_process_ends(lake, monkeypatch):
    # one count per organization: with thousands of them the read took seconds, and the
    # process's exit waited for it (up to background.EXIT_WAIT_S)
    land_records(lake, [event("artifact_received", datetime.now(UTC) - timedelta(minutes=5),
                              organization_id=f"org-{i}") for i in range(3)])
    counted: list[str | None] = []
    real = metrics_module.open_counters

    def store_that_sees_the_exit_begin(lake):
        store = real(lake)
        window_counts = store.window_counts

        def counts(organization_id, start, now):
            counted.append(organization_id)
            background.stopping.set()  # the interpreter's exit begins during the first count
            return window_counts(organization_id, start, now)

        store.window_counts = counts
        return store

    monkeypatch.setattr(metrics_module, "open_counters", store_that_sees_the_exit_begin)
    lake_metrics = metrics_module.LakeCollector(lake, collector=None)
    assert lake_metrics._reading.acquire(blocking=False)
    try:
        lake_metrics._read_lake(release=True)
    finally:
        background.stopping.clear()
    assert counted == [None]  # the platform's count, then no organization's
    assert lake_metrics._figures is None and lake_metrics._reading.acquire(blocking=False)


def test_a_scrape_with_redis_down_keeps_every_other_gauge_and_says_the_counters_are_down(
        tmp_path, lake, monkeypatch, caplog):
    # a Redis that went away made the whole scrape a 503: freshness, the collector's counts
    # and the alert gauges were lost with the real-time counters
    from prometheus_client.parser import text_string_to_metric_families as plain
    from servers import redis_server

    from voice_monitor.counters import COUNTERS_ENV

    ingest = {"Authorization": "Bearer ingest-0123456789abcdef",
              "Content-Type": "application/x-ndjson"}
    received = ("voice_monitor_realtime_events", (("metric", "artifacts_received"),
                                                  ("organization_id", ""), ("scope", "platform")))
    up = ("voice_monitor_counters_up", ())
    (tmp_path / "redis").mkdir()
    with redis_server(tmp_path / "redis") as url:
        monkeypatch.setenv(COUNTERS_ENV, url)
        app = create_app(lake, ingest_tokens=["ingest-0123456789abcdef"], staff_tokens=[STAFF])
        http = TestClient(app)
        now = datetime.now(UTC)  # the real-time counters are the last hour's by the real clock
        body = "\n".join(json.dumps(event("artifact_received", now - timedelta(minutes=m)))
                         for m in (5, 6))
        assert http.post("/v1/events", content=body, headers=ingest).status_code == 200
        before = samples(http.get("/metrics", headers=HEADERS).text, plain)
        assert before[up] == 1.0 and before[received] == 2.0
    # redis-server stopped; the figures are read again (as they would be a minute later)
    lake_metrics = app.state.lake_metrics
    with caplog.at_level(logging.ERROR, logger="uvicorn.error"):
        for _ in range(2):
            read_at, *figures = lake_metrics._figures
            lake_metrics._figures = (read_at - metrics_module.MAX_AGE_S - 1, *figures)
            answer = http.get("/metrics", headers=HEADERS)
            assert answer.status_code == 200, answer.text
            after = samples(answer.text, plain)
            assert after[up] == 0.0
            assert not [key for key in after if key[0].startswith("voice_monitor_realtime")]
            assert after[("voice_monitor_collector_events_accepted_total", ())] == 2.0
            assert after[("voice_monitor_freshness_stale", (("what", "event"),))] == 0.0
            assert after[("voice_monitor_alerts_active", (("alert_type", "high_failure_rate"),
                                                          ("severity", "critical")))] == 0.0
            assert ("voice_monitor_freshness_age_seconds", (("what", "event"),)) in after
    logged = [r.getMessage() for r in caplog.records if "counters_up 0" in r.getMessage()]
    assert len(logged) == 1 and "cannot reach the counter store" in logged[0]  # once, not per scrape
    http.close()


def test_a_scrape_with_an_unreadable_alert_file_keeps_every_other_gauge(lake, caplog):
    # one damaged file of the alert log made the whole scrape a 500: freshness, the collector's
    # counts and the real-time counters were lost with the alert gauges
    from prometheus_client.parser import text_string_to_metric_families as plain

    from voice_monitor.health.alerts import run_checks

    land_records(lake, [event("circuit_breaker_opened", NOW - timedelta(minutes=5))], now=NOW)
    run_checks(lake, NOW)  # circuit_breaker_open, critical
    (written,) = [f for f in (lake.root / "alerts").rglob("*.parquet")]
    app = create_app(lake, staff_tokens=[STAFF])
    breaker = ("voice_monitor_alerts_active", (("alert_type", "circuit_breaker_open"),
                                               ("severity", "critical")))
    with TestClient(app) as http:
        before = samples(http.get("/metrics", headers=HEADERS).text, plain)
        assert before[("voice_monitor_alerts_up", ())] == 1.0 and before[breaker] == 1.0
        kept = written.read_bytes()
        written.write_bytes(b"not parquet, and longer than before")  # (another size: re-read)
        with caplog.at_level(logging.ERROR, logger="uvicorn.error"):
            for _ in range(2):
                answer = http.get("/metrics", headers=HEADERS)
                assert answer.status_code == 200, answer.text
                after = samples(answer.text, plain)
                assert after[("voice_monitor_alerts_up", ())] == 0.0
                assert not [key for key in after if key[0] == "voice_monitor_alerts_active"]
                assert after[("voice_monitor_counters_up", ())] == 1.0
                assert after[("voice_monitor_freshness_stale", (("what", "event"),))] in (0, 1)
                assert after[("voice_monitor_collector_events_accepted_total", ())] == 0.0
        logged = [r.getMessage() for r in caplog.records if "alerts_up 0" in r.getMessage()]
        assert len(logged) == 1 and written.name in logged[0]  # once, naming the file
        written.write_bytes(kept)  # put back: read again
        again = samples(http.get("/metrics", headers=HEADERS).text, plain)
        assert again[("voice_monitor_alerts_up", ())] == 1.0 and again[breaker] == 1.0
