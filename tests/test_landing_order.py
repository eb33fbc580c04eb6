"""Contract §3: when copies of an event (same event_id, same hour partition) differ, the first one
landed wins, for every reader alike: the real-time counters, the duplicate count, snapshots, the
`events` view, the event log and compaction. The landing's `now` (`ingested_at`) or a clock that
is behind (another host's) never makes a copy landed later the first one."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
from conftest import run_main
from server_process import INGEST, ServerProcess, client

from voice_monitor import dup_index
from voice_monitor import lake as lake_module
from voice_monitor.compaction import compact_hour
from voice_monitor.counters import realtime_metrics
from voice_monitor.health.digest import digest_dir, digests
from voice_monitor.lake import Lake, connect, stem_clock
from voice_monitor.landing import land_records
from voice_monitor.queries import artifact_timeline
from voice_monitor.rollup_plan import manifest_path, read_manifest, write_manifest
from voice_monitor.rollups import build_hour, run_hourly
from voice_monitor.views import lake_connection

H12 = datetime(2026, 2, 16, 12, tzinfo=UTC)
RECEIVED = {"event_id": "e-1", "event_type": "artifact_received", "artifact_id": "a-1",
            "organization_id": "org-1"}
FAILED = {**RECEIVED, "event_type": "artifact_failed"}  # the same event_id, other fields


def _winner(lake: Lake) -> list[tuple]:
    """The `events` view's row of e-1, and its ingested_at."""
    con = lake_connection(lake)
    try:
        return con.sql("select event_type, ingested_at from events where event_id = 'e-1'").fetchall()
    finally:
        con.close()


def _hourly_platform(lake: Lake, hour: datetime) -> tuple:
    pipeline, _, _ = build_hour(lake, hour)
    [platform] = [r for r in pipeline.to_pylist() if r["organization_id"] is None]
    return (platform["event_count"], platform["artifacts_received"],
            platform["artifacts_failed"], platform["overall_failure_rate"])


def test_a_copy_replayed_with_an_earlier_now_loses_everywhere_through_the_cli(tmp_path, capsys):
    # w1 lands first with --now 12:30, then a different copy of e-1 (same hour) with --now 12:10
    lake_dir = tmp_path / "lake"
    w1, w2 = tmp_path / "w1.jsonl", tmp_path / "w2.jsonl"
    w1.write_text(json.dumps({**RECEIVED, "timestamp": "2026-02-16T12:05:00Z"}) + "\n")
    w2.write_text(json.dumps({**FAILED, "timestamp": "2026-02-16T12:05:00Z"}) + "\n")
    lake = str(lake_dir)
    assert run_main(capsys, "ingest", str(w1), "--lake", lake, "--now", "2026-02-16T12:30:00Z") == (
        0, "accepted 1 (of which duplicate 0), quarantined 0\n", "")
    assert run_main(capsys, "ingest", str(w2), "--lake", lake, "--now", "2026-02-16T12:10:00Z") == (
        0, "accepted 1 (of which duplicate 1), quarantined 0\n", "")

    # the counters count w1: one artifact received, no failure
    code, out, _ = run_main(capsys, "metrics", "realtime", "--lake", lake,
                            "--now", "2026-02-16T12:30:00Z", "--json")
    realtime = json.loads(out)
    assert (code, realtime["artifacts_received"], realtime["failures"]) == (0, 1, 0)

    # and so do the snapshot (event_count 1, received 1, failed 0, failure rate 0/(0+0) = 0)...
    code, _, err = run_main(capsys, "rollup", "hourly", "--hour", "2026-02-16T12", "--lake", lake,
                            "--now", "2026-02-16T14:00:00Z")
    assert code == 0, err
    code, out, err = run_main(capsys, "sql", "--lake", lake, "--json",
                              "select event_count, artifacts_received, artifacts_failed, "
                              "overall_failure_rate from pipeline_hourly where scope = 'platform'")
    assert (code, json.loads(out)) == (0, [{"event_count": 1, "artifacts_received": 1,
                                            "artifacts_failed": 0, "overall_failure_rate": 0}]), err
    # ...the events view (w1's row, stamped with its own --now) and the artifact's timeline
    code, out, _ = run_main(capsys, "sql", "--lake", lake, "--json",
                            "select event_type, ingested_at from events")
    assert code == 0 and json.loads(out) == [{"event_type": "artifact_received",
                                "ingested_at": "2026-02-16T12:30:00Z"}]
    code, out, _ = run_main(capsys, "events", "timeline", "a-1", "--lake", lake, "--json")
    assert code == 0 and [r["event_type"] for r in json.loads(out)] == ["artifact_received"]

    # compaction keeps the same winner: the copies stay, in landing order, in one file
    assert compact_hour(Lake(lake_dir), H12) == 2
    assert _winner(Lake(lake_dir)) == [("artifact_received", datetime(2026, 2, 16, 12, 30, tzinfo=UTC))]
    assert _hourly_platform(Lake(lake_dir), H12) == (1, 1, 0, 0.0)


