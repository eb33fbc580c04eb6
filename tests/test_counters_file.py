"""A damaged embedded counter store (`state/counters.sqlite`) is named, with the way out.

It was "DatabaseError: file is not a database": no file, no fix, on every landing and read.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import (
    NOW,
    as_nobody,
    assert_one_line_error,
    event,
    give_to_nobody,
    run_main,
    store_descriptors,
)
from server_process import INGEST, STAFF, ServerProcess, bearer, client

from voice_monitor.counters import CounterStoreError
from voice_monitor.lake import Lake
from voice_monitor.landing import land_records

NOW_TEXT = "2026-02-16T14:30:00Z"


def corrupt_store(root) -> Path:
    """The lake's counter store made a file that is not SQLite; its path."""
    store = root / "state" / "counters.sqlite"
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_bytes(b"this is not an SQLite database\n" * 200)
    return store


def assert_counts_again(capsys, lake, events) -> None:
    """Once the store is moved aside (the way out the messages give): `events` (one
    artifact_received) ingests and the real-time counters count it."""
    code, out, err = run_main(capsys, "ingest", str(events), "--now", NOW_TEXT, "--lake", str(lake.root))
    assert (code, out.strip()) == (0, "accepted 1 (of which duplicate 0), quarantined 0"), err
    code, out, err = run_main(capsys, "metrics", "realtime", "--json", "--now", NOW_TEXT,
                              "--lake", str(lake.root))
    assert code == 0 and json.loads(out)["artifacts_received"] == 1, err


def test_a_corrupt_counter_store_is_named_and_moving_it_aside_recovers(capsys, lake, tmp_path):
    events = tmp_path / "e.jsonl"
    events.write_text(json.dumps(event("artifact_received", NOW)) + "\n")
    store = corrupt_store(lake.root)

    for argv in (["metrics", "realtime", "--now", NOW_TEXT], ["ingest", str(events), "--now", NOW_TEXT]):
        code, _, err = run_main(capsys, *argv, "--lake", str(lake.root))
        assert_one_line_error(code, err, status=1)
        assert f"counter store {store} cannot be read" in err, err
        assert f"move it aside with: voice-monitor lake check --move-aside --lake {lake.root} (" \
            in err, err
    assert not (lake.root / "events").exists() or not any((lake.root / "events").rglob("*.parquet"))

    shutil.move(store, f"{store}.corrupt")  # moved aside by hand: no event had landed
    assert_counts_again(capsys, lake, events)


@pytest.mark.slow
def test_the_collector_answers_500_never_400_the_store_named_in_the_log_only(tmp_path):
    lake = tmp_path / "lake"
    Lake.create(lake)
    store = corrupt_store(lake)
    with ServerProcess(lake, log=tmp_path / "server.log") as server, client() as http:
        sent = http.post(server.url + "/v1/events", content=json.dumps(event("artifact_received", NOW)),
                         headers={**bearer(INGEST), "Content-Type": "application/x-ndjson"})
        assert sent.status_code == 500  # the server's fault: the sender sends again later
        # a fixed answer: the server's paths and its libraries' errors are for its log only
        assert sent.json()["detail"] == ("the batch was not landed: the server failed (its log "
                                         "says why); send it again later, it is counted once")
        read = http.get(server.url + "/api/v1/metrics/realtime", headers=bearer(STAFF))
        assert read.status_code == 500
        assert read.json()["detail"] == ("the server's real-time counter store cannot be read "
                                         "(the server's log says which file and how to set it "
                                         "aside)")
        assert str(tmp_path) not in sent.text + read.text
        log = server.output()
        assert (f"POST /v1/events answered 500, the batch was not landed: the real-time counter "
                f"store {store} cannot be read") in log
        assert (f"GET /api/v1/metrics/realtime answered 500: the real-time counter store "
                f"{store} cannot be read") in log


def test_a_landing_that_cannot_open_the_store_lands_nothing_not_even_its_rejects(lake):
    """The store is opened before anything is written: a landing it stops leaves no quarantine
    rows behind, which each retry (a producer's, a script's) would have written again."""
    store = corrupt_store(lake.root)
    batch = [event("artifact_received", NOW), {"event_id": "bad", "event_type": "no_such_type",
                                               "timestamp": "2026-02-16T14:20:00Z"}]
    for _ in range(3):  # the first try and two retries
        with pytest.raises(CounterStoreError, match="move it aside"):
            land_records(lake, batch, now=NOW)
    assert list(lake.root.rglob("*.parquet")) == []

    shutil.move(store, f"{store}.corrupt")
    result = land_records(lake, batch, now=NOW)
    assert (result.accepted, result.quarantined) == (1, 1)
    assert len(list((lake.root / "quarantine").rglob("*.parquet"))) == 1


