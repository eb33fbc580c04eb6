"""A full disk, for real: a 2 MB tmpfs (faultkit's `disk` fixture; needs root, skipped with the
reason otherwise, unmounted at teardown) under the lake, a producer's spool or TMPDIR.

Every writer on it either works or fails with one line naming the path and the fix, exit 1, no
traceback (contract §3, §11); nothing acknowledged is lost; the server answers 503 with
Retry-After, keeps running and lands the batch sent again once space is freed (§12). Counts are
checked against the event ids of the input files, read here with plain `json`.
"""

from __future__ import annotations

import gc
import json
import os
import random
import re
import sqlite3
import string
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import store_descriptors
from faultkit import (
    NOW_TEXT,
    cli,
    disk_fixture,  # noqa: F401 - provides the `disk` fixture
    event_ids,
    fill,
    fingerprint,
    temp_files,
    unreadable,
)

SCRIPT = Path(sys.executable).parent / "voice-monitor"
NO_SPACE = re.compile(r"^voice-monitor: error: no space left on device at (?P<path>[^;(]+?)"
                      r"(?: \(.*?\))?; free space")


def write_events(path: Path, prefix: str, n: int, noisy: bool = False) -> set[str]:
    """`n` events over hours 10-13 of 2026-02-16 as JSON Lines; `noisy`: random text that
    Parquet cannot compress away (a landing of them needs room). Returns the ids, as read back
    from the file with json (not from the product)."""
    rnd = random.Random(prefix)

    def junk(k: int) -> str:
        return "".join(rnd.choice(string.ascii_letters) for _ in range(k))

    with path.open("w") as out:
        for i in range(n):
            record = {"event_id": f"{prefix}-{i}", "event_type": "artifact_received",
                      "timestamp": f"2026-02-16T{10 + i % 4:02d}:{i % 60:02d}:00Z",
                      "organization_id": "org-a", "artifact_id": f"art-{prefix}-{i}"}
            if noisy:
                record["event_id"] += "-" + junk(40)
                record["error_message"] = junk(200)
            out.write(json.dumps(record) + "\n")
    return {json.loads(line)["event_id"] for line in path.read_text().splitlines()}


def fill_but(mount: Path, room: int) -> Path:
    """Fill the file system, then give `room` bytes back."""
    filler = fill(mount)
    os.truncate(filler, filler.stat().st_size - room)
    return filler


def assert_no_space(run, path: Path | str) -> None:
    assert run.code == 1, (run.code, run.err)
    assert not run.traceback and len(run.err_lines) == 1, run.err
    found = NO_SPACE.match(run.err_lines[0])
    assert found, run.err
    assert os.path.abspath(found["path"]) == os.path.abspath(path), run.err


def test_every_writer_on_a_full_disk_says_so_in_one_line(disk, tmp_path):
    lake = disk / "lake"
    first = write_events(tmp_path / "first.jsonl", "first", 40)
    late = write_events(tmp_path / "late.jsonl", "late", 400)
    orgs = tmp_path / "orgs.csv"
    orgs.write_text("organization_id,name\norg-a,Acme\n")
    assert cli("ingest", str(tmp_path / "first.jsonl"), "--lake", str(lake),
               "--now", NOW_TEXT).code == 0
    filler = fill(disk)

    at = ("--lake", str(lake), "--now", NOW_TEXT)
    for argv in (["ingest", str(tmp_path / "late.jsonl"), *at],
                 ["rollup", "hourly", *at], ["rollup", "daily", "--day", "2026-02-16", "--lake", str(lake),
                  "--now", "2026-02-17T02:00:00Z"],
                 ["orgs", "load", str(orgs), "--lake", str(lake)]):
        assert_no_space(cli(*argv), lake)
    assert_no_space(cli("init", str(disk / "other")), disk / "other")
    assert_no_space(cli("catalog", str(disk / "cat.duckdb"), "--lake", str(lake)), disk)
    assert [p.name for p in disk.iterdir() if "cat.duckdb" in p.name] == []
    assert not (disk / "other").exists() or os.listdir(disk / "other") == []
    # standard input, in a process of its own
    done = subprocess.run([str(SCRIPT), "ingest", "-", *at], capture_output=True, text=True,
                          input=(tmp_path / "late.jsonl").read_text())
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert NO_SPACE.match(done.stderr) and "Traceback" not in done.stderr, done.stderr

    # nothing acknowledged lost, nothing half-written
    assert set(event_ids(lake)) == first
    assert unreadable(lake) == [] and temp_files(lake) == []

    filler.unlink()
    for argv in (["ingest", str(tmp_path / "late.jsonl"), *at], ["rollup", "hourly", *at],
                 ["init", str(disk / "other")]):
        run = cli(*argv)
        assert run.code == 0, (argv, run.err)
    assert sorted(event_ids(lake)) == sorted(first | late)  # each once
    run = cli("sql", "select count(distinct event_id) as n from events", "--json",
              "--lake", str(lake))
    assert json.loads(run.out)[0]["n"] == len(first | late)
    assert temp_files(lake) == [] and unreadable(lake) == []
    assert cli("lake", "check", "--lake", str(lake)).code == 0