def _clock_behind(monkeypatch, behind: timedelta) -> None:
    """This process's clock for file names, `behind` the real one (another host's clock)."""
    real = time.time_ns
    monkeypatch.setattr(lake_module, "time",
                        SimpleNamespace(time_ns=lambda: real() - behind // timedelta(microseconds=1) * 1000))


def test_a_landing_whose_clock_is_behind_names_its_file_after_the_hour_s_files(lake, monkeypatch):
    first_now = datetime.now(UTC)
    moment = first_now - timedelta(minutes=30)
    land_records(lake, [{**RECEIVED, "timestamp": moment.isoformat()}], now=first_now)
    [first] = lake.event_files(moment)
    # a landing with a clock 20 minutes behind (its `now` and its file-name clock) lands a copy
    _clock_behind(monkeypatch, timedelta(minutes=20))
    assert land_records(lake, [{**FAILED, "timestamp": moment.isoformat()}],
                        now=first_now - timedelta(minutes=20)).duplicates == 1
    second = max(lake.event_files(moment))
    # named right after the hour's newest file, not by its own clock: 1 ns after the first's
    assert stem_clock(second.name) == stem_clock(first.name) + 1
    assert [row[0] for row in _winner(lake)] == ["artifact_received"]
    assert realtime_metrics(lake, now=first_now)["artifacts_received"] == 1
    assert [r["event_type"] for r in artifact_timeline(lake, "a-1").to_dicts()] == ["artifact_received"]


def test_on_an_object_store_a_host_whose_clock_is_behind_names_after_what_it_lists(tmp_path, monkeypatch):
    # no hour lock spans hosts there; the landing's one LIST of the hour gives the newest name
    lake = Lake.create(f"memory://order-{os.getpid()}-{tmp_path.name}")
    land_records(lake, [{**RECEIVED, "timestamp": "2026-02-16T12:05:00Z"}],
                 now=datetime(2026, 2, 16, 12, 30, tzinfo=UTC))
    [first] = lake.event_files(H12)
    # another host: its own (empty) duplicate index, a clock an hour behind
    dup_index._indexes.clear()
    _clock_behind(monkeypatch, timedelta(hours=1))
    assert land_records(lake, [{**FAILED, "timestamp": "2026-02-16T12:05:00Z"}],
                        now=datetime(2026, 2, 16, 12, 10, tzinfo=UTC)).duplicates == 1
    assert [stem_clock(f.name) for f in lake.event_files(H12)] == [stem_clock(first.name),
                                                                  stem_clock(first.name) + 1]
    assert _winner(lake) == [("artifact_received", datetime(2026, 2, 16, 12, 30, tzinfo=UTC))]
    assert _hourly_platform(lake, H12) == (1, 1, 0, 0.0)


# a server process whose clock is behind: its `now` (ingested_at, the 5-minute future limit)
# and the clock its file names start with, as on a host whose clock is off
_SITECUSTOMIZE = """
    import datetime, os, time
    _behind = int(os.environ["TEST_CLOCK_BEHIND_S"])
    _time_ns = time.time_ns
    time.time_ns = lambda: _time_ns() - _behind * 1_000_000_000
    from voice_monitor import arguments
    _utc_now = arguments.utc_now
    def _now(now, what="now"):
        if now is not None:
            return _utc_now(now, what)
        return datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=_behind)
    arguments.utc_now = _now
"""


def test_two_collectors_whose_clocks_disagree_agree_on_the_first_landed_copy(tmp_path, lake):
    shim = tmp_path / "clock"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(textwrap.dedent(_SITECUSTOMIZE))
    moment = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    stamp = moment.isoformat().replace("+00:00", "Z")
    behind = {"PYTHONPATH": str(shim), "TEST_CLOCK_BEHIND_S": str(20 * 60)}
    with (ServerProcess(lake, log=tmp_path / "a.log") as right,
          ServerProcess(lake, env=behind, log=tmp_path / "b.log") as late, client() as http):
        headers = {"Authorization": f"Bearer {INGEST}", "Content-Type": "application/x-ndjson"}
        # w1 to the collector whose clock is right, then w2 to the one 20 minutes behind
        for server, record, duplicates in ((right, RECEIVED, 0), (late, FAILED, 1)):
            answer = http.post(server.url + "/v1/events", headers=headers,
                               content=json.dumps({**record, "timestamp": stamp}) + "\n")
            assert answer.status_code == 200, answer.text
            assert answer.json() == {"accepted": 1, "duplicates": duplicates, "quarantined": 0}
    [(event_type, ingested_at)] = _winner(lake)
    # w2's ingested_at is ~20 minutes before w1's, yet w1 landed first
    assert event_type == "artifact_received"
    counted = realtime_metrics(lake, now=datetime.now(UTC))
    assert (counted["artifacts_received"], counted["failures"]) == (1, 0)
    assert _hourly_platform(lake, moment.replace(minute=0, second=0)) == (1, 1, 0, 0.0)
    files = lake.event_files(moment)
    assert stem_clock(files[1].name) > stem_clock(files[0].name)


# -- state an older version kept under the ingested_at rule is not reused ----------------------

def _land_crossed(lake: Lake) -> None:
    """w1 with now 12:30, then w2, a different copy of e-1, with now 12:10 (the old rule's
    winner)."""
    land_records(lake, [{**RECEIVED, "timestamp": "2026-02-16T12:05:00Z"}],
                 now=datetime(2026, 2, 16, 12, 30, tzinfo=UTC))
    land_records(lake, [{**FAILED, "timestamp": "2026-02-16T12:05:00Z"}],
                 now=datetime(2026, 2, 16, 12, 10, tzinfo=UTC))


def test_later_copies_an_hour_s_rollup_recorded_by_the_old_rule_are_found_again(lake):
    _land_crossed(lake)
    run_hourly(lake, now=datetime(2026, 2, 16, 14, tzinfo=UTC), hour=H12)
    path = manifest_path(lake, "hourly", H12)
    manifest = read_manifest(path)
    first, second = lake.event_files(H12)
    assert (manifest["later_copies"], manifest["copies_ranked_by"]) == ({second.name: "0"},
                                                                         "file name, row")
    # as an older version recorded it: by ingested_at, w1 (the first file's row 0) was the copy
    del manifest["copies_ranked_by"]
    manifest["later_copies"] = {first.name: "0"}
    write_manifest(path, manifest)
    assert _hourly_platform(lake, H12) == (1, 1, 0, 0.0)


def test_a_health_digest_cached_by_the_old_rule_is_digested_again(lake):
    _land_crossed(lake)
    files = lake.event_files(H12)
    # the name an older version gave the hour's digest (its signature: names and sizes only),
    # holding what the old rule saw: a-1 failed (w2), never received
    listing = "\n".join(f"{f.name}:{f.stat().st_size}" for f in files)
    old = hashlib.blake2b(listing.encode(), digest_size=8).hexdigest()
    folder = digest_dir(lake)
    folder.mkdir(parents=True, exist_ok=True)
    at = datetime(2026, 2, 16, 12, 5, tzinfo=UTC)
    stamp, text = pa.timestamp("us", tz="UTC"), pa.string()
    pq.write_table(pa.table({
        "artifact_id": pa.array(["a-1", None], text),
        "received_at": pa.array([None, None], stamp), "terminal_at": pa.array([at, None], stamp),
        "needs_at": pa.array([None, None], stamp), "resolved_at": pa.array([None, None], stamp),
        "breaker_event": pa.array([None, None], text), "breaker_at": pa.array([None, None], stamp),
    }), folder / f"2026-02-16T12-{old}.parquet")
    con = connect()
    try:
        rows = digests(lake, con, [H12], datetime(2026, 2, 16, 14, tzinfo=UTC)).fetchall()
    finally:
        con.close()
    # w1 counts: a-1 received at 12:05, not terminal; the summary row's latest receipt 12:05
    assert sorted(rows, key=lambda r: r[0] is None) == [
        ("a-1", at, None, None, None, None, None), (None, at, None, None, None, None, None)]


def test_a_copy_landed_while_the_first_landing_waits_on_its_fsync_is_not_the_one_counted(
        lake, monkeypatch):
    # landing A places its copy of e-1 (received) and waits in its fsync; landing B then lands
    # another copy (failed) of the same event and hour. The lake ranks A's copy first (its file
    # is named first), so the counters must count A's copy too: one received, no failure
    from voice_monitor import hour_locks as hour_locks_module
    from voice_monitor import landing

    now = datetime.now(UTC)
    moment = now - timedelta(minutes=10)
    a_syncing, release_a, b_done_or_waiting = threading.Event(), threading.Event(), threading.Event()
    real_sync, real_flock = landing.sync_folders, hour_locks_module.fcntl.flock
    syncs = []

    def sync(folders):
        syncs.append(folders)
        if len(syncs) == 1:  # A's
            a_syncing.set()
            assert release_a.wait(60)
        return real_sync(folders)

    def flock(fd, operation):
        # B finding the hour's lock held: it is waiting for A (with the counters' fix)
        if operation == fcntl.LOCK_EX and a_syncing.is_set() and not release_a.is_set():
            try:
                return real_flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                b_done_or_waiting.set()
        return real_flock(fd, operation)

    monkeypatch.setattr(landing, "sync_folders", sync)
    monkeypatch.setattr(hour_locks_module.fcntl, "flock", flock)
    results = {}

    def land(name, record):
        try:
            results[name] = land_records(lake, [{**record, "timestamp": moment.isoformat()}], now=now)
        finally:
            if name == "b":
                b_done_or_waiting.set()

    a = threading.Thread(target=land, args=("a", RECEIVED))
    a.start()
    assert a_syncing.wait(60)
    b = threading.Thread(target=land, args=("b", FAILED))
    b.start()
    assert b_done_or_waiting.wait(60)  # B landed in full, or waits for A's lock
    release_a.set()
    a.join(60)
    b.join(60)
    assert (results["a"].duplicates, results["b"].duplicates) == (0, 1)
    assert [row[0] for row in _winner(lake)] == ["artifact_received"]
    counted = realtime_metrics(lake, now=now)
    assert (counted["artifacts_received"], counted["artifacts_failed"], counted["failures"]) == (1, 0, 0)