@pytest.mark.parametrize("folder", ["counters.sqlite", "counters.sqlite-wal"])
def test_a_folder_in_place_of_the_store_or_its_wal_is_named_and_moving_it_aside_recovers(
        capsys, lake, tmp_path, folder):
    """SQLite says only "unable to open database file" (it was OperationalError, no file named)."""
    events = tmp_path / "e.jsonl"
    events.write_text(json.dumps(event("artifact_received", NOW)) + "\n")
    store = lake.root / "state" / "counters.sqlite"
    odd = lake.root / "state" / folder
    odd.mkdir(parents=True)

    for argv in (["metrics", "realtime", "--now", NOW_TEXT], ["ingest", str(events), "--now", NOW_TEXT]):
        code, _, err = run_main(capsys, *argv, "--lake", str(lake.root))
        assert_one_line_error(code, err, status=1)
        assert f"counter store {store} cannot be opened ({odd} is not a file)" in err, err
        assert f"mv {odd} {odd}.corrupt" in err, err
    assert not (lake.root / "events").exists() or not any((lake.root / "events").rglob("*.parquet"))

    shutil.move(odd, f"{odd}.corrupt")  # the way out the message gives
    assert_counts_again(capsys, lake, events)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="lists descriptors through /proc")
def test_a_store_that_fails_to_open_leaves_no_descriptor_open(capsys, lake, tmp_path):
    # SQLite opened the file, then failed on it (here: not a database; on a full disk: no
    # room for its -wal and -shm): the connection stayed open, held by the error's traceback,
    # until the garbage collector ran (never, in a short command); the collector is kept off
    # here so that only an explicit close passes
    events = tmp_path / "e.jsonl"
    events.write_text(json.dumps(event("artifact_received", NOW)) + "\n")
    store = corrupt_store(lake.root)
    gc.disable()
    try:
        for argv in (["ingest", str(events)], ["metrics", "realtime"], ["alerts", "check"]):
            code, _, err = run_main(capsys, *argv, "--now", NOW_TEXT, "--lake", str(lake.root))
            # (the health check names it as an unreadable lake file, read around)
            named = (f"counter store {store} cannot be read" if argv[0] != "alerts"
                     else "unreadable lake file state/counters.sqlite")
            assert code == 1 and named in err, (argv, err)
            assert store_descriptors(store) == [], argv
    finally:
        gc.enable()


def test_a_store_file_this_user_may_not_write_is_named_by_a_landing(nobodys_folder):
    """counters.sqlite read-only to this user (its folder writable) opened fine and failed the
    first write with "OperationalError: attempt to write a readonly database", no file named.
    Run as `nobody`, since root ignores permissions."""
    base = nobodys_folder
    lake = Lake.create(base / "lake")
    land_records(lake, [event("artifact_received", NOW)], now=NOW)  # makes the store
    events = base / "e.jsonl"
    events.write_text(json.dumps(event("artifact_received", NOW)) + "\n")
    give_to_nobody(base)
    store = lake.root / "state" / "counters.sqlite"
    store.chmod(0o444)
    done = as_nobody("ingest", str(events), "--now", NOW_TEXT, "--lake", str(lake.root))
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"voice-monitor: error: permission denied in the lake {lake.root} "
                           f"({store}): cannot write the real-time counter store "), line


def damaged(whole: bytes, damage: str) -> bytes:
    """An SQLite file's bytes `zeroed`, `truncated`, or `malformed`: its first page (header and
    schema) intact, every other page garbage, so it opens and fails the first read of a table
    ("database disk image is malformed")."""
    if damage == "zeroed":
        return bytes(len(whole))
    if damage == "truncated":
        return whole[:1000]
    page = int.from_bytes(whole[16:18], "big")  # the header's page size
    return whole[:page] + b"\xff" * (len(whole) - page)