def test_standard_input_that_does_not_fit_in_tmpdir_names_tmpdir(disk, tmp_path):
    lake = tmp_path / "lake"
    write_events(tmp_path / "big.jsonl", "big", 3000, noisy=True)  # ~0.9 MB
    fill_but(disk, 64 * 1024)
    env = {**os.environ, "TMPDIR": str(disk)}
    done = subprocess.run([str(SCRIPT), "ingest", "-", "--lake", str(lake), "--now", NOW_TEXT],
                          capture_output=True, text=True, env=env,
                          input=(tmp_path / "big.jsonl").read_text())
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    found = NO_SPACE.match(lines[0])
    assert found and Path(found["path"]).parent == disk, done.stderr
    assert "TMPDIR" in lines[0] and "nothing was ingested" in lines[0]
    assert sorted(p.name for p in disk.iterdir()) == ["filler"]  # its spool removed
    assert not (lake / "events").exists() or event_ids(lake) == []


def test_reading_commands_work_on_a_full_disk(disk, tmp_path):
    # SQLite cannot open the counter store on a full disk (no room for its WAL and shared
    # memory): the real-time counts come from the lake's files, as on a read-only mount
    lake = disk / "lake"
    ids = write_events(tmp_path / "e.jsonl", "e", 120)  # 30 an hour, hours 10-13
    assert cli("ingest", str(tmp_path / "e.jsonl"), "--lake", str(lake),
               "--now", NOW_TEXT).code == 0
    fill(disk)
    run = cli("metrics", "realtime", "--json", "--lake", str(lake), "--now", NOW_TEXT)
    assert run.code == 0, run.err
    # window 13:31-14:30: hour 13 holds i = 3, 7, ..., 119 at minute i % 60; 31-59 twice
    expected = sum(1 for i in range(120) if i % 4 == 3 and i % 60 >= 31)
    assert json.loads(run.out)["artifacts_received"] == expected == 16
    run = cli("sql", "select count(*) as n from events", "--json", "--lake", str(lake))
    assert run.code == 0 and json.loads(run.out)[0]["n"] == len(ids)
    assert cli("lake", "check", "--lake", str(lake)).code == 0


def test_alerts_check_on_a_full_disk_runs_every_check_and_fails_on_the_alert_log(disk, tmp_path):
    lake = disk / "lake"
    write_events(tmp_path / "e.jsonl", "e", 120)
    assert cli("ingest", str(tmp_path / "e.jsonl"), "--lake", str(lake),
               "--now", NOW_TEXT).code == 0
    filler = fill(disk)
    # the checks' digest cache cannot be written: only a cache, no check fails over it; the
    # alerts they raise (inactivity: no receipt after 13:59; queue_depth: 120 received, none
    # finished, over 50) cannot be stored: one line
    run = cli("alerts", "check", "--lake", str(lake), "--now", "2026-02-16T15:30:00Z")
    assert_no_space(run, lake)
    assert temp_files(lake) == []
    filler.unlink()
    run = cli("alerts", "check", "--json", "--lake", str(lake), "--now", "2026-02-16T15:30:00Z")
    assert run.code == 0, run.err
    assert sorted(a["alert_type"] for a in json.loads(run.out)["raised"]) == [
        "inactivity", "queue_depth"]


