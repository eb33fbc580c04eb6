"""The dashboard for platform staff: `GET /`, the sign-in page, its assets and its charts.

The page is static HTML and vanilla JavaScript (`server/static/`); every number on it is
fetched from the reading API (`/api/v1/...`) with the session cookie, so a script sees exactly
what a person sees. The one endpoint added here, `GET /api/v1/charts/{name}`, runs the same
query API calls and returns the figure that `voice_monitor.charts` draws from them, so the page
and the notebooks share one definition per chart. Every asset, Plotly's JavaScript included
(vendored, see `server.assets`), is served by the app: no CDN, no internet.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from voice_monitor import arguments, charts, queries
from voice_monitor.health.checks import AlertConfig
from voice_monitor.lake import open_lake
from voice_monitor.schema import EVENT_TYPES, STAGES
from voice_monitor.server import api, assets, background
from voice_monitor.server.assets import STATIC
from voice_monitor.server.auth import StaffPage, require_staff
from voice_monitor.server.freshness import moments

CHART_HOURS = 48  # the charts' default window, ending at `now`
MAX_CHART_HOURS = 7 * 24  # hourly snapshots are kept 7 days
# The browser may load and connect to this server only (also a second guard against any
# external URL); Plotly sets inline styles on the elements it draws.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; "
       "base-uri 'none'")
_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin", "Cache-Control": "no-store"}

_log = logging.getLogger("uvicorn.error")  # uvicorn prints its INFO lines; the app has no other log

router = APIRouter()
router.include_router(assets.router)


_LOGIN_FAILED = '<p class="error" id="login-error">That is not a staff token. Try again.</p>'


def _options(values) -> str:
    # values are the schema's own names (letters and underscores), not user input
    return "".join(f'<option value="{v}">{v}</option>' for v in values)


def _page(name: str, **fill: str) -> HTMLResponse:
    text = (STATIC / name).read_text()
    for marker, html in fill.items():
        text = text.replace(f"<!--{marker}-->", html)
    for asset in assets.FILES:  # each asset by its content's URL, cached by the browser for good
        text = text.replace(f'"/static/{asset}"', f'"{assets.versioned(asset)}"')
    return HTMLResponse(text, headers=_HEADERS)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def index(request: Request, actor: StaffPage) -> HTMLResponse:
    """The dashboard (signed-in staff; others are sent to /login)."""
    warm_up(request.app.state)
    # under --no-auth nobody signs in, so nobody signs out: the button led to a sign-in form
    # that no token passes (none is configured), and the page was out of reach from there
    sign_out = (_NO_SIGN_IN if request.app.state.tokens.no_auth else _SIGN_OUT)
    return _page("index.html", **{"event-types": _options(sorted(EVENT_TYPES)),
                                  "stages": _options(STAGES), "sign-out": sign_out})


_SIGN_OUT = '<form method="post" action="/logout"><button type="submit">Sign out</button></form>'
_NO_SIGN_IN = '<span class="muted" id="no-auth">local, no sign-in (--no-auth)</span>'


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_page(request: Request, error: str | None = None) -> Response:
    """The sign-in form: posts a staff token to /login, which sets the session cookie (under
    --no-auth there is no sign-in: the dashboard itself)."""
    if request.app.state.tokens.no_auth:
        return RedirectResponse("/", status_code=303)
    warm_up(request.app.state)
    return _page("login.html", error=_LOGIN_FAILED if error else "")


_warming = threading.Lock()


def warm_up(state) -> None:
    """Once per process (`serve` at start; else at the first sign-in form or page), in the
    background: what the dashboard's first load would otherwise pay (see `_warm`)."""
    with _warming:
        if getattr(state, "warming", None) is not None:
            return
        state.warming = background.start(_warm, state, name="voice-monitor-warm-up")