def test_retention_says_what_it_dropped_before_a_store_this_user_may_not_write(nobodys_folder):
    """Retention dropped the expired hours, then failed on a counter store read-only to this
    user with the lake's "permission denied" line, and the drops went unsaid (only a corrupt
    store's error was held back until they were listed). Run as `nobody`."""
    lake = Lake.create(nobodys_folder / "lake")
    land_records(lake, [event("artifact_received", NOW - timedelta(hours=h)) for h in (60, 2)],
                 now=NOW)
    give_to_nobody(nobodys_folder)
    store = lake.root / "state" / "counters.sqlite"
    store.chmod(0o444)
    done = as_nobody("retention", "--now", NOW_TEXT, "--lake", str(lake.root))
    assert done.returncode == 1
    # 60 h before 2026-02-16T14:30Z is 2026-02-14T02:30Z: its hour ended more than 48 h ago
    assert done.stdout.splitlines() == [
        "deleted 1 partition(s)",
        "  events                     1",
        "  events/date=2026-02-14/hour=02",
        "pruned no counter rows (the counter store cannot be pruned), 0 temp file(s)"]
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"voice-monitor: error: permission denied in the lake {lake.root} "
                           f"({store}): cannot write the real-time counter store "), line
    assert [p.name for p in lake.events_dir.glob("date=*/hour=*")] == ["hour=12"]


@pytest.mark.parametrize("damage", ["zeroed", "truncated", "malformed"])
def test_retention_says_what_it_dropped_before_the_counter_stores_error(capsys, lake, damage):
    """Retention dropped the expired hour, then failed on the corrupt store: the hour was gone
    and nothing said so. It now lists it, then fails (exit 1) on one line naming the store and
    the fix; the temporary files are cleaned as on any run. A store damaged past its first page
    opened fine and failed the prune with SQLite's DatabaseError: it still went unsaid."""
    land_records(lake, [event("artifact_received", NOW - timedelta(hours=h)) for h in (60, 2)],
                 now=NOW)
    store = lake.root / "state" / "counters.sqlite"
    store.write_bytes(damaged(store.read_bytes(), damage))
    code, out, err = run_main(capsys, "retention", "--now", NOW_TEXT, "--lake", str(lake.root))
    assert_one_line_error(code, err, status=1)
    # 60 h before 2026-02-16T14:30Z is 2026-02-14T02:30Z: its hour ended more than 48 h ago
    assert out.splitlines() == [
        "deleted 1 partition(s)",
        "  events                     1",
        "  events/date=2026-02-14/hour=02",
        "pruned no counter rows (the counter store cannot be pruned), 0 temp file(s)"]
    assert err.startswith(f"voice-monitor: error: the real-time counter store {store} cannot be "
                          "read (")
    assert (f"; move it aside with: voice-monitor lake check --move-aside --lake {lake.root} "
            "(it counts the lake's last 2 hours into a new store; a bare mv would leave the new "
            "one short of them)") in err
    assert [p.name for p in lake.events_dir.glob("date=*/hour=*")] == ["hour=12"]

    code, out, err = run_main(capsys, "retention", "--now", NOW_TEXT, "--json",
                              "--lake", str(lake.root))
    assert code == 1 and json.loads(out)["counter_store_error"] == err.strip().removeprefix(
        "voice-monitor: error: ")


def test_lake_check_moves_a_damaged_store_aside_and_recounts_the_window_from_the_lake(capsys,
                                                                                       lake):
    """A store damaged after 3 receipts landed (a page of it overwritten: 'malformed'). Moved
    aside by hand, a new store counted from the next landing only and then vouched for the
    window: 1 instead of 4. `lake check` names it; `--move-aside` recounts the lake's last 2
    hours into a new store, so the next landing makes 3 + 1 = 4."""
    land_records(lake, [event("artifact_received", NOW - timedelta(minutes=m)) for m in (5, 6, 7)]
                 + [event("artifact_received", NOW - timedelta(hours=3))], now=NOW)  # 11:30: old
    store = lake.root / "state" / "counters.sqlite"
    with open(store, "r+b") as file:  # the first page's B-tree after the 100-byte header
        file.seek(100)
        file.write(b"\xff" * 3900)
    code, out, err = run_main(capsys, "lake", "check", "--lake", str(lake.root))
    assert code == 1
    assert "unreadable state/counters.sqlite: DatabaseError: database disk image is malformed" in out
    assert "first state/counters.sqlite; move them aside with: voice-monitor lake check " \
           "--move-aside" in err
    code, out, err = run_main(capsys, "lake", "check", "--move-aside", "--now", NOW_TEXT, "--json",
                              "--lake", str(lake.root))
    assert code == 0, err
    report = json.loads(out)
    assert {"from": "state/counters.sqlite", "to": "corrupt/state/counters.sqlite"} in report["moved"]
    assert report["counters_recounted"] == 3  # 14:23-14:25; 11:30 is past the 2-hour horizon
    assert (lake.root / "corrupt" / "state" / "counters.sqlite").is_file()
    assert json.loads((lake.root / "corrupt" / "state" / "counters.sqlite.json").read_text())[
        "original_path"] == "state/counters.sqlite"
    events = lake.root.parent / "late.jsonl"
    events.write_text(json.dumps(event("artifact_received", NOW - timedelta(minutes=1))) + "\n")
    code, _, err = run_main(capsys, "ingest", str(events), "--now", NOW_TEXT, "--lake", str(lake.root))
    assert code == 0, err
    code, out, err = run_main(capsys, "metrics", "realtime", "--json", "--now", NOW_TEXT,
                              "--lake", str(lake.root))
    assert code == 0 and json.loads(out)["artifacts_received"] == 4, err
    code, out, _ = run_main(capsys, "lake", "check", "--lake", str(lake.root))
    assert code == 0 and "0 unreadable" in out