def test_lake_check_on_a_full_disk(disk, tmp_path):
    lake = disk / "lake"
    write_events(tmp_path / "e.jsonl", "e", 40)
    assert cli("ingest", str(tmp_path / "e.jsonl"), "--lake", str(lake),
               "--now", NOW_TEXT).code == 0
    [bad] = (lake / "events" / "date=2026-02-16" / "hour=12").glob("*.parquet")
    bad.write_bytes(bad.read_bytes()[:100])
    filler = fill(disk)
    run = cli("lake", "check", "--lake", str(lake))  # reading: lists it, needs no room
    assert run.code == 1 and "unreadable" in run.err and "no space" not in run.err, run.err
    assert str(bad.relative_to(lake)) in run.out
    assert [p for p in (lake / "state").rglob("*") if p.name.endswith(".tmp")] == []
    run = cli("lake", "check", "--move-aside", "--lake", str(lake))
    assert_no_space(run, lake)
    assert bad.exists() and not (lake / "corrupt").exists() or not any(
        p.is_file() for p in (lake / "corrupt").rglob("*"))  # no empty note left
    filler.unlink()
    run = cli("lake", "check", "--move-aside", "--lake", str(lake))
    assert not bad.exists() and (lake / "corrupt" / bad.relative_to(lake)).exists(), run.err
    note = json.loads((lake / "corrupt" / f"{bad.relative_to(lake)}.json").read_text())
    assert note["original_path"] == str(bad.relative_to(lake))
    assert cli("lake", "check", "--lake", str(lake)).code == 0


def test_a_rollup_on_a_full_disk_keeps_the_old_snapshot(disk, tmp_path):
    lake = disk / "lake"
    write_events(tmp_path / "a.jsonl", "a", 40)   # 10 in hour 12
    write_events(tmp_path / "b.jsonl", "b", 80)   # 20 more, late
    at = ("--lake", str(lake), "--now", NOW_TEXT)
    assert cli("ingest", str(tmp_path / "a.jsonl"), *at).code == 0
    assert cli("rollup", "hourly", "--hour", "2026-02-16T12", *at).code == 0
    [old] = (lake / "snapshots" / "pipeline_hourly" / "date=2026-02-16" / "hour=12").glob("*")
    before = fingerprint(old)
    assert cli("ingest", str(tmp_path / "b.jsonl"), *at).code == 0
    filler = fill(disk)
    assert_no_space(cli("rollup", "hourly", "--hour", "2026-02-16T12", *at), lake)
    assert fingerprint(old) == before and temp_files(lake) == []
    platform = [r for r in pq.read_table(old).to_pylist() if r["organization_id"] is None]
    assert platform[0]["artifacts_received"] == 10
    filler.unlink()
    assert cli("rollup", "hourly", "--hour", "2026-02-16T12", *at).code == 0
    [new] = (lake / "snapshots" / "pipeline_hourly" / "date=2026-02-16" / "hour=12").glob("*")
    platform = [r for r in pq.read_table(new).to_pylist() if r["organization_id"] is None]
    assert platform[0]["artifacts_received"] == 30


