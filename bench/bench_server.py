"""Collector throughput and latency of `voice-monitor serve`, and `/metrics` latency.

    uv run python bench/bench_server.py [--batches 400] [--clients 4] [--batch-size 500]
                                        [--bad N] [--throughput-only] [--client stdlib|httpx]

Starts a real `voice-monitor serve` on 127.0.0.1 over a fresh lake, then:

1. throughput: CLIENTS threads each POST pre-built batches of BATCH_SIZE realistic events
   (JSON Lines, stamped within the last few minutes) back to back; events/s = all events
   acknowledged / wall time (target >= 100,000 events/s with 4 clients and batches of 500);
2. latency at half that load: the same clients paced to half the measured rate; p50/p99 of
   the request time (send to acknowledgement);
3. `/metrics` (target < 50 ms): median and p99 of scrapes every 0.5 s *during* the half-load
   run (beside the collector's landings), then of 50 scrapes back to back once it is over.

It also prints the server process's CPU time per event, which other work on a shared machine
disturbs less than wall time, and the host's steal during the throughput run: the share of the
CPUs' time a virtual machine's host gave to other machines (runs with a few % of it are 10-30 %
slower; compare runs near 0 %).

A 503 (queue full) is retried after its Retry-After and counted.

The senders are threads of this process, each with one keep-alive connection, by default
through the standard library's `http.client` (`--client httpx`: through httpx). On a 2-core
machine the load generator shares the cores with the server it measures: 4 httpx senders spend
~1.3 ms of CPU per batch of 500 (3 us per event), taking turns on this process's interpreter
while the server waits for their next batches; `http.client` spends ~0.25 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import orjson

from voice_monitor.schema import EVENT_TYPES

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from server_process import INGEST, STAFF, ServerProcess, bearer  # noqa: E402

_TYPES = sorted(EVENT_TYPES)
_WEIGHTS = [1 if EVENT_TYPES[t][1] == "system" else 6 for t in _TYPES]


def make_batches(count: int, size: int, seed: int = 11, bad: int = 0) -> list[bytes]:
    """`count` JSON Lines bodies of `size` events each, stamped in the 5 minutes before now;
    the first `bad` records of each have an unknown event type (quarantined)."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    bodies = []
    for b in range(count):
        lines = []
        for i in range(size):
            event_type = rng.choices(_TYPES, _WEIGHTS)[0]
            at = now - timedelta(milliseconds=rng.randrange(300_000))
            record = {"event_id": f"bench-{b:06d}-{i:04d}", "event_type": event_type,
                      "timestamp": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                      "artifact_id": f"art-{rng.randrange(20_000):06d}",
                      "organization_id": f"org-{int(rng.paretovariate(1.2)) % 50:03d}"}
            if event_type.endswith(("_completed", "_extracted", "_generated")):
                record["duration_ms"] = round(rng.lognormvariate(7, 1), 1)
                record["metadata"] = {"claim_count": rng.randrange(12),
                                      "confidence_score": round(rng.random(), 3)}
            if i < bad:
                record["event_type"] = "artifact_recieved"
            lines.append(orjson.dumps(record))
        bodies.append(b"\n".join(lines) + b"\n")
    return bodies