def test_a_repair_stopped_before_its_last_rename_leaves_the_damaged_store_to_find_again(
        capsys, lake, monkeypatch):
    """Killed between moving the damaged store aside and placing the new one, no store would
    be left, and the next landing's fresh store would vouch for the window again. The new
    store is built first and renamed over the damaged one, which until then stays in place."""
    from voice_monitor import counter_repair

    land_records(lake, [event("artifact_received", NOW - timedelta(minutes=5))], now=NOW)
    store = corrupt_store(lake.root)
    real = os.replace

    def stopped(*args):
        raise SystemExit("killed")  # as a kill at that moment: nothing after it runs

    monkeypatch.setattr(os, "replace", stopped)
    with pytest.raises(SystemExit):
        counter_repair.repair(lake, NOW, "damaged")
    monkeypatch.setattr(os, "replace", real)
    assert store.read_bytes().startswith(b"this is not an SQLite database")
    code, out, err = run_main(capsys, "lake", "check", "--move-aside", "--now", NOW_TEXT, "--json",
                              "--lake", str(lake.root))
    assert code == 0 and json.loads(out)["counters_recounted"] == 1, err
    code, out, err = run_main(capsys, "metrics", "realtime", "--json", "--now", NOW_TEXT,
                              "--lake", str(lake.root))
    assert code == 0 and json.loads(out)["artifacts_received"] == 1, err


def test_a_store_made_anew_on_a_lake_with_events_does_not_vouch_for_what_landed_before(capsys,
                                                                                       lake):
    """The store removed by hand (rm, a bare mv, a state/ folder wiped) after 3 receipts landed:
    the next landing made a new store with no horizon, which then vouched for the whole
    window, and real-time said 1 while 4 had landed. A store made on a lake that already holds
    events now counts as whole only from its creation: earlier windows are read from the lake."""
    land_records(lake, [event("artifact_received", NOW - timedelta(minutes=m)) for m in (5, 6, 7)],
                 now=NOW)
    for path in (lake.root / "state").glob("counters.sqlite*"):
        path.unlink()
    land_records(lake, [event("artifact_received", NOW - timedelta(minutes=1))], now=NOW)
    code, out, err = run_main(capsys, "metrics", "realtime", "--json", "--now", NOW_TEXT,
                              "--lake", str(lake.root))
    assert code == 0 and json.loads(out)["artifacts_received"] == 4, err


def test_a_store_made_with_the_lake_vouches_for_its_first_landing(lake):
    """The first landing of a new lake makes the store: it holds every event, so the window
    is its to count (no horizon before the first landing's own)."""
    from voice_monitor.counters import open_counters

    land_records(lake, [event("artifact_received", NOW - timedelta(minutes=1))], now=NOW)
    store = open_counters(lake)
    try:
        assert store.horizon() == NOW - timedelta(hours=2)  # the landing's cut-off, STATE_TTL
    finally:
        store.close()


