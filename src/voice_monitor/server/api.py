"""The reading API, `GET /api/v1/...`: §10's Python query API as JSON, for scripts and the dashboard.

Each endpoint is a thin call into the library, with query parameters named as the CLI's options
(`--org` is `org`, `--errors-only` is `errors_only`) and the same defaults and cursors. A bad
value is answered 400 with the library's own message naming it. Times are ISO-8601 UTC with Z.
"""

from __future__ import annotations

import functools
import json
import math
import shlex
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, get_args, get_origin
from urllib.parse import unquote_to_bytes

import anyio
import orjson
import polars as pl
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response

from voice_monitor import arguments, queries, storage
from voice_monitor.counters import realtime_metrics
from voice_monitor.health import alerts
from voice_monitor.integrity import move_aside_command, relative
from voice_monitor.lake import open_lake
from voice_monitor.pagination import Page
from voice_monitor.server.auth import Actor, require_staff
from voice_monitor.server.collector import read_capped, shown_header
from voice_monitor.server.freshness import freshness as lake_freshness


def known_parameters(request: Request) -> None:
    """Refuse a query parameter the endpoint does not take (`organization=` for `org=`), naming
    it and the ones it takes: ignored, it would answer for every organization without a word."""
    _check_utf8(request)
    route = request.scope.get("route")
    if route is None:
        return
    known = _query_names(route.dependant)
    unknown = sorted(set(request.query_params) - set(known))
    if unknown:
        takes = ", ".join(sorted(known)) if known else "none"
        raise ValueError(f"unknown query parameter {arguments.shown(unknown[0])} for "
                         f"{request.url.path[:100]}; "
                         f"it takes: {takes}")
    # a scalar given twice (`start=..&start=..`) would be taken once, the other dropped unsaid
    for name in sorted(n for n, many in known.items() if not many):
        given = len(request.query_params.getlist(name))
        if given > 1:
            raise ValueError(f"query parameter {name!r} is given {given} times for "
                             f"{request.url.path}; it takes one value: send {name}= once")


def _check_utf8(request: Request) -> None:
    """Refuse a path or query parameter whose percent-decoded bytes are not UTF-8 (`%ff`): the
    server decodes them to U+FFFD, and would answer for an id or a value nobody sent."""
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    try:
        unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"path {arguments.shown(raw_path.decode('latin-1'))} is not UTF-8 once "
                         f"percent-decoded; {_UTF8_FIX}") from None
    for pair in request.scope.get("query_string", b"").split(b"&"):
        for part in pair.split(b"=", 1):
            try:
                unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError(f"query parameter {arguments.shown(pair.decode('latin-1'))} is "
                                 f"not UTF-8 once percent-decoded; {_UTF8_FIX}") from None


_UTF8_FIX = "percent-encode each character's UTF-8 bytes (e.g. é as %C3%A9)"