def send_stdlib(url: str, bodies: list[bytes], pace_s: float, latencies: list,
                refused: list) -> None:
    """`send_all` through the standard library's `http.client` (one keep-alive connection)."""
    parts = urlsplit(url)
    headers = {**bearer(INGEST), "Content-Type": "application/x-ndjson"}
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)

    def post(body: bytes) -> tuple[int, str | None, bytes]:
        conn.request("POST", "/v1/events", body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.getheader("retry-after"), response.read()

    try:
        send_all(post, bodies, pace_s, latencies, refused)
    finally:
        conn.close()


def send(url: str, bodies: list[bytes], pace_s: float, latencies: list, refused: list) -> None:
    """`send_all` through httpx (one keep-alive connection)."""
    headers = {**bearer(INGEST), "Content-Type": "application/x-ndjson"}
    with httpx.Client(timeout=120) as http_client:

        def post(body: bytes) -> tuple[int, str | None, bytes]:
            response = http_client.post(url + "/v1/events", content=body, headers=headers)
            return response.status_code, response.headers.get("retry-after"), response.content

        send_all(post, bodies, pace_s, latencies, refused)


def send_all(post, bodies: list[bytes], pace_s: float, latencies: list, refused: list) -> None:
    """POST each body in turn (`pace_s` apart when given), retrying a 503 after its Retry-After;
    appends each request's time (send to acknowledgement) to `latencies`, a 1 per 503 to
    `refused`; any other answer than 200 fails the sender."""
    next_at = time.perf_counter()
    for body in bodies:
        if pace_s:
            next_at += pace_s
            time.sleep(max(0.0, next_at - time.perf_counter()))
        while True:
            began = time.perf_counter()
            status, retry_after, answer = post(body)
            if status == 503:
                refused.append(1)
                time.sleep(float(retry_after or 1))
                continue
            if status != 200:
                raise RuntimeError(f"POST /v1/events answered {status}: {answer[:300]!r}")
            latencies.append(time.perf_counter() - began)
            break


def run_clients(url: str, bodies: list[bytes], clients: int, pace_s: float = 0.0,
                sender_kind: str = "httpx"):
    latencies: list[float] = []
    refused: list[int] = []
    shares = [bodies[i::clients] for i in range(clients)]
    failures: list[BaseException] = []

    def sender(share: list[bytes]) -> None:
        try:
            SENDERS[sender_kind](url, share, pace_s, latencies, refused)
        except BaseException as exc:  # a sender that failed must fail the run, not shorten it
            failures.append(exc)

    threads = [threading.Thread(target=sender, args=(share,)) for share in shares]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} of {clients} senders failed: {failures[0]!r}")
    return time.perf_counter() - began, latencies, len(refused)


SENDERS = {"httpx": send, "stdlib": send_stdlib}


def scrape(url: str, times: list, done: threading.Event | None, every_s: float,
           count: int = 0) -> None:
    """Time GET /metrics every `every_s` until `done` is set (or `count` times)."""
    with httpx.Client(timeout=60, headers=bearer(STAFF)) as http:
        while (done is not None and not done.is_set()) or len(times) < count:
            began = time.perf_counter()
            http.get(url + "/metrics").raise_for_status()
            times.append(time.perf_counter() - began)
            time.sleep(every_s)