def test_a_remote_lakes_damaged_store_is_moved_aside_with_the_note_it_names(
        capsys, tmp_path, monkeypatch):
    """On an object-store lake the store lives in a local folder and is renamed beside itself:
    `lake check --move-aside` printed '(note: ….json)' for it, but wrote no note."""
    from voice_monitor import storage

    monkeypatch.setenv(storage.STATE_DIR_ENV, str(tmp_path / "state"))
    lake = Lake.create(f"memory://store-{os.getpid()}-{tmp_path.name}")
    land_records(lake, [event("artifact_received", NOW - timedelta(minutes=5))], now=NOW)
    store = lake.local_state_dir / "counters.sqlite"
    store.write_bytes(b"this is not an SQLite database\n" * 200)
    code, out, err = run_main(capsys, "lake", "check", "--move-aside", "--now", NOW_TEXT,
                              "--lake", str(lake.root))
    assert code == 0, err
    moved = [line for line in out.splitlines() if line.startswith("moved ")]
    assert len(moved) == 1 and moved[0].startswith(f"moved {store} -> {store}.corrupt-"), out
    note = Path(moved[0].split("(note: ", 1)[1].removesuffix(")"))
    assert json.loads(note.read_text())["original_path"] == str(store)
    assert "file is not a database" in json.loads(note.read_text())["error"]
    assert "counted the lake's 1 event(s)" in out


def test_a_store_left_empty_by_a_crash_does_not_vouch_for_what_landed_before(capsys, lake):
    """A store truncated to 0 bytes is a valid, empty SQLite file: `lake check` finds nothing
    wrong with it, and it was made anew without a horizon, so real-time said 1 of 4."""
    land_records(lake, [event("artifact_received", NOW - timedelta(minutes=m)) for m in (5, 6, 7)],
                 now=NOW)
    (lake.root / "state" / "counters.sqlite").write_bytes(b"")
    land_records(lake, [event("artifact_received", NOW - timedelta(minutes=1))], now=NOW)
    code, out, err = run_main(capsys, "metrics", "realtime", "--json", "--now", NOW_TEXT,
                              "--lake", str(lake.root))
    assert code == 0 and json.loads(out)["artifacts_received"] == 4, err


# open_counters in its own process, killed (SIGKILL, by itself) as it begins the second
# transaction of the store (the first makes it)
KILLED_OPEN = """
import os, signal, sys
from voice_monitor.counters import open_counters
from voice_monitor.lake import Lake
from voice_monitor.sqlite_counters import SQLiteCounterStore
calls, real = [0], SQLiteCounterStore._transaction
def dying(self, work):
    calls[0] += 1
    if calls[0] == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(self, work)
SQLiteCounterStore._transaction = dying
open_counters(Lake(sys.argv[1])).close()
"""


def test_a_store_made_on_a_lake_with_events_holds_its_horizon_from_its_first_commit(lake):
    """The horizon was written in a transaction after the one that made the store: a process
    killed in between left a store without one, which then vouched for the whole window. It is
    now written by the transaction that makes the store (read here with plain sqlite3)."""
    import sqlite3
    import subprocess
    import sys
    from datetime import UTC, datetime

    land_records(lake, [event("artifact_received", NOW - timedelta(minutes=5))], now=NOW)
    path = lake.root / "state" / "counters.sqlite"
    path.unlink()
    before = datetime.now(UTC)
    run = subprocess.run([sys.executable, "-c", KILLED_OPEN, str(lake.root)],
                         capture_output=True, text=True)
    assert run.returncode in (0, -9), run.stderr
    con = sqlite3.connect(path)
    try:
        assert con.execute("pragma user_version").fetchall() == [(4,)]
        # (the making's mark, apart from the landings' cut-off: a catch-up removes it)
        (us,), = con.execute("select us from made").fetchall()
    finally:
        con.close()
    assert us >= int(before.timestamp()) * 1_000_000


