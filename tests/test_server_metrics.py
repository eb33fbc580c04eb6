"""`GET /metrics` reuses the lake's figures between scrapes and reads them again in the background."""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta

from conftest import NOW, event
from fastapi.testclient import TestClient

from voice_monitor.landing import land_records
from voice_monitor.server import create_app
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
