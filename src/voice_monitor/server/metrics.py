"""`GET /metrics` in the Prometheus text format (the official `prometheus_client`), and `/healthz`.

A custom collector reads everything at scrape time, so there is no second set of numbers to
keep in step: this process's collector counts, the real-time counters of the platform and of
each organization with events in the window, snapshot freshness, and active alerts by type
and severity (every combination, zero included, so a resolved alert drops to 0 on the chart).

A scrape stays cheap under load: the collector's counts are read live, the alerts are counted
again only when the alert log's files changed, and the real-time counters and freshness moments
are reused while younger than REFRESH_S (a scraper asks every 15 s or more). Older ones are
served once more while a background thread reads them again, so a scrape never waits for the
lake unless they are older than MAX_AGE_S. Freshness ages are worked out at the scrape's own
moment. The real-time and alert families (hundreds of samples with many organizations) are
rendered to text once per reading and reused; a scrape renders only the dozen live samples, on
the event loop without a hop to a worker thread, unless the lake must be read first.

A counter store that cannot be read (Redis down, a damaged SQLite file) costs only the real-time
family: `voice_monitor_counters_up` says 0, every other family is served, and the server's log
names the error once (and once more when the store answers again), not at every scrape. So
does an unreadable alert log file cost only the alert family (`voice_monitor_alerts_up` 0).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from starlette.concurrency import run_in_threadpool

from voice_monitor import lake_window, uncounted
from voice_monitor.counters import (
    METRICS,
    CounterStoreError,
    CounterStoreReadOnlyError,
    open_counters,
    shared,
    window_start,
)
from voice_monitor.health.alert_log import alert_partitions
from voice_monitor.health.alerts import active_alerts
from voice_monitor.health.checks import CHECK_TYPES, SEVERITIES
from voice_monitor.integrity import UnreadableFileError
from voice_monitor.lake import Lake, NoLakeError, no_lake_message
from voice_monitor.server import background
from voice_monitor.server.auth import staff_actor
from voice_monitor.server.freshness import freshness, moments
from voice_monitor.server.group_commit import Collector

PREFIX = "voice_monitor"
REFRESH_S = 5.0  # the lake's figures are read again (in the background) once older than this
MAX_AGE_S = 60.0  # a scrape waits for them only when they are older than this (or never read)
_log = logging.getLogger("uvicorn.error")  # uvicorn prints it (as the app's own errors)


class LakeCollector:
    """A prometheus_client collector over one lake and this process's collector."""

    def __init__(self, lake: Lake, collector: Collector):
        self.lake = lake
        self.collector = collector
        self._alert_cache: tuple[tuple, dict] | None = None
        # (read at, the real-time families: counters_up and the counters unless unreadable,
        # the freshness moments)
        self._figures: tuple[float, list[GaugeMetricFamily], dict] | None = None
        self._reading = threading.Lock()  # one read of the lake at a time
        self._troubles: dict[str, str] = {}  # what could not be read -> its error, logged
        # media type -> (the real-time families and alert signature rendered, their text)
        self._rendered: dict[str, tuple[list, tuple, bytes]] = {}

    def collect(self):
        yield from self._collected()
        realtime, seen = self._lake_figures()
        yield from realtime
        yield from self._freshness(seen)
        yield from self._alerts()

    def ready(self) -> bool:
        """Whether `render` can answer without reading the lake (alerts or counters), from a
        local folder listing at most (an object store's listing is a request: never ready)."""
        figures = self._figures
        return (not self.lake.remote and figures is not None
                and time.monotonic() - figures[0] <= MAX_AGE_S
                and self._alert_cache is not None
                and self._alert_cache[0] == self._alert_signature())

    def render(self, encoder, media_type: str) -> bytes:
        """The exposition in `encoder`'s format (what `collect` yields, in another order): the
        live families rendered now, the real-time counters and alerts as rendered last time
        unless they changed since."""
        # a lake gone under the server (unmounted) is 503, as on every /api/v1 read, not its
        # last figures or zeros; nor is a counter store made where it was
        if not self.lake.exists():
            raise NoLakeError(no_lake_message(self.lake.root))
        realtime, seen = self._lake_figures()
        alerts = list(self._alerts())
        signature = self._alert_cache[0]
        kept = self._rendered.get(media_type)
        if kept is None or kept[0] is not realtime or kept[1] != signature:
            kept = (realtime, signature, encoder(_Families([*realtime, *alerts])))
            self._rendered[media_type] = kept
        live = encoder(_Families([*self._collected(), *self._freshness(seen)]))
        if live.endswith(_EOF):  # OpenMetrics ends the whole exposition once
            live = live[:-len(_EOF)]
        return live + kept[2]

    def _lake_figures(self) -> tuple[list[GaugeMetricFamily], dict]:
        figures = self._figures
        age = None if figures is None else time.monotonic() - figures[0]
        if age is None or age > MAX_AGE_S:
            with self._reading:
                if self._figures is figures:  # nobody read them while this scrape waited
                    self._read_lake()
                figures = self._figures
        elif age > REFRESH_S and self._reading.acquire(blocking=False):
            background.start(self._read_lake, True, name="voice-monitor-metrics")
        return figures[1], figures[2]

    def _read_lake(self, release: bool = False) -> None:
        from voice_monitor.redis_counters import CounterStoreUnavailable  # (as app.py does)

        try:
            if not self.lake.exists():  # (in the background: the next scrape says so)
                if not release:
                    raise NoLakeError(no_lake_message(self.lake.root))
                return
            read_at = time.monotonic()
            try:
                realtime = self._realtime(datetime.now(UTC), stoppable=release)
            except (CounterStoreUnavailable, CounterStoreError) as exc:
                self._failed("the real-time counters", "counters_up", exc)
                families = [_counters_up(0)]
            else:
                if realtime is None:  # (in the background) the process is ending: no scrape
                    return
                self._answered("the real-time counters")
                families = [_counters_up(1), realtime]
            self._figures = (read_at, families, moments(self.lake))
        finally:
            if release:
                self._reading.release()

    def _failed(self, what: str, gauge: str, exc: Exception) -> None:
        """Log why `what` is left out, unless the last reading of it logged the same error."""
        trouble = f"{type(exc).__name__}: {exc}"
        if self._troubles.get(what) != trouble:
            _log.error("voice-monitor: /metrics leaves out %s (voice_monitor_%s 0) until they "
                       "can be read: %s", what, gauge, trouble)
        self._troubles[what] = trouble

    def _answered(self, what: str) -> None:
        if self._troubles.pop(what, None) is not None:
            _log.warning("voice-monitor: /metrics reads %s again", what)

    def _collected(self):
        stats = self.collector.stats
        for name, value, doc in (
            ("events_accepted", stats.accepted, "Events landed by this process (duplicates included)"),
            ("events_duplicate", stats.duplicates, "Landed events whose event_id was already in the lake"),
            ("events_quarantined", stats.quarantined, "Records this process quarantined"),
            ("batches", stats.batches, "Batches this process landed"),
            ("commits", stats.commits, "Landings this process made (each of one or more batches)"),
            ("batches_refused_overload", stats.refused_overload, "Batches refused with 503 (queue full)"),
            ("batches_refused_too_large", stats.refused_too_large, "Batches refused with 413"),
            ("batches_failed", stats.failed, "Batches whose landing failed (answered 500; 503 on a full disk or an unwritable lake)"),
        ):
            yield CounterMetricFamily(f"{PREFIX}_collector_{name}", doc, value=value)
        yield GaugeMetricFamily(f"{PREFIX}_collector_queue_batches",
                                "Batches landing or waiting in this process", value=self.collector.pending)

    def _realtime(self, now: datetime, stoppable: bool = False) -> GaugeMetricFamily | None:
        """The real-time counters' family; None if `stoppable` and the process began to end
        (`background.stopping`) while it read them (an organization at a time: with
        thousands, seconds)."""
        start = window_start(now)
        family = GaugeMetricFamily(f"{PREFIX}_realtime_events",
                                   "Real-time counters over the rolling last hour, per scope",
                                   labels=["scope", "organization_id", "metric"])
        try:
            store = open_counters(self.lake)
        except CounterStoreReadOnlyError:
            # SQLite cannot open the store (a full disk, a read-only mount): the window's event
            # files hold the same counts, as for `realtime_metrics`
            found = lake_window.scope_counts(self.lake, start, now)
            if found is None:  # an unreadable file in the window: the store's error stands
                raise
            return _from_files(family, found)
        common = shared(store)
        if common is not None:
            common.horizon()  # (a Redis store: one script call) sets `lost`
        if not uncounted.count(self.lake, store, now) or (common is not None and common.lost):
            # Redis lost its data and is not refilled yet (counter_refill.py), or landed events
            # a failed landing left uncounted could not be counted yet (uncounted.py): the
            # store holds only part of the window; the window's event files hold the counts
            store.close()
            found = lake_window.scope_counts(self.lake, start, now)
            if found is not None:
                return _from_files(family, found)
            store = open_counters(self.lake)  # an unreadable file: the store's counts, as before
        try:
            scopes = [None, *store.organizations(start, now, METRICS, 1)]
            for organization_id in scopes:
                if stoppable and background.stopping.is_set():
                    return None
                counts = store.window_counts(organization_id, start, now)
                scope = "platform" if organization_id is None else "organization"
                for metric in METRICS:
                    family.add_metric([scope, organization_id or "", metric], counts[metric])
        finally:
            store.close()
        return family

    def _freshness(self, seen: dict):
        fresh = freshness(self.lake, seen=seen)
        ages = GaugeMetricFamily(f"{PREFIX}_freshness_age_seconds",
                                 "Age of the newest event and of the newest snapshot's period end "
                                 "(absent when there is none yet)", labels=["what"])
        for what, key in (("event", "newest_event_age_s"),
                          ("pipeline_hourly", "hourly_snapshot_age_s"),
                          ("pipeline_daily", "daily_snapshot_age_s")):
            if fresh[key] is not None:
                ages.add_metric([what], fresh[key])
        yield ages
        stale = GaugeMetricFamily(f"{PREFIX}_freshness_stale",
                                  "1 when the newest event or snapshot is older than its schedule allows",
                                  labels=["what"])
        for what, key in (("event", "events_stale"), ("pipeline_hourly", "hourly_stale"),
                          ("pipeline_daily", "daily_stale")):
            stale.add_metric([what], 1.0 if fresh[key] else 0.0)
        yield stale

    def _alert_signature(self) -> tuple:
        return tuple((str(f), f.stat().st_size) for _, files in alert_partitions(self.lake)
                     for f in files)

    def _alerts(self):
        # the alert log is immutable files, only ever added or removed: while the same files are
        # there the answer is the same, and a scrape lists a folder instead of querying it
        # (an unreadable file: counts None, kept until the files change, as counts are)
        signature = self._alert_signature()
        if self._alert_cache is None or self._alert_cache[0] != signature:
            counts = {(t, s): 0 for t in CHECK_TYPES for s in SEVERITIES}
            try:
                for alert in active_alerts(self.lake):
                    key = (alert.alert_type, alert.severity)
                    counts[key] = counts.get(key, 0) + 1
            except UnreadableFileError as exc:
                self._failed("the active alerts", "alerts_up", exc)
                counts = None
            else:
                self._answered("the active alerts")
            self._alert_cache = (signature, counts)
        counts = self._alert_cache[1]
        yield GaugeMetricFamily(f"{PREFIX}_alerts_up",
                                "1 when the alert log was read for this exposition; 0 when a "
                                "file of it could not be (the alert gauges are left out and the "
                                "server's log names the file)", value=0 if counts is None else 1)
        if counts is None:
            return
        family = GaugeMetricFamily(f"{PREFIX}_alerts_active", "Active alerts by type and severity",
                                   labels=["alert_type", "severity"])
        for (alert_type, severity), n in sorted(counts.items()):
            family.add_metric([alert_type, severity], n)
        yield family