def server_pids(pid: int) -> list[int]:
    """The server process and its children (`--workers N` runs N worker processes under it)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    with contextlib.suppress(OSError):
        return [pid, *(int(child) for child in children.read_text().split())]
    return [pid]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the server so far (Linux /proc), all its threads and workers."""
    total = 0.0
    for one in server_pids(pid):
        with contextlib.suppress(OSError, IndexError):  # a worker ended meanwhile
            total += cpu_seconds_of(Path(f"/proc/{one}/stat"))
    return total


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of each thread of the server (its workers' too) so far (Linux /proc)."""
    times = {}
    for one in server_pids(pid):
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{one}/task").iterdir():
                with contextlib.suppress(OSError, IndexError):  # the thread ended meanwhile
                    times[int(task.name)] = cpu_seconds_of(task / "stat")
    return times


def cpu_seconds_of(stat: Path) -> float:
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def host_ticks() -> tuple[int, int]:
    """(steal, all) clock ticks of the machine's CPUs so far (Linux /proc/stat; (0, 0) elsewhere).
    Steal is time a virtual machine's CPUs were ready to run but the host ran something else."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return ticks[7], sum(ticks[:8])  # user nice system idle iowait irq softirq steal
    return 0, 0


def landings(url: str, batches: int) -> float:
    """Landings so far, from /metrics. With `--workers N` each worker counts its own and a
    scrape (on a new connection) reaches one of them: scrape until the distinct workers' batch
    counts add up to every batch sent."""
    found: set[tuple[float, float]] = set()  # each worker's (batches, landings)
    for _ in range(50):
        text = httpx.get(url + "/metrics", headers=bearer(STAFF), timeout=60).text
        figures = dict(re.findall(r"^voice_monitor_collector_(batches|commits)_total (\S+)$",
                                  text, re.M))
        found.add((float(figures["batches"]), float(figures["commits"])))
        if sum(b for b, _ in found) >= batches:
            break
    # workers that landed the same number of batches in as many landings look like one
    return sum(c for _, c in found) * batches / sum(b for b, _ in found)


def warmed_up(log: Path, timeout: float = 300) -> None:
    """Wait for the server's dashboard warm-up (`dashboard._warm`, a thread started with
    `serve` that draws charts for ~2-6 s) to end, so it does not share the measured seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if re.search(r"warmed up in|warm-up stopped", log.read_text(errors="replace")):
            return
        time.sleep(0.1)
    raise RuntimeError(f"the server did not finish its warm-up within {timeout} s")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=400)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--bad", type=int, default=0,
                        help="records per batch with an unknown event type (quarantined)")
    parser.add_argument("--throughput-only", action="store_true",
                        help="skip the half-load latency and /metrics runs")
    parser.add_argument("--client", choices=sorted(SENDERS), default="stdlib",
                        help="the senders' HTTP client: httpx, or the standard library's "
                             "http.client (lighter: less of the 2 cores for the load generator)")
    parser.add_argument("--serve-args", default="", help="extra arguments for voice-monitor serve")
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, load {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="bench-server-") as tmp:
        root = Path(tmp)
        bodies = make_batches(args.batches * 2, args.batch_size, bad=args.bad)
        with ServerProcess(root / "lake", *args.serve_args.split(), log=root / "server.log") as server:
            warmed_up(root / "server.log")  # a one-off at start, not the steady state measured
            print("sending", flush=True)
            events = args.batches * args.batch_size
            cpu, threads = cpu_seconds(server.proc.pid), thread_cpu(server.proc.pid)
            mine = sum(os.times()[:2])  # the clients' (this process's threads)
            host = host_ticks()
            wall, lat, refused = run_clients(server.url, bodies[:args.batches], args.clients,
                                           sender_kind=args.client)
            host = [after - before for before, after in zip(host, host_ticks(), strict=True)]
            cpu = cpu_seconds(server.proc.pid) - cpu
            mine = sum(os.times()[:2]) - mine
            spent = sorted((t - threads.get(tid, 0.0) for tid, t in
                            thread_cpu(server.proc.pid).items()), reverse=True)
            rate = events / wall
            print(f"throughput: {events:,} events in {wall:.2f} s = {rate:,.0f} events/s "
                  f"({args.clients} {args.client} clients, batches of {args.batch_size}; "
                  f"{refused} x 503) target >= 100,000")
            commits = landings(server.url, args.batches)
            print(f"group commit: {args.batches} batches in {commits:.0f} landings "
                  f"({args.batches / commits:.1f} batches per landing)")
            print(f"server CPU: {cpu:.1f} s = {cpu / events * 1e6:.1f} us per event "
                  f"(all threads; {events / cpu:,.0f} events per CPU-second); clients' CPU "
                  f"{mine / events * 1e6:.1f} us per event; load now {os.getloadavg()[0]:.1f}")
            # the throughput moves with the host's other tenants as much as with the code: runs
            # with steal are not comparable with runs without (bench/RESULTS.md, 22nd session)
            print(f"host steal: {host[0] / max(host[1], 1):.1%} of the CPUs' time during the run "
                  "(taken by the host for other machines; compare runs near 0 %)")
            # the busiest thread is the committer: its CPU per landing is the landing's
            # critical path (what a sender waits for), beside the other threads'
            print("busiest threads, CPU ms per landing: " + ", ".join(
                f"{t / commits * 1000:.0f}" for t in spent[:4]))
            if args.throughput_only:
                return
            pace = args.clients * args.batch_size / (rate / 2)
            under_load: list[float] = []
            done = threading.Event()
            scraper = threading.Thread(target=scrape, args=(server.url, under_load, done, 0.5))
            scraper.start()
            wall, lat, refused = run_clients(server.url, bodies[args.batches:], args.clients, pace,
                                           sender_kind=args.client)
            done.set()
            scraper.join()
            print(f"half load ({rate / 2:,.0f} events/s asked, {events / wall:,.0f} got): request "
                  f"p50 {pct(lat, 0.5) * 1000:.1f} ms, p99 {pct(lat, 0.99) * 1000:.1f} ms "
                  f"({refused} x 503)")
            print(f"/metrics during half load: median {statistics.median(under_load) * 1000:.1f} ms, "
                  f"p99 {pct(under_load, 0.99) * 1000:.1f} ms over {len(under_load)} scrapes "
                  "(target < 50 ms)")
            idle: list[float] = []
            scrape(server.url, idle, None, 0.0, count=50)
            print(f"/metrics after: median {statistics.median(idle) * 1000:.1f} ms, "
                  f"p99 {pct(idle, 0.99) * 1000:.1f} ms (target < 50 ms)")
            subprocess.run(["du", "-sh", str(root / "lake")], check=False)


if __name__ == "__main__":
    main()
