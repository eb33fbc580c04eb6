"""Webhook notifications: every alert raised, escalated or resolved is POSTed as Slack-ready JSON.

Delivery is best effort and bounded: a timeout per attempt, a few attempts with doubling
backoff, then give up and report it. A failing or hanging webhook never fails a check run; the
alert itself is already stored in the lake before anything is sent.
"""

from __future__ import annotations

import html
import time
from dataclasses import asdict, dataclass
from datetime import datetime

import httpx

from voice_monitor.arguments import utc_text

_EMOJI = {"raised": ":rotating_light:", "escalated": ":rotating_light:",
          "resolved": ":white_check_mark:"}


@dataclass
class Delivery:
    """The outcome of sending one alert transition to the webhook."""

    alert_id: str
    event: str  # raised | escalated | resolved
    delivered: bool
    attempts: int
    error: str | None = None
    retried: bool = False  # a notification an earlier run could not deliver (health.outbox)

    def as_dict(self) -> dict:
        return asdict(self)


def _iso(value):
    return utc_text(value) if isinstance(value, datetime) else value


def payload(event: str, alert: dict) -> dict:
    """The JSON body for one transition: Slack reads `text`; other tools read the fields."""
    scope = alert.get("organization_id") or "platform"
    # Slack reads <!channel>, <!here>, <@U123> and <https://...|label> in `text` as mentions
    # and links, and asks for &, < and > to be escaped: an organization id comes from a
    # producer, and must not page a channel or show a link (the `alert` fields stay as stored)
    text = html.escape(f"{_EMOJI.get(event, '')} [{alert['severity'].upper()}] "
                       f"{alert['alert_type']} {event} for {scope}: {alert['message']}",
                       quote=False).strip()
    return {"text": text, "event": event, "alert": {k: _iso(v) for k, v in alert.items()}}


def url_problem(url: str) -> str | None:
    """Why `url` cannot be POSTed to (not http(s), no host, a bad port, ...), or None.
    The reason never repeats the URL's path or query: a webhook's path is its credential."""
    try:
        parts = httpx.URL(url)
        if parts.scheme not in ("http", "https"):
            return f"its scheme is {parts.scheme!r}" if parts.scheme else "it has no scheme"
        if not parts.host:
            return "it has no host"
        if parts.port is not None and not 0 < parts.port <= 65535:
            return f"port {parts.port} is not 1-65535"
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        reason = str(exc).split(",")[0]
        return reason.replace(url, "the URL")[:120]
    return None


def send(url: str, event: str, alert: dict, timeout_s: float = 5.0, attempts: int = 3,
         backoff_s: float = 0.5) -> Delivery:
    """POST one transition, retrying timeouts, connection errors, 429 and 5xx; never raises."""
    body = payload(event, alert)
    problem = url_problem(url)
    if problem is not None:  # no attempt can succeed; never an exception out of a check run
        return Delivery(alert["alert_id"], event, False, 1, f"InvalidURL: {problem}")
    error = None
    tried = 0
    with httpx.Client(timeout=timeout_s) as client:
        for attempt in range(attempts):
            tried = attempt + 1
            try:
                response = client.post(url, json=body)
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 300:
                    return Delivery(alert["alert_id"], event, True, tried)
                error = f"HTTP {response.status_code}"
                if response.status_code < 500 and response.status_code != 429:
                    break  # the request itself is wrong; repeating it will not help
            if attempt + 1 < attempts:
                time.sleep(backoff_s * 2**attempt)
    return Delivery(alert["alert_id"], event, False, tried, f"gave up after {tried} attempt(s): {error}")


def notify(url: str | None, transitions: list[tuple[str, dict]], timeout_s: float = 5.0,
           attempts: int = 3, backoff_s: float = 0.5) -> list[Delivery]:
    """Send every (event, alert) transition to `url`; no URL means nothing is sent."""
    if not url:
        return []
    return [send(url, event, alert, timeout_s, attempts, backoff_s) for event, alert in transitions]