def test_a_repair_stopped_after_moving_the_wal_aside_leaves_no_store_short_of_it(capsys, lake,
                                                                                monkeypatch):
    """Killed after SQLite's files beside the store were moved to corrupt/ and before the new
    store was renamed in, the store's place held the old main file alone: one whose last
    commits were in its WAL passes quick_check without it, and was used short of them (here 1
    of 2 receipts). A placeholder that is no SQLite file now holds the place meanwhile."""
    import sqlite3

    from voice_monitor import counter_repair

    land_records(lake, [event("artifact_received", NOW - timedelta(minutes=5))], now=NOW)
    store = lake.root / "state" / "counters.sqlite"
    held = sqlite3.connect(store)  # keeps the next landing's commit in the WAL
    held.execute("select 1 from seen_blocks").fetchall()
    land_records(lake, [event("artifact_received", NOW - timedelta(minutes=4))], now=NOW)
    main, wal = store.read_bytes(), Path(f"{store}-wal").read_bytes()
    assert wal  # the second landing's commit is in it
    held.close()  # (checkpoints it): the files put back as they were before
    store.write_bytes(main)
    Path(f"{store}-wal").write_bytes(wal)
    real, calls = os.replace, []

    def killed_at_the_last_rename(source, target):
        calls.append(target)
        if Path(source).name.startswith(".counters.sqlite.rebuilt-"):
            raise SystemExit("killed")  # as a kill at that moment: nothing after it runs
        return real(source, target)

    monkeypatch.setattr(os, "replace", killed_at_the_last_rename)
    with pytest.raises(SystemExit):
        counter_repair.repair(lake, NOW, "damaged")
    monkeypatch.setattr(os, "replace", real)
    assert not Path(f"{store}-wal").exists()  # moved to corrupt/
    assert counter_repair.store_problem(lake) is not None  # found again, not used
    code, out, err = run_main(capsys, "lake", "check", "--move-aside", "--now", NOW_TEXT, "--json",
                              "--lake", str(lake.root))
    assert code == 0 and json.loads(out)["counters_recounted"] == 2, err
    code, out, err = run_main(capsys, "metrics", "realtime", "--json", "--now", NOW_TEXT,
                              "--lake", str(lake.root))
    assert code == 0 and json.loads(out)["artifacts_received"] == 2, err


def test_a_damaged_store_raises_its_alert_and_the_failure_rate_is_read_from_the_lake(capsys,
                                                                                  lake):
    """The failure-rate check failed on a damaged store with no alert at all: a failure rate
    of 30 % went unraised, and nothing named the store to on-call. The check now counts the
    window from the lake's files (and fails, as read around a file), and lake_file_unreadable
    names the store with the fix; both clear as usual once it is moved aside."""
    land_records(lake, [*[event("artifact_completed", NOW - timedelta(minutes=m))
                          for m in range(1, 15)],
                        *[event("artifact_failed", NOW - timedelta(minutes=m, seconds=30))
                          for m in range(1, 7)]], now=NOW)  # 6 of 20 outcomes failed: 30 %
    corrupt_store(lake.root)

    def active() -> dict[str, str]:
        code, out, err = run_main(capsys, "alerts", "list", "--json", "--lake", str(lake.root))
        assert code == 0, err
        return {a["alert_type"]: a["message"] for a in json.loads(out)}

    code, _, err = run_main(capsys, "alerts", "check", "--now", NOW_TEXT, "--lake", str(lake.root))
    assert code == 1 and "high_failure_rate: UnreadableFileError" in err, err
    found = active()
    assert "6 failed of 20 outcomes" in found["high_failure_rate"], found
    assert found["lake_file_unreadable"].startswith("1 unreadable lake file(s): state/counters.sqlite"), found
    assert "voice-monitor lake check --move-aside" in found["lake_file_unreadable"], found

    code, _, err = run_main(capsys, "lake", "check", "--move-aside", "--now", NOW_TEXT,
                            "--lake", str(lake.root))
    assert code == 0, err
    code, _, err = run_main(capsys, "alerts", "check", "--now", "2026-02-16T14:35:00Z",
                            "--lake", str(lake.root))
    assert code == 0, err
    found = active()
    assert "lake_file_unreadable" not in found and "high_failure_rate" in found, found


def test_the_stores_alert_resolves_once_a_readable_store_is_in_its_place(capsys, lake):
    """The record of an unreadable store is probed again with SQLite's check once the file
    changed (a Parquet reader would find any SQLite file unreadable, and the alert stayed)."""
    land_records(lake, [event("artifact_received", NOW - timedelta(minutes=5))], now=NOW)
    store = corrupt_store(lake.root)
    code, _, err = run_main(capsys, "alerts", "check", "--now", NOW_TEXT, "--lake", str(lake.root))
    assert code == 1, err
    store.unlink()  # by hand; the next landing makes a new store
    land_records(lake, [event("artifact_received", NOW - timedelta(minutes=1))], now=NOW)
    code, out, err = run_main(capsys, "alerts", "check", "--now", NOW_TEXT, "--lake", str(lake.root))
    assert code == 0, err
    assert "resolved" in out and "lake_file_unreadable" in out, out
    code, out, err = run_main(capsys, "alerts", "list", "--json", "--lake", str(lake.root))
    assert "lake_file_unreadable" not in {a["alert_type"] for a in json.loads(out)}, out