def _warm(state) -> None:
    """Compress the assets, import Plotly, start DuckDB and read the newest event files, and
    draw the 48-hour charts and organization table into the snapshot cache: for now, and for a
    lake whose events stopped over an hour ago (a demo, a bench, a quiet lake) also at its
    newest event, the moment its page is most likely pinned to."""
    began = time.perf_counter()
    try:
        assets.load_all()
        ends = [datetime.now(UTC)]
        newest = moments(state.lake)["newest_event_at"]
        if newest is not None and ends[0] - newest > timedelta(hours=1):
            ends.append(newest)
        for end in ends:
            start = end - timedelta(hours=CHART_HOURS)
            for name in charts.CHARTS:
                if background.stopping.is_set():  # the process is ending: no page will come
                    return
                chart_json(state, name, start, end)
            api.org_totals(state, start, end, end)
        queries.recent_events(state.lake, limit=25)
    except Exception as exc:  # noqa: BLE001 - only a head start: the page's own request will say
        _log.warning("voice-monitor: warm-up stopped: %s", exc)
    else:
        _log.info("voice-monitor: dashboard warmed up in %.1f s", time.perf_counter() - began)


def chart_figure(lake, name: str, start: datetime, end: datetime,
                 config: AlertConfig | None = None):
    """The figure `name` of `voice_monitor.charts.CHARTS` over [start, end), as the lake was at
    `end` (the page's now): a period not ended by then is drawn as not built."""
    if name not in charts.CHARTS:
        raise ValueError(f"unknown chart {arguments.shown(name)}; expected one of "
                         f"{', '.join(charts.CHARTS)}")
    draw, query = charts.CHARTS[name]
    read = getattr(queries, query)
    with queries.unreadable_noted() as noted:
        if query in queries.TOTALS:  # its gaps are not warned here (the page's panels say them)
            frame = read.with_gaps(lake, start, end, now=end)[0]
        else:
            frame = read(lake, start, end, now=end)
    figure = draw(frame, config) if name == "failure_rate" else draw(frame)
    return figure, api.with_unreadable({}, noted).get("snapshots_unreadable")


def chart_hours(hours: Annotated[str, Query(
        description=f"Hours before `now` the chart covers, a whole number, 1 to {MAX_CHART_HOURS}",
        json_schema_extra={"type": "integer"})] = str(CHART_HOURS)
                ) -> int:
    """`hours` read as `limit` is (Python's int()): pydantic's int took '5.0' as 5, and its
    refusal of 'abc' suggested 'e.g. 50'."""
    return arguments.integer_text(hours, "hours", example=CHART_HOURS, option=False)


@router.get("/api/v1/charts/{name}",
            dependencies=[Depends(require_staff), Depends(api.known_parameters)])
def chart(request: Request, name: str, hours: Annotated[int, Depends(chart_hours)] = CHART_HOURS,
          now: str | None = None) -> Response:
    """A chart of the last `hours` (default 48) before `now`, as Plotly figure JSON."""
    if not 1 <= hours <= MAX_CHART_HOURS:
        raise ValueError(f"hours {hours} is out of range; use 1 to {MAX_CHART_HOURS}")
    end = arguments.utc_time(now, "now") or datetime.now(UTC)
    open_lake(request.app.state.lake)  # a missing lake is 503, never an empty chart
    body = chart_json(request.app.state, name, end - timedelta(hours=hours), end)
    return Response(body, media_type="application/json")


def chart_json(state, name: str, start: datetime, end: datetime) -> str:
    """The figure JSON of `chart_figure`, kept in the app's snapshot cache: a chart is drawn
    from snapshots only, so the same periods and snapshots draw the same figure."""
    config = getattr(state, "alert_config", None)
    def draw() -> str:
        figure, unreadable = chart_figure(state.lake, name, start, end, config)
        if unreadable is None:
            return figure.to_json()
        # beside Plotly's data and layout, as the API's metrics answers say it
        return json.dumps({**json.loads(figure.to_json()),
                           "snapshots_unreadable": json.loads(api.dumps(unreadable))})

    return state.snapshot_cache.get(
        ("chart", name, queries.period_bounds(start, end, now=end), repr(config)), draw)
