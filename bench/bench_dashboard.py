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
   which the page sets once its first refresh has drawn everything), and the seconds of work
   the page's main thread did meanwhile (Chromium's TaskDuration, ScriptDuration and
   LayoutDuration: less disturbed by a loaded machine than wall time); the first load after
   signing in and the median of the next --repeat.

Target (issue 10): first load < 1 s.
"""

from __future__ import annotations

import argparse
import os
import re
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


def server_log(root: Path, name: str) -> Path:
    log = root.parent / f"bench-dashboard-server-{name}.log"
    log.unlink(missing_ok=True)
    return log


def wait_for_warm_up(server: ServerProcess, timeout: float) -> float:
    """Seconds the server's warm-up took, once its log says it is over (see dashboard.warm_up);
    NaN if it does not say so within `timeout` (a server from before the warm-up)."""
    deadline = time.monotonic() + timeout
    while True:
        found = re.findall(r"dashboard warmed up in ([0-9.]+) s", server.output())
        if found:
            return float(found[-1])
        if time.monotonic() >= deadline:
            return float("nan")
        time.sleep(0.2)


def browser_metrics(cdp) -> dict[str, float]:
    """Chromium's own counters for the page (seconds of main-thread work since it opened)."""
    return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}


def browser_loads(url: str, repeat: int) -> list[tuple[float, ...]]:
    """(seconds to the load event, to the cards, to everything rendered, of the page's main
    thread's work: all tasks, of which script, of which layout) per page load."""
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
        cdp = context.new_cdp_session(page)
        cdp.send("Performance.enable")
        for _ in range(repeat + 1):
            before = browser_metrics(cdp)
            began = time.perf_counter()
            page.goto(f"{url}/?now={PINNED}", wait_until="load")
            loaded = time.perf_counter() - began
            page.wait_for_selector(".card[data-metric] .value")
            cards = time.perf_counter() - began
            page.wait_for_selector("body[data-loaded=true]")
            done = time.perf_counter() - began
            after = browser_metrics(cdp)
            # (the counters are the renderer's; a navigation may start them again from zero)
            work = [after[k] - (before[k] if after[k] >= before[k] else 0)
                    for k in ("TaskDuration", "ScriptDuration", "LayoutDuration")]
            loads.append((loaded, cards, done, *work))
        browser.close()
    return loads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, default=None, help="build or reuse the lake here")
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--hours", type=int, default=48)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--warm-up-timeout", type=float, default=300,
                        help="seconds to wait for the server's warm-up (0: code without one)")
    parser.add_argument("--skip", choices=["http", "browser"], action="append", default=[],
                        help="leave out a part")
    args = parser.parse_args()
    root = args.lake or Path(tempfile.mkdtemp(prefix="bench-dashboard-")) / "lake"
    lake = build(root, args.events, args.hours)
    print(f"lake {root}: {args.events:,} events over {args.hours} h; load {os.getloadavg()}")
    if "http" not in args.skip:
        with ServerProcess(lake, log=server_log(root, "cold")) as server, \
                httpx.Client(timeout=120, headers=bearer(STAFF)) as http:
            first = http_load(http, server.url)
        with ServerProcess(lake, log=server_log(root, "http")) as server, \
                httpx.Client(timeout=120, headers=bearer(STAFF)) as http:
            warm_s = wait_for_warm_up(server, args.warm_up_timeout)
            times = [http_load(http, server.url) for _ in range(args.repeat + 1)]
        print(f"HTTP, page + {len(first_load_requests())} data requests: first right after the "
              f"start {first * 1000:.0f} ms; first after the warm-up ({warm_s:.1f} s) "
              f"{times[0] * 1000:.0f} ms, median {statistics.median(times[1:]) * 1000:.0f} ms "
              "(target < 1 s)")
    if CHROMIUM.exists() and "browser" not in args.skip:
        with ServerProcess(lake, log=server_log(root, "browser")) as server:
            wait_for_warm_up(server, args.warm_up_timeout)
            loads = browser_loads(server.url, args.repeat)
        for i, what in enumerate(("load event", "cards shown", "everything rendered",
                                  "main-thread work", "of which script", "of which layout")):
            print(f"browser, {what}: first after sign-in {loads[0][i] * 1000:.0f} ms, median "
                  f"{statistics.median(t[i] for t in loads[1:]) * 1000:.0f} ms"
                  + (" (target < 1 s)" if i < 3 else ""))
    print(f"load now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