def test_the_collector_on_a_full_disk_answers_503_and_recovers(disk, tmp_path):
    from server_process import INGEST, STAFF, ServerProcess, bearer, client

    lake = disk / "lake"
    assert cli("init", str(lake)).code == 0
    small = write_events(tmp_path / "small.jsonl", "small", 40)
    noisy = write_events(tmp_path / "noisy.jsonl", "noisy", 3000, noisy=True)  # ~0.8 MB
    post = {"headers": {**bearer(INGEST), "content-type": "application/x-ndjson"}}
    with ServerProcess(lake, log=tmp_path / "server.log") as server, client() as http:
        answer = http.post(server.url + "/v1/events", content=(tmp_path / "small.jsonl").read_bytes(),
                           **post)
        assert answer.json() == {"accepted": 40, "duplicates": 0, "quarantined": 0}
        # 5 receipts two minutes ago (the real clock): /metrics counts the last hour by it
        recent = (datetime.now(UTC) - timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
        live = [{"event_id": f"live-{i}", "event_type": "artifact_received", "timestamp": recent,
                 "organization_id": "org-live"} for i in range(5)]
        answer = http.post(server.url + "/v1/events", json=live, headers=bearer(INGEST))
        assert answer.json() == {"accepted": 5, "duplicates": 0, "quarantined": 0}

        # a disk full during the landing: room for some of its files, not all
        filler = fill_but(disk, 160 * 1024)
        answer = http.post(server.url + "/v1/events", content=(tmp_path / "noisy.jsonl").read_bytes(),
                           **post)
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"] == "10"
        assert "no space left" in answer.json()["detail"]
        assert str(disk) not in answer.text  # where is for the operator's log
        assert temp_files(lake) == []  # the server's failed files removed at once
        assert unreadable(lake) == []

        # full to the last byte: refused alike; reading still works; the server lives on
        filler.unlink()
        filler = fill(disk)
        answer = http.post(server.url + "/v1/events", content=(tmp_path / "small.jsonl").read_bytes(),
                           **post)
        assert answer.status_code == 503 and answer.headers["retry-after"] == "10", answer.text
        realtime = http.get(server.url + "/api/v1/metrics/realtime",
                            params={"now": "2026-02-16T10:30:00Z"}, headers=bearer(STAFF))
        # window 09:31-10:30: small's hour-10 events, i = 0, 4, ..., 36 at minute i (<= 30)
        assert realtime.status_code == 200, realtime.text
        assert realtime.json()["artifacts_received"] == sum(1 for i in range(0, 40, 4) if i <= 30)
        assert http.get(server.url + "/healthz").status_code == 200
        scrape = http.get(server.url + "/metrics", headers=bearer(STAFF))
        assert scrape.status_code == 200, scrape.text
        for scope, org in (("platform", ""), ("organization", "org-live")):
            assert (f'voice_monitor_realtime_events{{metric="artifacts_received",'
                    f'organization_id="{org}",scope="{scope}"}} 5.0') in scrape.text, scrape.text

        filler.unlink()
        answer = http.post(server.url + "/v1/events", content=(tmp_path / "noisy.jsonl").read_bytes(),
                           **post)
        assert answer.status_code == 200, answer.text
        # a part of the refused landing may have been placed: sent again, it is a duplicate
        assert answer.json()["accepted"] == 3000
        assert "no space left on device at" in server.output()
    stored = event_ids(lake)
    every = small | noisy | {e["event_id"] for e in live}
    assert set(stored) == every
    run = cli("sql", "select count(*) as n from events", "--json", "--lake", str(lake))
    assert json.loads(run.out)[0]["n"] == len(every)  # copies counted once
    assert temp_files(lake) == [] and unreadable(lake) == []


def test_a_durable_producer_whose_spool_fills_loses_nothing(disk, tmp_path):
    from voice_monitor import Producer

    spool = disk / "spool"
    now = datetime(2026, 2, 16, 14, 30, tzinfo=UTC)
    producer = Producer(tmp_path / "lake", durable=True, spool_dir=spool, batch_size=10**9,
                        flush_interval=3600, now=now)
    filler = fill_but(disk, 3 * 4096)
    sent: list[str] = []
    refused = None
    for i in range(1000):  # ~330 bytes a line: a dozen fit
        record = {"event_id": f"p-{i}", "event_type": "artifact_received",
                  "timestamp": "2026-02-16T14:00:00Z", "artifact_id": f"a-{i}-" + "a" * 250}
        try:
            producer.emit(record)
        except OSError as exc:
            refused = (record, exc)
            break
        sent.append(record["event_id"])
    assert refused is not None and 5 < len(sent) < 40
    assert re.match(rf"no space left on device at {re.escape(str(spool))} \(the event was not "
                    r"spooled.*\); free space", str(refused[1])), refused[1]
    filler.unlink()
    producer.emit(refused[0])  # emitted again once there is room: a whole line, not glued
    sent.append(refused[0]["event_id"])
    producer.close()
    lake = tmp_path / "lake"
    assert sorted(event_ids(lake)) == sorted(sent)
    assert not (lake / "quarantine").exists()


def test_retention_frees_a_disk_full_to_the_last_byte(disk, tmp_path):
    # retention writes down what it drops before deleting it: on a disk full to the byte the
    # lake's reserve (made with the lake) gives it the room, and is made again afterwards
    lake = disk / "lake"
    ids = write_events(tmp_path / "e.jsonl", "e", 400, noisy=True)
    assert cli("ingest", str(tmp_path / "e.jsonl"), "--lake", str(lake),
               "--now", NOW_TEXT).code == 0
    fill(disk)
    assert os.statvfs(disk).f_bavail == 0
    run = cli("retention", "--json", "--lake", str(lake), "--now", "2026-02-20T14:30:00Z")
    assert run.code == 0, run.err
    # hours 10-13 of 2026-02-16 end by 14:00, more than 48 h before 2026-02-20T14:30
    hours = [f"events/date=2026-02-16/hour={h}" for h in (10, 11, 12, 13)]
    assert sorted(json.loads(run.out)["deleted"]) == hours
    assert event_ids(lake) == [] and len(ids) == 400
    assert (lake / "state" / "dropped_event_hours.txt").read_text().split() == [
        f"2026-02-16T{h}:00:00Z" for h in (10, 11, 12, 13)]
    assert os.statvfs(disk).f_bavail > 0
    assert (lake / "state" / "reserve").stat().st_size == 64 * 1024
    # the dropped hour is remembered: a rollup refuses to rebuild it from nothing
    run = cli("rollup", "hourly", "--hour", "2026-02-16T12", "--lake", str(lake), "--now", NOW_TEXT)
    assert run.code == 1 and "retention" in run.err, run.err
    assert temp_files(lake) == []


def test_retention_with_nothing_expired_succeeds_on_a_disk_full_to_the_last_byte(disk, tmp_path):
    # nothing to drop: retention has nothing to write either. It pruned the counter store,
    # which SQLite cannot open without room for its journal, and failed; the store's state
    # older than 2 hours counts in no window and each landing prunes it
    lake = disk / "lake"
    ids = write_events(tmp_path / "e.jsonl", "e", 120)  # hours 10-13 of 2026-02-16
    assert cli("ingest", str(tmp_path / "e.jsonl"), "--lake", str(lake),
               "--now", NOW_TEXT).code == 0
    # an alert store too: inactivity (no receipt after 13:59), queue_depth (120 received,
    # none finished, over 50)
    assert cli("alerts", "check", "--lake", str(lake), "--now", "2026-02-16T15:30:00Z").code == 0
    filler = fill(disk)
    assert os.statvfs(disk).f_bavail == 0
    # at 14:30 nothing is past a cut-off: events 48 h, quarantine 30 d, alerts 90 d
    run = cli("retention", "--json", "--lake", str(lake), "--now", NOW_TEXT)
    assert run.code == 0 and run.err == "", run.err
    report = json.loads(run.out)
    assert report["deleted"] == [] and report["counter_rows"] == 0
    run = cli("retention", "--lake", str(lake), "--now", NOW_TEXT)
    assert run.code == 0 and run.out.startswith("deleted 0 partition(s)\n"), (run.out, run.err)
    assert sorted(event_ids(lake)) == sorted(ids) and temp_files(lake) == []
    filler.unlink()
    run = cli("alerts", "list", "--json", "--lake", str(lake))
    assert run.code == 0, run.err
    assert sorted(a["alert_type"] for a in json.loads(run.out)) == ["inactivity", "queue_depth"]


def test_a_counter_store_whose_disk_fills_at_commit_says_so(disk, tmp_path):
    # SQLite rolls the transaction back itself on SQLITE_FULL at commit; rolling back again
    # raised "cannot rollback - no transaction is active", which hid the full disk (in a
    # producer's error summary, a server's log, --debug)
    from voice_monitor.counters import realtime_metrics
    from voice_monitor.lake import Lake
    from voice_monitor.landing import land_records
    from voice_monitor.sqlite_counters import SQLiteCounterStore

    lake = Lake.create(tmp_path / "lake")  # room for the lake; the store's disk is the full one
    store = SQLiteCounterStore(disk / "counters.sqlite")
    now = datetime(2026, 2, 16, 14, 30, tzinfo=UTC)
    records = [{"event_id": f"e-{i}", "event_type": "artifact_received",
                "timestamp": "2026-02-16T14:00:00Z", "organization_id": f"org-{i % 700}"}
               for i in range(5000)]
    filler = fill(disk)
    with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
        land_records(lake, records, now=now, counters=store)
    filler.unlink()
    # landed, not counted: landing them again counts them, once
    assert land_records(lake, records, now=now, counters=store).duplicates == 5000
    assert realtime_metrics(lake, now=now, store=store)["artifacts_received"] == 5000
    store.close()


def test_small_state_files_leave_no_temp_file_on_a_full_disk(disk):
    # a rollup's manifest and a state file published through .tmp/ (a session's sign-out
    # record): the temp file of a write that did not fit is removed, not left for ever beside
    # the manifests or, in a live server's .tmp/ folder, for the hour before clean-up
    from voice_monitor.lake import Lake
    from voice_monitor.rollup_plan import write_manifest

    lake = Lake.create(disk / "lake")
    fill(disk)
    manifest = disk / "lake" / "state" / "rollups" / "hourly" / "2026-02-16T12.json"
    with pytest.raises(OSError):
        write_manifest(manifest, {"files": ["x" * 10_000]})
    assert sorted(p.name for p in manifest.parent.iterdir()) == []
    with pytest.raises(OSError):
        lake.publish_bytes(lake.state_dir / "note", b"x" * 10_000)
    assert temp_files(lake.root) == [] and not (lake.state_dir / "note").exists()


def test_sql_writing_to_a_full_disk_names_the_file_not_the_lake(disk, tmp_path):
    lake = tmp_path / "lake"  # with room; the COPY's target is on the full disk
    write_events(tmp_path / "e.jsonl", "e", 40)
    assert cli("ingest", str(tmp_path / "e.jsonl"), "--lake", str(lake),
               "--now", NOW_TEXT).code == 0
    fill(disk)
    target = disk / "out.parquet"
    run = cli("sql", "--allow-writes", f"copy (select range as a, md5(range::varchar) as b "
              f"from range(200000)) to '{target}'", "--lake", str(lake))
    assert_no_space(run, target)


def write_bulky(path: Path, prefix: str, n: int,
                types: tuple[str, str] = ("transcription_failed", "artifact_received")) -> None:
    """`n` events stamped 2026-02-16T14:00-14:29 over 700 organizations, every fifth of the
    first type (a transcription_failed), the rest of the second (artifact_received): their
    counter state (long ids, 700 scopes a minute) needs several times the room of their
    Parquet file."""
    with path.open("w") as out:
        for i in range(n):
            out.write(json.dumps({
                "event_id": f"{prefix}-{'x' * 100}-{i}",
                "event_type": types[0] if i % 5 == 0 else types[1],
                "timestamp": f"2026-02-16T14:{i % 30:02d}:00Z",
                "organization_id": f"org-{i % 700}"}) + "\n")


def window_counts_read_directly(lake: Path, org: str | None = None) -> tuple[int, int]:
    """(artifact_received, *_failed) among the lake's events of the window 13:31-14:30 of
    2026-02-16, each event_id once, read from the Parquet files with pyarrow."""
    seen: dict[str, str] = {}
    for path in sorted((lake / "events").rglob("*.parquet")):
        for row in pq.read_table(path).to_pylist():
            stamp = row["timestamp"]
            if (datetime(2026, 2, 16, 13, 31, tzinfo=UTC) <= stamp
                    <= datetime(2026, 2, 16, 14, 30, tzinfo=UTC)
                    and (org is None or row["organization_id"] == org)):
                seen.setdefault(row["event_id"], row["event_type"])
    types = list(seen.values())
    return types.count("artifact_received"), sum(t.endswith("_failed") for t in types)


def ten_receipts(path: Path) -> Path:
    """A file of 10 artifact_received events, first-0 .. first-9, at 14:00 .. 14:09 of NOW's day."""
    path.write_text("".join(json.dumps({"event_id": f"first-{i}", "event_type": "artifact_received",
                                        "timestamp": f"2026-02-16T14:0{i}:00Z"}) + "\n"
                            for i in range(10)))
    return path


def test_events_landed_but_not_counted_on_a_full_disk_are_counted_later(disk, tmp_path):
    # the disk fills between placing a landing's Parquet file and counting it (a real fault:
    # the file fits, the counter store's transaction does not): the lake holds the events,
    # the counters did not count them. A note left by the landing has the next read or landing
    # count them (uncounted.py); until that can write, reads count from the lake's files
    lake = disk / "lake"
    at = ("--lake", str(lake), "--now", NOW_TEXT)
    first = ten_receipts(tmp_path / "first.jsonl")
    for name in ("b", "d"):
        write_bulky(tmp_path / f"{name}.jsonl", name, 2500)
    assert cli("ingest", str(first), *at).code == 0

    def realtime(org: str | None = None) -> tuple[int, int]:
        run = cli("metrics", "realtime", "--json", *at, *(("--org", org) if org else ()))
        assert run.code == 0, run.err
        answer = json.loads(run.out)
        return answer["artifacts_received"], answer["failures"]

    notes = lake / "state" / "uncounted"
    filler = fill_but(disk, 150 * 1024)
    assert_no_space(cli("ingest", str(tmp_path / "b.jsonl"), *at), lake)
    # b's file is in place: 10 + 2,000 receipts, 500 failures; org-1: i = 1, 701, 1401, 2101
    assert window_counts_read_directly(lake) == (2010, 500)
    assert window_counts_read_directly(lake, "org-1") == (4, 0)
    assert realtime() == (2010, 500)  # the disk still full: from the lake's files
    assert len(os.listdir(notes)) == 1
    filler.unlink()
    assert realtime("org-1") == (4, 0)  # the read counted them in the store
    assert os.listdir(notes) == []
    assert realtime() == (2010, 500)

    filler = fill_but(disk, 150 * 1024)
    assert_no_space(cli("ingest", str(tmp_path / "d.jsonl"), *at), lake)
    assert len(os.listdir(notes)) == 1
    filler.unlink()
    run = cli("ingest", str(first), *at)  # a landing counts what d's left uncounted
    assert run.code == 0 and "duplicate 10" in run.out, (run.out, run.err)
    assert os.listdir(notes) == []
    assert window_counts_read_directly(lake) == realtime() == (4010, 1000)
    assert window_counts_read_directly(lake, "org-1") == realtime("org-1") == (8, 0)
    # sent again, each is a duplicate and counted once
    for name in ("b", "d"):
        run = cli("ingest", str(tmp_path / f"{name}.jsonl"), *at)
        assert run.code == 0 and "duplicate 2500" in run.out, (run.out, run.err)
    assert realtime() == (4010, 1000) and realtime("org-1") == (8, 0)


def test_the_failure_rate_check_counts_events_landed_but_not_counted(disk, tmp_path):
    # the health check's real-time window, after a landing whose count failed on a full disk:
    # it counted the store's 10 receipts and no outcome, so no alert, while the lake held
    # 500 failed and 2,000 completed artifacts (20 %, over the 10 % threshold)
    lake = disk / "lake"
    at = ("--lake", str(lake), "--now", NOW_TEXT)
    first = ten_receipts(tmp_path / "first.jsonl")
    write_bulky(tmp_path / "b.jsonl", "b", 2500, ("artifact_failed", "artifact_completed"))
    assert cli("ingest", str(first), *at).code == 0
    filler = fill_but(disk, 150 * 1024)
    assert_no_space(cli("ingest", str(tmp_path / "b.jsonl"), *at), lake)
    filler.unlink()
    assert len(os.listdir(lake / "state" / "uncounted")) == 1
    run = cli("alerts", "check", "--json", *at)
    assert run.code == 0, run.err
    [alert] = [a for a in json.loads(run.out)["raised"] if a["alert_type"] == "high_failure_rate"]
    # 500 of 2,500 outcomes: 20 %, above 10 % (high), not above 25 % (critical)
    assert alert["organization_id"] is None and alert["severity"] == "high", alert
    assert "500 failed of 2500 outcomes" in alert["message"], alert
    assert os.listdir(lake / "state" / "uncounted") == []


def quarantined_raws(lake: Path) -> list[str]:
    """The `raw` of every quarantine row, read from the Parquet files with pyarrow."""
    return [raw for path in sorted((lake / "quarantine").rglob("*.parquet"))
            for raw in pq.read_table(path, columns=["raw"]).column("raw").to_pylist()]


def test_a_batch_refused_on_a_full_disk_leaves_no_quarantine_behind(disk, tmp_path):
    # the rejects' quarantine file is written beside the events; when the events do not fit
    # the batch is refused (503) and its sender sends it again: a quarantine file the refused
    # landing placed would hold its rejects a second time
    from server_process import INGEST, ServerProcess, bearer, client

    lake = disk / "lake"
    assert cli("init", str(lake)).code == 0
    write_events(tmp_path / "noisy.jsonl", "noisy", 3000, noisy=True)  # ~0.8 MB
    bad = [json.dumps({"event_id": f"bad-{i}", "event_type": "no_such_type",
                       "timestamp": "2026-02-16T12:00:00Z"}) for i in range(5)]
    body = (tmp_path / "noisy.jsonl").read_bytes() + "".join(b + "\n" for b in bad).encode()
    post = {"headers": {**bearer(INGEST), "content-type": "application/x-ndjson"}}
    with ServerProcess(lake, log=tmp_path / "server.log") as server, client() as http:
        filler = fill_but(disk, 160 * 1024)  # room for the quarantine file, not the events
        answer = http.post(server.url + "/v1/events", content=body, **post)
        assert answer.status_code == 503, answer.text
        assert quarantined_raws(lake) == []  # nothing of it kept
        filler.unlink()
        answer = http.post(server.url + "/v1/events", content=body, **post)
        assert answer.status_code == 200, answer.text
        assert answer.json()["quarantined"] == 5
    assert sorted(quarantined_raws(lake)) == sorted(bad)  # each once
    assert temp_files(lake) == [] and unreadable(lake) == []


def test_commands_refused_or_answered_on_a_full_disk_leave_no_store_descriptor_open(disk, tmp_path):
    # SQLite cannot open the store on a full disk (no room for its -wal and -shm): the failed
    # connection stayed open (held by the error's traceback until a garbage collection), and
    # state/counters.sqlite-wal and -shm with it; the collector is kept off to see it
    lake = disk / "lake"
    write_events(tmp_path / "first.jsonl", "first", 40)
    write_events(tmp_path / "late.jsonl", "late", 400)
    at = ("--lake", str(lake), "--now", NOW_TEXT)
    assert cli("ingest", str(tmp_path / "first.jsonl"), *at).code == 0
    filler = fill(disk)
    store = lake / "state" / "counters.sqlite"
    gc.disable()
    try:
        assert_no_space(cli("ingest", str(tmp_path / "late.jsonl"), *at), lake)
        assert store_descriptors(store) == []
        assert cli("metrics", "realtime", "--json", *at).code == 0
        assert store_descriptors(store) == []
        cli("alerts", "check", *at)
        assert store_descriptors(store) == []
    finally:
        gc.enable()
        filler.unlink()
