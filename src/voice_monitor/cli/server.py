"""CLI command: serve (the collector, API, /metrics and dashboard on uvicorn)."""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import signal
import socket

import click

from voice_monitor.cli.common import VoiceMonitorError, create_lake, lake_option
from voice_monitor.lake import Lake
from voice_monitor.server import group_commit, protocol
from voice_monitor.server.app import SERVE_ENV
from voice_monitor.server.auth import (
    INGEST_ENV,
    STAFF_ENV,
    TokenConfigError,
    check_startup,
    load_tokens,
)


def _proxies_problem(value: str) -> str | None:
    """Why `value` is not a list of proxy addresses for uvicorn's forwarded_allow_ips, or None.
    uvicorn takes an entry that is not an address or a network as a name it compares silently,
    so a typo trusted no proxy (and browsers could not sign in behind TLS)."""
    if value.strip() == "*":
        return None
    for entry in (part.strip() for part in value.split(",")):
        try:
            ipaddress.ip_network(entry) if "/" in entry else ipaddress.ip_address(entry)
        except ValueError as exc:
            why = f" ({exc})" if "/" in entry else ""
            return (f"{entry!r} is not an IP address or network{why}; give the proxies' "
                    "addresses, comma-separated, e.g. 10.0.0.5,10.1.0.0/16, or * to trust any")
    return None


def _forwarded_ips(ctx, param, value: str | None) -> str | None:
    problem = value is not None and _proxies_problem(value)
    if problem:
        raise click.BadParameter(f"{value!r}: {problem}" if "," in value else problem)
    return value


PROXIES_ENV = "FORWARDED_ALLOW_IPS"


def _host(ctx, param, value: str) -> str:
    """A click callback: --host is an address or a name alone. A URL, a port or brackets
    (copied from a URL) were taken as a name: 'cannot listen on [[::1]]:8787: Name or service
    not known', and with --no-auth '--no-auth only binds 127.0.0.1, not '[::1]'' (it does)."""
    address, _, port = value.rpartition(":")
    if value != value.strip() or not value:
        problem = "is empty" if not value.strip() else "has spaces around it"
        raise click.BadParameter(f"{value!r} {problem}; give an address of this machine, e.g. "
                                 "127.0.0.1 (or 0.0.0.0 for all of them)")
    if "://" in value or "/" in value:
        raise click.BadParameter(f"{value!r} is not an address: give the host alone, without a "
                                 "scheme or path, e.g. --host 127.0.0.1 (the port as --port)")
    if value.startswith("[") and value.endswith("]"):
        raise click.BadParameter(f"{value!r}: give an IPv6 address without brackets, "
                                 f"--host {value[1:-1]}")
    if port.isdigit() and (value.count(":") == 1 or address.endswith("]")):
        bare = address[1:-1] if address.startswith("[") else address
        raise click.BadParameter(f"{value!r} holds a port; give it apart: --host {bare} "
                                 f"--port {port}")
    return value


def _client_timeout(ctx, param, value):
    """A click callback: NaN passes a FloatRange (it compares false with both ends); uvloop's
    timer then refused every connection ("cannot convert float NaN to integer")."""
    if value is not None and not 1 <= value <= 3600:
        raise click.BadParameter(f"{value} is not a number of seconds from 1 to 3600; use e.g. 30")
    return value


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, callback=_host,
              help="Address to bind (an IPv6 one without brackets).")
@click.option("--port", type=click.IntRange(0, 65535), default=8787, show_default=True,
              help="Port to listen on.")
@click.option("--no-auth", is_flag=True,
              help="Serve without tokens (only on 127.0.0.1, for local use).")
@click.option("--tokens-file", type=click.Path(dir_okay=False), default=None,
              help="File of tokens, one 'ingest TOKEN [NAME]' or 'staff TOKEN [NAME]' per line.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Server processes (each with its own landing threads).")
@click.option("--max-body-bytes", type=click.IntRange(1, group_commit.MAX_BODY_BYTES),
              default=group_commit.DEFAULT_MAX_BODY_BYTES, show_default=True,
              help="Largest batch accepted, sent or decompressed (else 413), at most 512 MiB.")
@click.option("--queue-size", type=click.IntRange(0, group_commit.MAX_QUEUE_SIZE),
              default=group_commit.DEFAULT_QUEUE_SIZE, show_default=True,
              help="Batches that may wait for landing (beyond it: 503); 0: none waits, each "
                   "landing thread takes one at a time.")
@click.option("--landing-threads", type=click.IntRange(1, group_commit.MAX_LANDING_THREADS),
              default=group_commit.DEFAULT_LANDING_THREADS, show_default=True,
              help="Batches landed at once per process.")
@click.option("--forwarded-allow-ips", default=None, metavar="ADDRESSES", callback=_forwarded_ips,
              help="Proxies (comma-separated addresses, or *) whose X-Forwarded-Proto and "
                   "X-Forwarded-For to trust: behind a TLS load balancer, its address, so that "
                   "browsers can sign in (default: $FORWARDED_ALLOW_IPS, else 127.0.0.1).")
