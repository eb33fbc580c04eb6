"""Dashboard first load on a 10M-event lake: the page's data requests, and a real browser.

    uv run python bench/bench_dashboard.py [--lake DIR] [--events 10000000] [--repeat 5]

Builds (or reuses, with --lake) a lake of --events events over 48 hours (bench_queries'
generator, straight to Parquet) with its hourly and daily snapshots built by `backfill`, starts
a real `voice-monitor serve` on it and measures the dashboard pinned to the lake's `now`:

1. HTTP: every data request the page makes on its first load (cards, freshness, alerts, the
   event log's first page, the four charts, the organizations table) sent 6 at a time as a
   browser does; the time until all are answered, for the first load after the server started
   and the median of the next --repeat;
2. browser (Debian's chromium driven by Playwright) on a second, fresh server process: sign in
   as a person would, then the time from navigation to the load event, to the status cards
   showing numbers, and to every card, chart and table rendered (`body[data-loaded=true]`,
   which the page sets once its first refresh has drawn everything); the first load after
   signing in and the median of the next --repeat.

Target (issue 10): first load < 1 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from bench_queries import NOW, build_events  # noqa: E402
from server_process import STAFF, ServerProcess, bearer  # noqa: E402

from voice_monitor.lake import Lake  # noqa: E402
from voice_monitor.rollups import backfill  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PINNED = NOW.isoformat().replace("+00:00", "Z")
CHARTS = ["throughput", "failure_rate", "stage_latency", "cost_by_organization"]


def build(root: Path, events: int, hours: int) -> Lake:
    lake = Lake.create(root)
    if not lake.event_hours():
        started = time.perf_counter()
        build_events(lake, events, hours, 4, seed=7)
        print(f"events written in {time.perf_counter() - started:.0f} s")
    if not lake.snapshot_periods("pipeline_hourly"):
        started = time.perf_counter()
        backfill(lake, NOW - timedelta(hours=hours), NOW, now=NOW, progress=False)
        print(f"snapshots built in {time.perf_counter() - started:.0f} s")
    return lake


def first_load_requests() -> list[tuple[str, dict]]:
    """The data requests of the page's first refresh (dashboard.js `refresh({all: true})`)."""
    now = {"now": PINNED}
    range48 = {"start": (NOW - timedelta(hours=48)).isoformat(), "end": NOW.isoformat()}
    return [("/api/v1/metrics/realtime", now), ("/api/v1/freshness", now), ("/api/v1/alerts", {}),
            ("/api/v1/events", {"limit": 25}), ("/api/v1/metrics/orgs", range48),
            *((f"/api/v1/charts/{name}", now) for name in CHARTS)]


def http_load(http: httpx.Client, url: str) -> float:
    """Seconds until the page and every data request of its first refresh are answered."""
    began = time.perf_counter()
    http.get(url + "/", params={"now": PINNED}).raise_for_status()

    def get(request: tuple[str, dict]) -> None:
        http.get(url + request[0], params=request[1]).raise_for_status()

    with ThreadPoolExecutor(6) as pool:  # a browser opens 6 connections to one host
        list(pool.map(get, first_load_requests()))
    return time.perf_counter() - began


def browser_loads(url: str, repeat: int) -> list[tuple[float, float, float]]:
    """(seconds to the load event, to the cards, to everything rendered) per page load."""
    from playwright.sync_api import sync_playwright

    loads = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(120_000)
        page = context.new_page()
        page.goto(f"{url}/?now={PINNED}")  # sent to the sign-in form
        page.fill("#token", STAFF)
        page.click("button[type=submit]")
        page.wait_for_selector("body[data-loaded=true]")  # the live page signing in lands on
        for _ in range(repeat + 1):
            began = time.perf_counter()
            page.goto(f"{url}/?now={PINNED}", wait_until="load")
            loaded = time.perf_counter() - began
            page.wait_for_selector(".card[data-metric] .value")
            cards = time.perf_counter() - began
            page.wait_for_selector("body[data-loaded=true]")
            loads.append((loaded, cards, time.perf_counter() - began))
        browser.close()
    return loads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, default=None, help="build or reuse the lake here")
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--hours", type=int, default=48)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    root = args.lake or Path(tempfile.mkdtemp(prefix="bench-dashboard-")) / "lake"
    lake = build(root, args.events, args.hours)
    print(f"lake {root}: {args.events:,} events over {args.hours} h; load {os.getloadavg()}")
    with ServerProcess(lake, log=root.parent / "bench-dashboard-server.log") as server, \
            httpx.Client(timeout=120, headers=bearer(STAFF)) as http:
        times = [http_load(http, server.url) for _ in range(args.repeat + 1)]
        print(f"HTTP, page + {len(first_load_requests())} data requests: first "
              f"{times[0] * 1000:.0f} ms, median {statistics.median(times[1:]) * 1000:.0f} ms "
              "(target < 1 s)")
    if CHROMIUM.exists():
        with ServerProcess(lake, log=root.parent / "bench-dashboard-server.log") as server:
            loads = browser_loads(server.url, args.repeat)
        for i, what in enumerate(("load event", "cards shown", "everything rendered")):
            print(f"browser, {what}: first after sign-in {loads[0][i] * 1000:.0f} ms, median "
                  f"{statistics.median(t[i] for t in loads[1:]) * 1000:.0f} ms (target < 1 s)")
    print(f"load now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
