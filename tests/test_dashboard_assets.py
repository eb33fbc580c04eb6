"""The page's assets: the vendored Plotly bundle fits the charts, and assets are sent compressed
and cached by the URL that names their content."""

from __future__ import annotations

import gzip
import hashlib
import re
from datetime import UTC, datetime

import polars as pl
import pytest
from fastapi.testclient import TestClient
from plotly.offline import get_plotlyjs_version

from voice_monitor import charts
from voice_monitor.lake import Lake
from voice_monitor.server.app import create_app
from voice_monitor.server.assets import STATIC

STAFF = "staff-token-0123456789abcdef"
VENDOR = STATIC / "vendor"
BUNDLE = VENDOR / "plotly-basic.min.js"
T0 = datetime(2026, 2, 16, 10, tzinfo=UTC)


@pytest.fixture(scope="module")
def http(tmp_path_factory):
    app = create_app(Lake(tmp_path_factory.mktemp("assets") / "lake"), staff_tokens=[STAFF])
    with TestClient(app, base_url="http://127.0.0.1:8787") as client:
        yield client


def version_of(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def test_the_bundle_is_the_plotly_js_of_the_python_package_with_its_licence():
    header = BUNDLE.read_text()[:200]
    assert re.search(r"plotly\.js \(basic - minified\) v(\S+)", header).group(1) == \
        get_plotlyjs_version()
    assert (VENDOR / "plotly.js-LICENSE").read_text().startswith("MIT License")


def test_every_chart_uses_only_traces_the_bundle_has():
    registered = set(re.findall(r'moduleType:"trace",name:"(\w+)"', BUNDLE.read_text()))
    assert registered == {"scatter", "bar", "pie"}
    hourly = pl.DataFrame({"period_start": [T0], "artifacts_received": [1],
                           "artifacts_completed": [1], "artifacts_failed": [0],
                           "overall_failure_rate": [0.0], "computed_at": [T0]})
    figures = [
        charts.throughput(hourly), charts.failure_rate(hourly),
        charts.stage_latency(pl.DataFrame({"period_start": [T0], "pipeline_stage": ["transcription"],
                                           "latency_count": [1], "latency_p95_ms": [1.0],
                                           "computed_at": [T0]})),
        charts.cost_by_organization(pl.DataFrame({"organization_id": ["o"], "name": ["O"],
                                                  "total_ai_cost_usd": [1.0]})),
        charts.active_by_stage(pl.DataFrame({"current_stage": ["transcription"]})),
        charts.artifact_timeline(pl.DataFrame({"timestamp": [T0], "event_type": ["artifact_received"]})),
    ]
    assert len(figures) == len(charts.CHARTS) + 2  # the dashboard's four and the notebooks' two
    used = {trace["type"] for f in figures for trace in f.to_plotly_json()["data"]}
    assert used == {"scatter", "bar"}


def test_the_page_names_each_asset_by_its_content(http):
    page = http.get("/", headers={"Authorization": f"Bearer {STAFF}"}).text
    assert f'src="/static/dashboard.js?v={version_of(STATIC / "dashboard.js")}"' in page
    assert f'href="/static/dashboard.css?v={version_of(STATIC / "dashboard.css")}"' in page
    assert f'data-plotly="/static/plotly-basic.min.js?v={version_of(BUNDLE)}"' in page
    login = http.get("/login").text
    assert f'href="/static/dashboard.css?v={version_of(STATIC / "dashboard.css")}"' in login


def test_an_asset_is_sent_gzipped_and_cached_for_good_under_its_version(http):
    body = BUNDLE.read_bytes()
    url = f"/static/plotly-basic.min.js?v={version_of(BUNDLE)}"
    sent = http.get(url, headers={"Accept-Encoding": "gzip, deflate"})
    assert sent.status_code == 200
    assert sent.headers["content-encoding"] == "gzip"
    assert int(sent.headers["content-length"]) < len(body) / 2  # 1.2 MB -> about 0.4 MB
    assert sent.content == body  # httpx un-gzips
    assert sent.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert sent.headers["etag"] == f'"{version_of(BUNDLE)}"'
    assert sent.headers["content-type"].startswith("text/javascript")
    plain = http.get(url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == body
    refused = http.get(url, headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers


def test_an_unversioned_or_old_url_is_revalidated_and_an_unchanged_asset_answers_304(http):
    for url in ("/static/dashboard.css", "/static/dashboard.css?v=000000000000"):
        sent = http.get(url)
        assert sent.status_code == 200 and sent.headers["cache-control"] == "no-cache", url
    tag = f'"{version_of(STATIC / "dashboard.css")}"'
    again = http.get("/static/dashboard.css", headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    assert http.get("/static/dashboard.css", headers={"If-None-Match": '"other"'}).status_code == 200


def test_gzip_of_the_asset_is_plain_gzip(http):
    raw = http.get("/static/dashboard.js", headers={"Accept-Encoding": "gzip"})
    # read the bytes as sent (before httpx un-gzips them) with the standard library's gunzip
    with http.stream("GET", "/static/dashboard.js", headers={"Accept-Encoding": "gzip"}) as sent:
        wire = b"".join(sent.iter_raw())
    assert gzip.decompress(wire) == (STATIC / "dashboard.js").read_bytes() == raw.content


def test_only_the_listed_files_are_served(http):
    for name in ("plotly.min.js", "index.html", "vendor%2Fplotly-basic.min.js", "..%2Fapp.py"):
        assert http.get(f"/static/{name}").status_code == 404, name