def _query_names(dependant) -> dict[str, bool]:
    """The query parameters an endpoint and its dependencies take: name -> takes a list."""
    names = {p.alias: _is_list(p.field_info.annotation) for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def _is_list(annotation) -> bool:
    return any(get_origin(a) in (list, tuple, set) for a in (annotation, *get_args(annotation)))


router = APIRouter(dependencies=[Depends(require_staff), Depends(known_parameters)])


def _default(value: Any):
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


class JSON(Response):
    """JSON via orjson: UTC times with Z, NaN and infinities as null."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)


def dumps(content: Any) -> bytes:
    """`content` as the API's JSON (see `JSON`)."""
    return orjson.dumps(content, default=_default,
                        option=orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC | orjson.OPT_SERIALIZE_NUMPY)


def rows(frame: pl.DataFrame) -> list[dict]:
    """A frame's rows as JSON-ready dicts (non-finite floats become null)."""
    return [{k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in r.items()}
            for r in frame.to_dicts()]


def page_limit(limit: Annotated[str, Query(
        description="Rows per page, a whole number, 1 or more (a page holds at most 500)",
        json_schema_extra={"type": "integer"})] = "50") -> int:
    """`limit` of every endpoint that pages, read as the CLI reads `--limit` (one parser here):
    pydantic's int took '5.0', which the CLI refuses (its range is the library's to check)."""
    return arguments.integer_text(limit, "limit")


Limit = Annotated[int, Depends(page_limit)]


def row_limit(limit: Annotated[str | None, Query(
        description="Rows to answer, 0 = all (the default)",
        json_schema_extra={"type": "integer"})] = None) -> int:
    """`limit` of an answer that is not paged, read as the CLI's `--limit` of the same command
    (`metrics historical`, `metrics orgs`, `events timeline`): the first N rows, 0 = all."""
    if limit is None:
        return 0
    rows_wanted = arguments.integer_text(limit, "limit", example=100)
    if rows_wanted < 0:
        raise ValueError(f"limit {rows_wanted} is below 0; send the number of rows to answer, "
                         "or 0 (the default) for all of them")
    return rows_wanted


RowLimit = Annotated[int, Depends(row_limit)]


def first_rows(answer: dict, limit: int) -> dict:
    """`answer` with its rows cut to the first `limit` (0 = all), and `rows_total` (how many
    there were) when that cut any."""
    if limit and len(answer["rows"]) > limit:
        answer["rows_total"] = len(answer["rows"])
        answer["rows"] = answer["rows"][:limit]
    return answer


def _page(page: Page) -> JSON:
    return JSON({"rows": rows(page.rows), "next_cursor": page.next_cursor})


def _now(now: str | None) -> datetime:
    return arguments.utc_time(now, "now") or datetime.now(UTC)


def _range(start: str | None, end: str | None, now: datetime) -> tuple[datetime, datetime]:
    """The CLI's default range: END defaults to now, START to END minus 24 hours."""
    end_at = arguments.utc_time(end, "end") or now
    return arguments.utc_time(start, "start") or end_at - timedelta(hours=24), end_at


# what a read met that it could not read: the answer's key, and the warnings' attribute (and
# the key's field) for what was read as empty
_UNREADABLE = {"snapshots": ("snapshots_unreadable", "periods"),  # SnapshotFilesUnreadableWarning
               "events": ("events_unreadable", "hours")}  # EventFilesUnreadableWarning


def with_unreadable(answer: dict, noted: list, kind: str = "snapshots") -> dict:
    """`answer` with `snapshots_unreadable` (`kind` "snapshots") or `events_unreadable`
    ("events") when its read met files it could not read (`queries.unreadable_noted`'s
    warnings): the files, the periods read as having no snapshot or the hours of events left
    out, and what the warnings say (the file and the fix)."""
    if noted:
        key, within = _UNREADABLE[kind]
        answer[key] = {
            "files": sorted({name for w in noted for name, _ in w.files}),
            within: sorted({x for w in noted for x in getattr(w, within)}),
            "message": "; ".join(dict.fromkeys(str(w) for w in noted))}
    return answer


# -- metrics ---------------------------------------------------------------------------------
# A Redis that stalls (paused, swapping, a failover) holds each real-time read for its socket
# timeout (30 s): on these few threads of their own, such reads never take the worker threads
# (40) that every other route and /healthz need, so one stalled store cannot stop them all
COUNTER_READS = anyio.CapacityLimiter(8)


@router.get("/metrics/realtime")
async def metrics_realtime(request: Request, org: str | None = None,
                           now: str | None = None) -> JSON:
    """Counts for the rolling last hour (`voice-monitor metrics realtime`)."""
    organization_id = arguments.identifier(org, "organization_id")
    read = functools.partial(realtime_metrics, request.app.state.lake, organization_id,
                             now=_now(now), refill_waits=False)
    return JSON(await anyio.to_thread.run_sync(read, limiter=COUNTER_READS))


@router.get("/metrics/historical")
def metrics_historical(request: Request, org: str | None = None, start: str | None = None,
                       end: str | None = None, period: str | None = None,
                       now: str | None = None, limit: RowLimit = 0) -> JSON:
    """Pipeline snapshot rows, hourly up to 7 days and daily beyond (`metrics historical`); a
    period not ended by `now` has no snapshot yet (the lake as it was then)."""
    at = _now(now)
    start_at, end_at = _range(start, end, at)
    with queries.unreadable_noted() as noted:
        frame = queries.historical_metrics(request.app.state.lake, start_at, end_at, org,
                                           period, now=at)
    return JSON(first_rows(with_unreadable({"start": start_at, "end": end_at,
                                            "rows": rows(frame)}, noted), limit))


@router.get("/metrics/stages")
def metrics_stages(request: Request, org: str | None = None, start: str | None = None,
                   end: str | None = None, now: str | None = None) -> JSON:
    """Per-stage totals over a range (`metrics stages`)."""
    at = _now(now)
    start_at, end_at = _range(start, end, at)
    # the periods its totals leave out, from its own read of the stage snapshots (not warned:
    # the answer says them)
    with queries.unreadable_noted() as noted:
        frame, (_, _, _, missing) = queries.stage_breakdown.with_gaps(
            request.app.state.lake, start_at, end_at, org, now=at)
    return JSON(with_unreadable({"start": start_at, "end": end_at, "rows": rows(frame),
                                 "not_built": missing}, noted))


@router.get("/metrics/orgs")
def metrics_orgs(request: Request, start: str | None = None, end: str | None = None,
                 now: str | None = None, limit: RowLimit = 0) -> JSON:
    """Per-organization totals and rates with names, most received first (`metrics orgs`)."""
    at = _now(now)
    start_at, end_at = _range(start, end, at)
    # a missing lake is 503, never an answer kept from when it was there (a lake with no
    # snapshot yet has no folder whose change would have dropped it: 200, every hour not built)
    lake = open_lake(request.app.state.lake)
    found, missing, noted = org_totals(request.app.state, start_at, end_at, at)
    answer = with_unreadable({"start": start_at, "end": end_at, "rows": found,
                              "not_built": missing}, noted)
    if queries.organization_names_problem(lake) is not None:  # every name 'Unknown': say why
        answer["names_unreadable"] = (
            f"{relative(lake, lake.organizations_file)} cannot be read, so "
            f"every name is 'Unknown'; move it aside with: {move_aside_command(lake)}, "
            f"or load the names again with: voice-monitor orgs load FILE.csv --lake "
            f"{shlex.quote(storage.shared_url(lake.root))}")
    return JSON(first_rows(answer, limit))


def org_totals(state, start: datetime, end: datetime, now: datetime
               ) -> tuple[list[dict], list[datetime], list]:
    """`org_breakdown` rows, the periods they leave out (not warned: the answer says them),
    periods not ended by `now` among them, and the unreadable-file warnings of the read
    (`queries.unreadable_noted`), kept in the app's snapshot cache (from snapshots only: see
    server.cache)."""
    def read() -> tuple[list[dict], list[datetime], list]:
        with queries.unreadable_noted() as noted:
            frame, (_, _, _, missing) = queries.org_breakdown.with_gaps(state.lake, start, end,
                                                                        now=now)
        return rows(frame), missing, noted

    return state.snapshot_cache.get(("orgs", queries.period_bounds(start, end, now=now)), read)


@router.get("/freshness")
def freshness(request: Request, now: str | None = None) -> JSON:
    """Newest event, newest hourly and daily snapshot, last rollup writes, and what is stale."""
    # open_lake: a missing lake is 503, not "nothing landed yet, everything stale"
    return JSON(lake_freshness(open_lake(request.app.state.lake), _now(now)))


# -- the event log ---------------------------------------------------------------------------
@router.get("/events")
def events(request: Request, type: Annotated[list[str] | None, Query()] = None, stage: str | None = None,
           org: str | None = None, artifact: str | None = None, start: str | None = None,
           end: str | None = None, errors_only: bool = False, limit: Limit = 50,
           cursor: str | None = None, now: str | None = None,
           errors_only_as_on_the_cli: Annotated[bool | None, Query(alias="errors-only")] = None,
           ) -> JSON:
    """Recent events, newest first, one page at a time (`voice-monitor events recent`); with
    `now`, only events stamped at or before it (the dashboard pinned to a past moment).
    `errors-only`, the CLI option's own name, is taken as `errors_only` (not both)."""
    if errors_only_as_on_the_cli is not None:
        if "errors_only" in request.query_params:
            raise ValueError("query parameters 'errors_only' and 'errors-only' are the same "
                             "switch; send one of them")
        errors_only = errors_only_as_on_the_cli
    if now is not None:  # `end` is exclusive: one microsecond past `now` keeps an event at `now`
        at = arguments.utc_time(now, "now")
        start_at, end_at = arguments.utc_time(start, "start"), arguments.utc_time(end, "end")
        if start_at is not None and start_at > at and (end_at is None or end_at > at):
            # the range's end is now's doing: say so, not "end NOW+1us", a time nobody sent
            raise ValueError(f"bad time range: start {start} is after now {now}, and only events "
                             "stamped at or before now are read; give a start before now")
        through = at + timedelta(microseconds=1)
        end = through if end_at is None else min(end_at, through)
    with queries.unreadable_noted() as noted:  # an hour reached that cannot be read: said
        page = queries.recent_events(request.app.state.lake, type or None, stage, org, artifact,
                                     start, end, errors_only, limit, cursor)
    return JSON(with_unreadable({"rows": rows(page.rows), "next_cursor": page.next_cursor},
                                noted, "events"))


@router.get("/artifacts/failed")
def artifacts_failed(request: Request, since: str | None = None, limit: Limit = 50,
                     cursor: str | None = None, now: str | None = None) -> JSON:
    """Artifacts whose latest outcome is a failure, newest first (`artifacts failed`); with
    `now`, the lake as it was then (default: every landed event, as on the CLI)."""
    with queries.unreadable_noted() as noted:
        page = queries.failed_artifacts(request.app.state.lake, since, limit, cursor, now=now)
    return JSON(with_unreadable({"rows": rows(page.rows), "next_cursor": page.next_cursor},
                                noted, "events"))


@router.get("/artifacts/active")
def artifacts_active(request: Request, limit: Limit = 50, cursor: str | None = None,
                     now: str | None = None) -> JSON:
    """Artifacts in flight: current stage and time in it, longest first (`artifacts active`)."""
    # without now: the clock's, or with a cursor its first page's (active_artifacts)
    with queries.unreadable_noted() as noted:
        page = queries.active_artifacts(request.app.state.lake, limit, cursor, now=now)
    return JSON(with_unreadable({"rows": rows(page.rows), "next_cursor": page.next_cursor},
                                noted, "events"))


# `:path`: an artifact id may hold a `/` (sent as %2F, which the server decodes before routing)
@router.get("/artifacts/{artifact_id:path}/timeline")
def artifact_timeline(request: Request, artifact_id: str, now: str | None = None,
                      limit: RowLimit = 0) -> JSON:
    """Every event of one artifact, oldest first (`voice-monitor events timeline`); with `now`,
    only events stamped at or before it (the dashboard pinned to a past moment)."""
    with queries.unreadable_noted() as noted:
        frame = queries.artifact_timeline(request.app.state.lake, artifact_id, now=now)
    return JSON(with_unreadable(
        first_rows({"artifact_id": artifact_id, "rows": rows(frame)}, limit), noted, "events"))


@router.get("/artifacts/{artifact_id:path}/retries")
def artifact_retries(request: Request, artifact_id: str, now: str | None = None) -> JSON:
    """The retry events of one artifact, oldest first; with `now`, those stamped by then."""
    with queries.unreadable_noted() as noted:
        frame = queries.retry_history(request.app.state.lake, artifact_id, now=now)
    return JSON(with_unreadable({"artifact_id": artifact_id, "rows": rows(frame)}, noted,
                                "events"))


@router.get("/openapi.json", include_in_schema=False)
def openapi(request: Request) -> JSON:
    """The OpenAPI schema of the collector and this API (staff, as every /api/v1 answer)."""
    return JSON(_integer_defaults(request.app.openapi()))


def _integer_defaults(schema: dict) -> dict:
    """The schema with the default of each whole-number parameter read as text (`limit`,
    `hours`: see `page_limit`) written as the integer it is: it showed "50", a string."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                given = parameter.get("schema", {})
                if given.get("type") == "integer" and isinstance(given.get("default"), str):
                    given["default"] = int(given["default"])
    return schema


# -- alerts ----------------------------------------------------------------------------------
@router.get("/alerts")
def alerts_active(request: Request, now: str | None = None) -> JSON:
    """The active alerts, newest first (`voice-monitor alerts list`); with `now`, those active at
    that moment (the dashboard pinned to a past moment), each as it stands today."""
    at = arguments.utc_time(now, "now")
    return JSON({"alerts": [a.as_dict() for a in alerts.active_alerts(request.app.state.lake, at)]})


@router.get("/alerts/history")
def alerts_history(request: Request, type: str | None = None, org: str | None = None,
                   status: str | None = None, start: str | None = None, end: str | None = None,
                   limit: Limit = 50, cursor: str | None = None) -> JSON:
    """Alert history, newest raised first, one page at a time (`alerts history`); `org` is
    checked by the library, whose message names it `organization_id` as every endpoint's and
    the CLI's do."""
    page = alerts.alert_history(request.app.state.lake, type, org,
                                status, arguments.utc_time(start, "start"),
                                arguments.utc_time(end, "end"), limit, cursor)
    return JSON(page.as_dict())


# an acknowledgement's body at most: the longest one allowed (a 256-character name and a
# 2,000-character note, alerts.MAX_NOTE) written as JSON with every character escaped as a
# surrogate pair (12 bytes, \ud83d\ude00) is ~27 KB; megabytes were read whole
MAX_ACK_BODY_BYTES = 32 * 1024


async def _ack_body(request: Request) -> bytes:
    """The acknowledgement's body, read up to `MAX_ACK_BODY_BYTES` (413 beyond)."""
    return await read_capped(request, MAX_ACK_BODY_BYTES, lambda: HTTPException(
        413, f"the body is over {MAX_ACK_BODY_BYTES:,} bytes; an acknowledgement is "
             f"{{\"by\": NAME, \"note\": TEXT}} (a note of at most {alerts.MAX_NOTE:,} "
             "characters)"))


def _once(keys: list[str]) -> None:
    """Refuse a field the acknowledgement's body gives twice (which one counts is a guess), as a
    query parameter given twice is refused."""
    for key in dict.fromkeys(keys):
        if keys.count(key) > 1:
            raise ValueError(f"the body gives {key[:100]!r} {keys.count(key)} times; send it once")


def _json_kind(value: Any) -> str:
    """What a parsed JSON value is, in JSON's words (null, true, an array...), not Python's."""
    if value is None or isinstance(value, bool):
        return orjson.dumps(value).decode()
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "a string" if isinstance(value, str) else "a number"


@router.post("/alerts/{alert_id}/ack")
async def alerts_ack(request: Request, alert_id: str,
                     by_in_query: Annotated[str | None, Query(alias="by")] = None,
                     note_in_query: Annotated[str | None, Query(alias="note")] = None) -> JSON:
    """Acknowledge an alert (`alerts ack`): body {"by": NAME, "note": TEXT}, both optional; or
    `?by=&note=`, named as the CLI's options (contract §12)."""
    actor: Actor = request.state.actor
    body: dict = {}
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    data = await _ack_body(request)
    if media == "application/json":
        try:
            body = orjson.loads(data or b"{}")
        except orjson.JSONDecodeError:
            raise ValueError("the body is not JSON; send {\"by\": \"alice\", \"note\": \"...\"}") from None
        if not isinstance(body, dict):  # said as JSON says it: 'not NoneType' meant null
            raise ValueError(f"the body must be a JSON object, not {_json_kind(body)}; send "
                             "{\"by\": \"alice\", \"note\": \"...\"}, or no body to acknowledge as "
                             "the token's name")
        # orjson keeps the last of a repeated key: {"by": "bob", "by": "eve"} was eve's, unsaid
        try:  # (no body is {}, as above)
            pairs = json.loads(data or b"{}", object_pairs_hook=lambda pairs: pairs)
        except RecursionError:  # orjson reads 1,024 levels of [ or {, Python's json fewer
            raise ValueError("the body nests lists or objects too deeply; send "
                             "{\"by\": \"alice\", \"note\": \"...\"}") from None
        _once([key for key, _ in pairs])
    elif media in ("application/x-www-form-urlencoded", "multipart/form-data"):
        async def replay() -> dict:  # the form parser reads the body it was given, capped
            return {"type": "http.request", "body": data, "more_body": False}

        form = await Request(request.scope, replay).form()
        _once([key for key, _ in form.multi_items()])
        body = dict(form)
    elif data:  # text/plain and the like: never silently ignored
        # named as sent: parameters with no media type (';;;') or none at all were "''"
        given = request.headers.get("content-type", "")
        if media:
            sent = f"content type {shown_header(media)}"
        elif given.strip():
            sent = f"content type {shown_header(given)}, no media type,"
        else:
            sent = "a body without a content type"
        return JSON({"detail": f"{sent} is not accepted; send JSON "
                               "(Content-Type: application/json) or a form"}, status_code=415)
    for key, given in (("by", by_in_query), ("note", note_in_query)):
        if given is not None:
            if key in body:  # which one counts would be a guess
                raise ValueError(f"{key!r} is given in both the query string and the body; "
                                 "send it once")
            body[key] = given
    unknown = sorted(set(body) - {"by", "note"})
    if unknown:  # e.g. curl -d '{"by": ...}' without the JSON content type: one odd form field
        raise ValueError(f"unknown field(s) {', '.join(map(repr, unknown))[:200]}; send "
                         "{\"by\": \"alice\", \"note\": \"...\"} as application/json")
    # left out (or null): the token's name; given, it is checked as `alerts ack --by` is, so an
    # empty or blank name is a 400 naming it, never the token's name in its place
    by = actor.name if body.get("by") is None else body["by"]
    note = body.get("note")
    for key, value in (("by", by), ("note", note)):  # (a note of 0 or [] too, not dropped)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{key!r} is {_json_kind(value)}, not text; send it as a JSON "
                             "string: {\"by\": \"alice\", \"note\": \"...\"}")
    note = note or None  # an empty note is no note
    try:
        alert = alerts.acknowledge_alert(request.app.state.lake, alert_id, by, note)
    except alerts.UnknownAlertError as exc:
        return JSON({"detail": str(exc)}, status_code=404)
    except alerts.AlreadyAcknowledgedError as exc:  # the first acknowledgement is kept
        return JSON({"detail": str(exc), "alert": exc.alert.as_dict()}, status_code=409)
    return JSON(alert.as_dict())