_EOF = b"# EOF\n"


class _Families:
    """Some metric families, in the shape an encoder reads (a registry's `collect`)."""

    def __init__(self, families: list):
        self.families = families

    def collect(self):
        return self.families


router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """The Prometheus exposition of this server and its lake (staff token, as for the API).

    Answered on the event loop when nothing must be read from the lake (a few live samples,
    well under a millisecond): a hop to a worker thread and back costs more than that while
    landings hold the interpreter. Else (and always on an object store) in a worker thread,
    as a blocking view would be.
    """
    await staff_actor(request)  # (a session cookie is looked up off the event loop)
    lake_metrics: LakeCollector = request.app.state.lake_metrics
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    if lake_metrics.ready():
        body = lake_metrics.render(encoder, content_type)
    else:
        body = await run_in_threadpool(lake_metrics.render, encoder, content_type)
    return Response(body, media_type=content_type)


@router.api_route("/healthz", methods=["GET", "HEAD"], include_in_schema=False)  # HEAD: probes
def healthz(request: Request) -> JSONResponse:
    """Liveness: the process answers and its lake is there (an empty folder where the lake was,
    an unmounted mount point, is not). No token needed."""
    lake: Lake = request.app.state.lake
    ok = lake.exists()
    return JSONResponse({"status": "ok" if ok else "lake missing"}, status_code=200 if ok else 503)


def _counters_up(value: int) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}_counters_up",
                             "1 when the real-time counter store was read for this exposition; 0 "
                             "when it could not be (Redis down, a damaged file: the real-time "
                             "counters are left out and the server's log says why)", value=value)


def make_registry(lake_collector: LakeCollector) -> CollectorRegistry:
    """A registry of its own per app (not the process-global one), holding the lake collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(lake_collector)
    return registry


def _from_files(family: GaugeMetricFamily, found: dict) -> GaugeMetricFamily:
    """`family` with the counts `lake_window.scope_counts` found: the platform's, then each
    organization's with a count (as the store lists them)."""
    platform = found.pop(None)
    scopes = [(None, platform), *sorted((org, counts) for org, counts in found.items()
                                        if any(counts.values()))]
    for organization_id, counts in scopes:
        scope = "platform" if organization_id is None else "organization"
        for metric in METRICS:
            family.add_metric([scope, organization_id or "", metric], counts[metric])
    return family