@click.option("--client-timeout", type=click.FloatRange(1, 3600), show_default=True,
              default=protocol.DEFAULT_CLIENT_TIMEOUT_S, metavar="SECONDS",
              callback=_client_timeout,
              help="A client's request headers must arrive within this, and its body must not "
                   "pause longer, nor take longer than this plus 1 s per 1,024 bytes (else "
                   "the connection is closed: 408 for headers).")
@lake_option(create=True)
def serve(host: str, port: int, no_auth: bool, tokens_file: str | None, workers: int,
          max_body_bytes: int, queue_size: int, landing_threads: int,
          forwarded_allow_ips: str | None, client_timeout: float, lake: Lake) -> None:
    """Serve the collector (POST /v1/events), the API (/api/v1), /metrics and the dashboard.

    Tokens come from $VOICE_MONITOR_INGEST_TOKENS and $VOICE_MONITOR_STAFF_TOKENS
    (comma-separated) and/or --tokens-file. Creates the lake if it does not exist.

    \b
    Example:
      VOICE_MONITOR_STAFF_TOKENS=$(openssl rand -hex 24) voice-monitor serve --lake ./data
      voice-monitor serve --no-auth --port 8787 --lake ./data
    """
    import uvicorn

    try:
        tokens = load_tokens(tokens_file=tokens_file, no_auth=no_auth)
        check_startup(tokens, host)
    except TokenConfigError as exc:
        raise VoiceMonitorError(str(exc)) from None
    if forwarded_allow_ips is None and os.environ.get(PROXIES_ENV):  # uvicorn reads it then
        problem = _proxies_problem(os.environ[PROXIES_ENV])
        if problem:
            raise VoiceMonitorError(f"{PROXIES_ENV}={os.environ[PROXIES_ENV]!r}: {problem}")
    _check_listen(host, port)
    from voice_monitor.settings import load_settings

    load_settings()  # read again by the app (the chart's alert thresholds): a bad value is one line here
    create_lake(lake)
    os.environ[SERVE_ENV] = json.dumps({
        "lake": str(lake.root.resolve()), "tokens_file": tokens_file, "no_auth": no_auth,
        "max_body_bytes": max_body_bytes, "queue_size": queue_size,
        "landing_threads": landing_threads, "client_timeout": client_timeout,
    })
    roles = (f"{len(tokens.ingest)} ingest and {len(tokens.staff)} staff token(s)"
             if not no_auth else "no authentication (local only)")
    # --port 0: the system picks a free port as uvicorn binds; 'http://127.0.0.1:0' is no URL
    where = (f"http://{_address(host, port)}" if port else
             f"http://{_address(host, 0)[:-2]} at a free port (--port 0; uvicorn's 'Uvicorn "
             "running on' line names it)")
    click.echo(f"voice-monitor: serving lake {str(lake.root)!r} on {where} with {roles}", err=True)
    signal.signal(signal.SIGTERM, _stopped)
    uvicorn.run("voice_monitor.server.app:app_from_env", factory=True, host=host, port=port,
                workers=workers, log_level="info", server_header=False,
                http="voice_monitor.server.protocol:GuardedProtocol",  # stalled clients end
                forwarded_allow_ips=forwarded_allow_ips,
                timeout_graceful_shutdown=60,
                timeout_worker_healthcheck=120)  # a busy host starts workers slowly


def _stopped(signum: int, frame: object) -> None:
    """SIGTERM outside uvicorn's own handler: exit 0. uvicorn shuts down cleanly (in-flight
    batches landed and answered) and then re-raises the signal to the handler it found, which by
    default kills the process with -15, a crash to systemd, Kubernetes and supervisors."""
    raise SystemExit(0)


def _check_listen(host: str, port: int) -> None:
    """One line, before uvicorn starts, when the address cannot be listened on (uvicorn says
    so among its log lines and exits 3)."""
    if port == 0:
        return
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise VoiceMonitorError(f"cannot listen on {_address(host, port)}: {exc.strerror}; pass "
                                "--host an address of this machine, e.g. 127.0.0.1") from None
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind(address)
        except OSError as exc:
            fix = ("pass --host an address of this machine, e.g. 127.0.0.1 (or 0.0.0.0 for all "
                   "of them)" if exc.errno == errno.EADDRNOTAVAIL
                   else "stop what uses it or pick another --port")
            raise VoiceMonitorError(f"cannot listen on {_address(host, port)}: {exc.strerror}; "
                                    f"{fix}") from None


def _address(host: str, port: int) -> str:
    """host:port as a URL writes it: an IPv6 address in brackets ('http://::1:8787' is no URL)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def register(main: click.Group) -> None:
    """Add this module's commands to the main group."""
    main.add_command(serve)


__all__ = ["INGEST_ENV", "STAFF_ENV", "register", "serve"]
