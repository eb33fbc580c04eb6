"""Real-time counters (contract §5): window edges, platform vs organizations, duplicates,
concurrent writers, pruning, and the CLI agreeing with Python — each against the embedded
SQLite store and against a real Redis (contract §13), with the same expectations."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone

import pyarrow as pa
import pytest
import redis
from conftest import NOW, assert_one_line_error, event, run_main, ts, use_counter_store
from server_process import free_port

from voice_monitor.counters import (
    COUNTERS_ENV,
    METRICS,
    STATE_TTL,
    open_counters,
    realtime_metrics,
    vouches_for,
    window_start,
)
from voice_monitor.landing import land_records
from voice_monitor.redis_counters import CounterStoreUnavailable
from voice_monitor.schema import EVENT_TYPES

# now is mid-minute so that "the current minute" and "now" differ
AT = datetime(2026, 2, 16, 14, 30, 20, 500_000, tzinfo=UTC)
WINDOW_START = datetime(2026, 2, 16, 13, 31, tzinfo=UTC)  # floor_minute(AT) - 59 min
MS = timedelta(milliseconds=1)


@pytest.fixture(autouse=True, params=["sqlite", "redis"])
def backend(request, monkeypatch) -> str:
    """Every test runs on the embedded store and on Redis unless it names one."""
    return use_counter_store(request.param, request, monkeypatch)


def zeros(**counts) -> dict:
    return {**dict.fromkeys(METRICS, 0), **counts}


def counts(lake, org=None, now=AT) -> dict:
    """What the counter store holds for the window (given the store: a window it holds nothing
    for would otherwise be counted from the lake, test_realtime_old_events.py)."""
    with closing(open_counters(lake)) as store:
        result = realtime_metrics(lake, org, now=now, store=store)
    return {k: result[k] for k in METRICS}


def received(*moments: datetime, **fields) -> list[dict]:
    return [event("artifact_received", m, **fields) for m in moments]


def test_window_edges(lake):
    land_records(lake, received(
        WINDOW_START - MS,          # 13:30:59.999: last excluded millisecond before the window
        WINDOW_START,               # 13:31:00.000: first included millisecond
        AT - MS,                    # just before now
        AT,                         # now itself is included
        AT + MS,                    # 1 ms after now, in the current minute: excluded
        datetime(2026, 2, 16, 14, 31, 5, tzinfo=UTC),  # a later minute (within tolerance)
    ) + [{"event_id": "us", "event_type": "artifact_received",
          "timestamp": "2026-02-16T14:30:20.500001Z"}],  # 1 µs after now: excluded
        now=AT + timedelta(minutes=1))
    assert counts(lake) == zeros(artifacts_received=3)
    result = realtime_metrics(lake, now=AT)
    assert (result["window_start"], result["window_end"]) == (WINDOW_START, AT)


def test_window_moves_with_now(lake):
    land_records(lake, received(WINDOW_START, AT + MS), now=AT + timedelta(minutes=1))
    # a minute later 13:31:00 has left the window and AT + 1 ms has entered it
    later = AT + timedelta(minutes=1)
    assert counts(lake, now=later) == zeros(artifacts_received=1)
    # at the exact start of a minute the window is that minute's first instant plus 59 minutes
    on_minute = datetime(2026, 2, 16, 14, 30, tzinfo=UTC)
    assert realtime_metrics(lake, now=on_minute)["window_start"] == WINDOW_START


def test_every_metric_from_one_event_of_each_type(lake):
    land_records(lake, [event(t, AT - timedelta(minutes=5), organization_id="org-1")
                        for t in EVENT_TYPES], now=AT)
    # entities_resolved: entity_resolution_completed + entity_needs_disambiguation;
    # failures: transcription_, claims_extraction_, entity_resolution_, draft_generation_,
    # artifact_ and retry_failed
    expected = zeros(artifacts_received=1, artifacts_completed=1, artifacts_failed=1,
                     transcriptions_completed=1, claims_extracted=1, entities_resolved=2,
                     drafts_generated=1, failures=6)
    assert counts(lake) == expected
    assert counts(lake, "org-1") == expected


def test_platform_is_every_event_with_or_without_organization(lake):
    at = AT - timedelta(minutes=10)
    land_records(lake, received(at, at, organization_id="org-1") + received(at, organization_id="org-2")
                 + received(at, at, at), now=AT)
    assert counts(lake)["artifacts_received"] == 6  # 2 + 1 + 3 without an organization
    assert counts(lake, "org-1")["artifacts_received"] == 2
    assert counts(lake, "org-2")["artifacts_received"] == 1
    assert counts(lake, "org-unknown") == zeros()


def test_duplicates_counted_once_across_landings(lake):
    e = event("artifact_completed", AT - timedelta(minutes=2), organization_id="org-1")
    land_records(lake, [e, e], now=AT)
    land_records(lake, [e], now=AT)
    land_records(lake, [{**e, "organization_id": "org-2"}], now=AT)  # a copy: first one wins
    assert counts(lake)["artifacts_completed"] == 1
    assert counts(lake, "org-1")["artifacts_completed"] == 1
    assert counts(lake, "org-2")["artifacts_completed"] == 0


def test_a_copy_counts_as_the_first_landed_event_whatever_its_own_type(lake):
    at = AT - timedelta(minutes=2)
    # the lake keeps the first landed copy of (event_id, hour): an uncounted retry, in two
    # landings and within one batch; the later copies' types are never counted
    land_records(lake, [event("retry_initiated", at, event_id="a", organization_id="org-1")],
                 now=AT)
    land_records(lake, [event("artifact_received", at, event_id="a", organization_id="org-1")],
                 now=AT)
    land_records(lake, [event("transcription_started", at, event_id="b"),
                        event("artifact_failed", at, event_id="b")], now=AT)
    assert counts(lake) == zeros()
    assert counts(lake, "org-1") == zeros()
    # a counted first copy still counts once; the same id in another hour is another event
    land_records(lake, [event("artifact_completed", at, event_id="c"),
                        event("retry_initiated", at, event_id="c"),
                        event("artifact_completed", at, event_id="c")], now=AT)
    land_records(lake, [event("artifact_completed", at.replace(hour=13, minute=50), event_id="c")],
                 now=AT)
    assert counts(lake) == zeros(artifacts_completed=2)


class _DiedBeforeCounting:
    """A counter store whose process died after the hour files were written."""

    def prepare(self, events, now) -> None:
        return None

    def commit(self, prepared) -> int:
        raise OSError("killed")

    def close(self) -> None:
        pass


def test_events_landed_again_after_a_crash_before_their_count_are_counted_once(lake):
    at = AT - timedelta(minutes=3)
    batch = [event("artifact_received", at, event_id=f"r{i}", organization_id="org-1")
             for i in range(4)] + [event("retry_initiated", at, event_id="t"),
                                   event("artifact_failed", at, event_id="f")]
    with pytest.raises(OSError, match="killed"):  # the files are in the lake, nothing counted
        land_records(lake, batch, now=AT, counters=_DiedBeforeCounting())
    assert counts(lake) == zeros()
    # at-least-once: the same batch again, every event now a copy of one in the lake
    result = land_records(lake, batch, now=AT)
    assert result.duplicates == 6
    assert counts(lake) == zeros(artifacts_received=4, artifacts_failed=1, failures=1)
    assert counts(lake, "org-1") == zeros(artifacts_received=4)
    # and a third time: nothing more
    land_records(lake, batch + [event("artifact_received", at, event_id="t")], now=AT)
    assert counts(lake) == zeros(artifacts_received=4, artifacts_failed=1, failures=1)


def test_a_landing_whose_folder_fsync_fails_counts_nothing(lake, monkeypatch):
    """The counters count only what the lake holds durably: when the new file names cannot be
    fsync'd (a power loss could still take them), the landing fails and counts nothing; its
    retry counts the events once."""
    real = os.fsync

    def fsync(fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(errno.EIO, "Input/output error (folder)")
        real(fd)

    batch = [*received(AT - timedelta(minutes=2), organization_id="org-1"),
             *received(AT - timedelta(minutes=1))]
    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(OSError, match="folder"):
        land_records(lake, batch, now=AT)
    assert counts(lake) == zeros()
    monkeypatch.setattr(os, "fsync", real)
    result = land_records(lake, batch, now=AT)  # the sender's retry
    assert (result.accepted, result.duplicates) == (2, 2)  # the files were in place already
    assert counts(lake) == zeros(artifacts_received=2)
    assert counts(lake, "org-1") == zeros(artifacts_received=1)


def test_a_prepared_batch_counts_nothing_until_committed_and_each_event_once(lake):
    """`prepare` counts nothing; `commit` counts the batch's events that no other writer
    counted in between (here "b", counted by another store after the batch was prepared)."""
    def batch(*ids: str) -> pa.Table:
        return pa.table({"event_id": list(ids), "event_type": ["artifact_received"] * len(ids),
                         "timestamp": pa.array([AT - timedelta(minutes=1)] * len(ids),
                                               pa.timestamp("us", tz="UTC")),
                         "organization_id": pa.array([None] * len(ids), pa.string())})

    with closing(open_counters(lake)) as first, closing(open_counters(lake)) as second:
        assert first.record(batch("z"), AT) == 1  # a store that knows some blocks already
        prepared = first.prepare(batch("a", "b", "a", "c"), AT)
        assert counts(lake) == zeros(artifacts_received=1)
        assert second.record(batch("b", "d"), AT) == 2
        assert first.commit(prepared) == 2  # "a" once and "c"; "b" was counted meanwhile
        assert first.record(batch("a", "d", "e"), AT) == 1
    assert counts(lake) == zeros(artifacts_received=6)  # z, b, d, a, c, e


def test_busy_organizations_by_outcome_count(lake):
    at = AT - timedelta(minutes=20)
    land_records(lake, [event("artifact_completed", at, organization_id="org-1"),
                        event("artifact_completed", at, organization_id="org-1"),
                        event("artifact_failed", AT - timedelta(minutes=58), organization_id="org-1"),
                        event("artifact_failed", at, organization_id="org-2"),
                        event("artifact_received", at, organization_id="org-3"),
                        event("artifact_failed", WINDOW_START - MS, organization_id="org-4"),
                        event("artifact_completed", at), event("artifact_completed", at)], now=AT)
    outcomes = ("artifacts_completed", "artifacts_failed")
    with closing(open_counters(lake)) as store:
        # org-1: 3 outcomes, org-2: 1, org-3: none (received only), org-4: before the window;
        # events without an organization are the platform's only
        assert store.organizations(WINDOW_START, AT, outcomes, 3) == ["org-1"]
        assert store.organizations(WINDOW_START, AT, outcomes, 1) == ["org-1", "org-2"]
        assert store.organizations(WINDOW_START, AT, ("artifacts_received",), 1) == ["org-3"]


def test_late_event_for_an_earlier_minute_is_counted(lake):
    land_records(lake, received(AT - timedelta(minutes=1)), now=AT)
    # lands at AT but happened 50 minutes earlier, still inside the window
    land_records(lake, received(AT - timedelta(minutes=50)), now=AT)
    assert counts(lake)["artifacts_received"] == 2


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_prune_drops_state_older_than_two_hours(lake):
    land_records(lake, received(AT - timedelta(minutes=30), AT - timedelta(minutes=90)), now=AT)
    store = open_counters(lake)
    try:
        # events at 14:00:20.5 and 13:00:20.5; at AT the cut-off is 12:30:20.5: nothing goes
        assert store.prune(AT) == 0
        # 45 min later the cut-off is 13:15:20.5: the 13:00:20.5 event goes
        removed = store.prune(AT + timedelta(minutes=45))
    finally:
        store.close()
    db = sqlite3.connect(lake.state_dir / "counters.sqlite")
    cutoff_us = int((AT + timedelta(minutes=45) - STATE_TTL).timestamp() * 1_000_000)
    assert db.execute("select count(*) from seen").fetchall() == [(1,)]
    assert db.execute("select count(*) from seen where ts_us < ?", (cutoff_us,)).fetchall() == [(0,)]
    assert db.execute("select count(*) from counts where minute < ?",
                      (cutoff_us // 60_000_000,)).fetchall() == [(0,)]
    # one seen row, plus its minute's platform counter row (it has no organization)
    assert removed == 2


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_events_older_than_the_state_horizon_are_not_counted(lake):
    land_records(lake, received(AT - STATE_TTL - MS), now=AT)
    db = sqlite3.connect(lake.state_dir / "counters.sqlite")
    assert db.execute("select count(*) from seen").fetchall() == [(0,)]


def test_no_store_reads_as_zero(lake):
    assert counts(lake) == zeros()


WRITER = textwrap.dedent("""
    import sys, time
    from datetime import datetime, timedelta, UTC
    from pathlib import Path
    import pyarrow as pa
    from voice_monitor.counters import open_counters
    from voice_monitor.lake import Lake
    lake, start_flag, own = Lake(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    at = datetime(2026, 2, 16, 14, 20, tzinfo=UTC)
    store = open_counters(lake)
    while not start_flag.exists():
        time.sleep(0.01)
    for batch in range(40):
        # 25 shared ids (both writers record them) and 25 of this writer's own per batch
        ids = [f"shared-{batch}-{i}" for i in range(25)] + [f"{own}-{batch}-{i}" for i in range(25)]
        store.record(pa.table({
            "event_id": ids,
            "event_type": ["artifact_received"] * 50,
            "timestamp": pa.array([at] * 50, pa.timestamp("us", tz="UTC")),
            "organization_id": ["org-" + own] * 25 + [None] * 25,
        }), datetime(2026, 2, 16, 14, 30, tzinfo=UTC))
    store.close()
""")


def test_two_processes_write_at_once_and_totals_are_exact(lake, tmp_path):
    flag = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(lake.root), str(flag), name],
                              stderr=subprocess.PIPE, text=True) for name in ("a", "b")]
    flag.touch()
    for proc in procs:
        assert proc.wait(timeout=120) == 0, proc.stderr.read()
    # 40 batches x 25 shared ids (counted once) + 2 writers x 40 x 25 own ids
    assert counts(lake, now=NOW)["artifacts_received"] == 40 * 25 + 2 * 40 * 25
    # shared ids went to whichever writer recorded them first; own ids have no organization
    assert counts(lake, "org-a", now=NOW)["artifacts_received"] + counts(
        lake, "org-b", now=NOW)["artifacts_received"] == 40 * 25


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from voice_monitor.cli import main; main()", *args],
                          capture_output=True, text=True)


@pytest.mark.parametrize("org", [None, "org-1"])
def test_cli_realtime_json_equals_python(lake, org):
    land_records(lake, received(AT - timedelta(minutes=3), organization_id="org-1")
                 + [event("transcription_failed", AT - timedelta(minutes=4))], now=AT)
    args = ["metrics", "realtime", "--lake", str(lake.root), "--now", ts(AT), "--json"]
    done = _cli(*args, *(["--org", org] if org else []))
    assert done.returncode == 0, done.stderr
    python = realtime_metrics(lake, org, now=AT)
    expected = {**python, "window_start": "2026-02-16T13:31:00Z",
                "window_end": "2026-02-16T14:30:20.500000Z"}
    assert json.loads(done.stdout) == expected
    assert expected["artifacts_received"] == 1 and expected["failures"] == (0 if org else 1)


def test_cli_realtime_table_prints_the_window_in_utc_with_z(lake, capsys):
    # the plain output printed Python's str(datetime), "2026-02-16 13:31:00+00:00", while --json,
    # --now and every other table write UTC with Z
    land_records(lake, received(AT - timedelta(minutes=3)), now=AT)
    code, out, _ = run_main(capsys, "metrics", "realtime", "--lake", str(lake.root), "--now", ts(AT))
    assert code == 0
    lines = dict(line.split(maxsplit=1) for line in out.splitlines())
    assert lines["window_start"] == "2026-02-16T13:31:00Z"  # floor_minute(14:30:20.5) - 59 min
    assert lines["window_end"] == "2026-02-16T14:30:20.500000Z"
    assert lines["artifacts_received"] == "1"


def test_realtime_uses_utc_whatever_the_input_offset(lake):
    land_records(lake, received(AT - timedelta(minutes=1)), now=AT)
    local = AT.astimezone(timezone(timedelta(hours=-5)))
    assert realtime_metrics(lake, now=local)["window_start"] == WINDOW_START
    assert counts(lake, now=local)["artifacts_received"] == 1


# -- Redis only: expiry instead of pruning, connection errors --------------------------------
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True)


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
def test_redis_keys_live_until_their_event_is_two_hours_old(lake, redis_url):
    land_records(lake, received(AT - timedelta(minutes=30), organization_id="org-1"), now=AT)
    client = _redis(redis_url)
    keys = sorted(client.keys("*"))
    minute = int(datetime(2026, 2, 16, 14, 0, tzinfo=UTC).timestamp()) // 60
    hour = minute // 60
    seen = [k for k in keys if k.startswith(f"vm:s:{hour}:")]
    assert len(seen) == 1
    # vm:h and vm:hm, the horizon (added on purpose: the store records it like the embedded
    # store's `horizon` table; vm:hm's entries are folded into vm:h as the keys of their
    # landings expire), never expire; the rest expire with their events
    assert client.ttl("vm:h") == client.ttl("vm:hm") == -1
    keys.remove("vm:h")
    keys.remove("vm:hm")
    assert sorted(set(keys) - set(seen)) == [
        f"vm:n:{minute}:o:org-1", f"vm:n:{minute}:p", f"vm:o:{minute}", f"vm:t:{minute}"]
    # the event (14:00:20.5) is 2 h old at 16:00:20.5: 90 min after AT
    assert 90 * 60 - 5 <= client.ttl(seen[0]) <= 90 * 60
    # its minute (14:00) ends at 14:01, which is 2 h old at 16:01: 90 min 39.5 s after AT
    for key in set(keys) - set(seen):
        assert 5440 - 5 <= client.ttl(key) <= 5440, key
    assert client.hgetall(f"vm:n:{minute}:p") == {"artifacts_received": "1"}
    with closing(open_counters(lake)) as store:
        assert store.prune(AT + timedelta(hours=3)) == 0  # nothing to prune: keys expire


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
def test_redis_state_past_the_horizon_expires_and_older_events_leave_nothing(lake, redis_url):
    client = _redis(redis_url)
    land_records(lake, received(AT - STATE_TTL - MS), now=AT)
    # only the horizon (vm:h, vm:hm, added on purpose: before it the store kept no key here)
    horizon = ["vm:h", "vm:hm"]
    assert sorted(client.keys("*")) == horizon
    # 50 ms inside the horizon, in the minute before: every key it makes has 1 s left to live
    at = datetime(2026, 2, 16, 14, 29, 59, 900_000, tzinfo=UTC)
    land_records(lake, received(at - STATE_TTL + timedelta(milliseconds=50)), now=at)
    assert client.dbsize() == 5  # seen marker, platform bucket, times (no organization set), horizon
    assert all(client.ttl(k) == 1 for k in client.keys("*") if k not in horizon)
    deadline = time.monotonic() + 30
    while sorted(client.keys("*")) != horizon and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sorted(client.keys("*")) == horizon



@pytest.mark.parametrize("backend", ["redis"], indirect=True)
def test_redis_horizon_is_the_latest_landing_now_less_two_hours_moved_on_by_its_clock(lake):
    """Redis kept no horizon, so a past window with events landed over 2 h late beside counted
    ones was taken as whole (tests/test_realtime_old_events.py). It is the latest landing's
    `now` - 2 h, also from a landing that counts nothing, and it moves on with Redis's clock,
    by which the keys expire."""
    with closing(open_counters(lake)) as store:
        assert store.horizon() is None  # no landing yet
        started = time.monotonic()
        land_records(lake, received(AT - STATE_TTL - MS), now=AT)  # counts nothing
        hour_before = AT - timedelta(hours=1)  # an earlier `now` does not move it back
        land_records(lake, received(hour_before - timedelta(minutes=5)), now=hour_before)
        first = store.horizon()
        waited = timedelta(seconds=time.monotonic() - started)
        assert AT - STATE_TTL <= first <= AT - STATE_TTL + waited + timedelta(seconds=1)
        time.sleep(1.1)
        assert store.horizon() - first >= timedelta(seconds=1)

# longer than any key a landing makes lives by Redis's clock: STATE_TTL, the 5 minutes an event
# may be stamped ahead, its minute, a second of rounding (2 h 6 min 1 s)
LATER = timedelta(hours=2, minutes=10)


def _later(store) -> None:
    """Move the store's reading of Redis's clock on by LATER, without sleeping."""
    store._clock_shift_us = int(LATER / timedelta(microseconds=1))


def _floor_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
def test_redis_recovers_from_a_landing_with_a_future_now_once_the_clock_passes_it(lake):
    """vm:h kept the largest `now` - Redis's clock for ever: one landing with a `now` 3 h ahead
    made every later real-time read a lake scan, on every host, for good. The SQLite store
    keeps that landing's `now` - 2 h, which the clock passes; Redis now does the same once
    every key that landing made has expired (it made none: it counted nothing)."""
    real = datetime.now(UTC)
    ahead = real + timedelta(hours=3)
    land_records(lake, received(real - timedelta(minutes=1)), now=ahead)  # stamped > 2 h before
    with closing(open_counters(lake)) as store:
        # right after it, as on SQLite: whole only from `ahead` - 2 h = real + 1 h
        assert store.horizon() >= ahead - STATE_TTL
        assert not vouches_for(store, window_start(real))
        _later(store)
        # 2 h 10 min later: SQLite's horizon, `ahead` - 2 h, fixed (before: 2 h 10 min on)
        assert store.horizon() == ahead - STATE_TTL
        later = real + LATER
        # a real-time read then: its window starts at the minute of real + 2 h 10 min, less 59
        assert window_start(later) == _floor_minute(real) + timedelta(hours=1, minutes=11)
        assert vouches_for(store, window_start(later))  # after real + 1 h: whole
        # the next landing (its minute's first) folds that landing into vm:h and forgets it
        store.record(pa.table({
            "event_id": ["later-1"], "event_type": ["artifact_received"],
            "timestamp": pa.array([later - timedelta(minutes=1)], pa.timestamp("us", tz="UTC")),
            "organization_id": pa.array([None], pa.string())}), later)
        client = store.client
        assert client.hlen("vm:hm") == 1
        assert int(client.get("vm:h")) == (ahead - STATE_TTL - datetime(1970, 1, 1, tzinfo=UTC)
                                           ) // timedelta(microseconds=1)
        assert store.horizon() == ahead - STATE_TTL


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
def test_redis_keeps_counting_from_the_lake_what_a_landing_ahead_counted_and_lost(lake):
    """A host whose clock runs 3 h ahead lands an event stamped by that clock: Redis counts
    it, and its keys expire by Redis's clock (2 h less 1 min later) before real time reaches
    its stamp. Once they have, the store is whole only from the end of that event's minute,
    so a window holding it is counted from the lake (SQLite keeps the event: it is whole from
    `now` - 2 h)."""
    ahead = datetime.now(UTC) + timedelta(hours=3)
    stamped = ahead - timedelta(minutes=1)
    land_records(lake, received(stamped), now=ahead)
    with closing(open_counters(lake)) as store:
        _later(store)
        minute_end = _floor_minute(stamped) + timedelta(minutes=1)
        assert store.horizon() == minute_end
        # the window that ends 59 min after that minute is the first to start at its end
        assert vouches_for(store, window_start(minute_end + timedelta(minutes=59)))
        assert not vouches_for(store, window_start(minute_end + timedelta(minutes=58)))


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
def test_a_redis_back_empty_counts_what_the_lake_holds_at_its_next_landing(lake, redis_url):
    # Redis restarted without its data (no persistence, as a cache often runs; a replica
    # promoted before it had the keys): the next landing made the store look whole again
    # (vm:h), and the window read 1 where the lake holds 11 received events (contract §5:
    # counts consistent with what has landed)
    before = [event("artifact_received", AT - timedelta(minutes=m), event_id=f"before-{m}")
              for m in range(1, 11)]  # 14:29:20.5 ... 14:20:20.5, inside the window
    land_records(lake, before, now=AT)
    assert counts(lake) == zeros(artifacts_received=10)
    _redis(redis_url).flushdb()
    land_records(lake, received(AT - timedelta(seconds=5)), now=AT)
    assert counts(lake) == zeros(artifacts_received=11)  # 10 landed before + 1 after
    land_records(lake, before, now=AT)  # the same events sent again still count once
    assert counts(lake) == zeros(artifacts_received=11)


def test_unknown_counter_store_url_is_a_clear_error(lake, monkeypatch):
    monkeypatch.setenv(COUNTERS_ENV, "postgres://user:secret@db/1")
    with pytest.raises(ValueError, match=r"unknown counter store 'db/1' in VOICE_MONITOR_COUNTERS"
                                         r".*redis://host:port/db") as caught:
        open_counters(lake)
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_unreachable_redis_is_one_line_at_the_cli(lake, monkeypatch, capsys):
    land_records(lake, received(AT - timedelta(minutes=1)), now=AT)
    monkeypatch.setenv(COUNTERS_ENV, f"redis://:hunter2@127.0.0.1:{free_port()}/0")
    code, _, err = run_main(capsys, "metrics", "realtime", "--lake", str(lake.root),
                            "--now", ts(AT))
    assert_one_line_error(code, err, 1)
    assert "cannot reach the counter store (redis 127.0.0.1:" in err
    assert "VOICE_MONITOR_COUNTERS" in err and "hunter2" not in err


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
def test_ingest_whose_redis_stops_says_how_many_events_landed_uncounted(lake, tmp_path,
                                                                       monkeypatch, capsys):
    # Redis stopped under `ingest`: the landing places its files, then its count fails. The
    # command said only "cannot reach the counter store …" (exit 1), so the events in the lake,
    # counted later, looked lost, and a re-run's "duplicate 3" looked wrong
    import duckdb
    from servers import redis_server

    events = tmp_path / "events.jsonl"
    records = received(*(AT - timedelta(minutes=m) for m in (1, 2, 3)), organization_id="org-a")
    events.write_text("".join(json.dumps(r) + "\n" for r in records) + "not json\n")
    at = ("--lake", str(lake.root), "--now", ts(AT))
    (tmp_path / "redis").mkdir()
    with redis_server(tmp_path / "redis") as url:
        monkeypatch.setenv(COUNTERS_ENV, url)
    code, out, err = run_main(capsys, "ingest", str(events), *at)  # redis-server stopped
    assert_one_line_error(code, err, 1)  # failed: the batch's reject, and any rest, not landed
    assert "cannot reach the counter store" in err
    assert (f"landed before this error: part of {str(events)!r} (3 events not yet counted by "
            "the real-time counters: kept, they are counted at the next landing or read once "
            "the counter store works again); not landed: the rest of ") in err
    assert "once the counter store works again, ingest only those again" in err
    glob = str(lake.root / "events" / "**" / "*.parquet")
    with closing(duckdb.connect()) as con:  # the lake's files, read directly
        assert con.execute("select count(distinct event_id) from read_parquet($g)",
                           {"g": glob}).fetchone()[0] == 3
    with redis_server(tmp_path / "redis", port=int(url.rsplit(":", 1)[1].split("/")[0])):
        code, out, err = run_main(capsys, "metrics", "realtime", "--json", *at)
        assert code == 0, err
        assert json.loads(out)["artifacts_received"] == 3
        code, out, err = run_main(capsys, "ingest", str(events), *at)  # as the message says
        assert (code, out) == (0, "accepted 3 (of which duplicate 3), quarantined 1\n"), err
        assert counts(lake) == zeros(artifacts_received=3)


def test_default_store_without_reading_the_settings(tmp_path):
    # no config file, no VOICE_MONITOR_* variable: the built-in default (the embedded store),
    # known without importing the settings (pydantic); a fresh interpreter shows what it imported
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICE_MONITOR_")}
    code = ("import sys; from voice_monitor.counters import open_counters; "
            "from voice_monitor.lake import Lake; lake = Lake.create(Lake('lake')); "
            "store = open_counters(lake); "
            "print(type(store).__name__, 'voice_monitor.settings' in sys.modules); store.close()")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["SQLiteCounterStore", "False"]


def test_the_config_file_still_names_the_store(lake, tmp_path, monkeypatch):
    from voice_monitor import counters, settings

    assert (counters.CONFIG_FILE, counters.ENV_PREFIX) == (settings.CONFIG_FILE, settings.ENV_PREFIX)
    for name in [k for k in os.environ if k.startswith("VOICE_MONITOR_")]:
        monkeypatch.delenv(name)
    (tmp_path / "voice-monitor.toml").write_text('counters = "postgres://db/1"\n')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"unknown counter store 'postgres://db/1'"):
        open_counters(lake)
    (tmp_path / "voice-monitor.toml").rename(tmp_path / "other.toml")
    monkeypatch.setenv("VOICE_MONITOR_CONFIG", str(tmp_path / "other.toml"))
    with pytest.raises(ValueError, match=r"unknown counter store 'postgres://db/1'"):
        open_counters(lake)


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
def test_a_redis_url_naming_no_database_number_or_a_missing_one_is_refused(lake, redis_url):
    """`redis://host:port/abc` was read as database 0 without a word (redis-py drops a path it
    cannot parse), and `/99` failed as 'ResponseError: DB index is out of range'."""
    base = redis_url.rsplit("/", 1)[0]
    with pytest.raises(ValueError, match=r"database 'abc' in the counter store URL is not a number"):
        open_counters(lake, f"{base}/abc")
    missing = r"redis .*/99 has no database 99 .*VOICE_MONITOR_COUNTERS"
    with closing(open_counters(lake, f"{base}/99")) as store, pytest.raises(ValueError, match=missing):
        realtime_metrics(lake, now=AT, store=store)


def test_a_redis_url_with_an_option_redis_py_does_not_know_is_refused_naming_it(lake):
    # '?timout=5' reached redis-py's connection at the first call: "TypeError:
    # AbstractConnection.__init__() got an unexpected keyword argument 'timout'"
    with pytest.raises(ValueError, match=r"^the counter store URL has an option redis-py does "
                                         r"not know \('timout'\); expected redis://host:port/db"):
        open_counters(lake, "redis://127.0.0.1:6379/0?timout=5")
    open_counters(lake, "redis://127.0.0.1:6379/0?socket_timeout=5").close()  # a known one


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
def test_a_redis_refusing_the_password_says_so_not_that_it_cannot_be_reached(lake, redis_url):
    # was "cannot reach the counter store (…): invalid username-password pair …; check that
    # Redis is running", sending the reader to look at a Redis that runs
    admin = redis.Redis.from_url(redis_url)
    admin.acl_setuser("vm-test", enabled=True, passwords=["+right-password"], keys=["*"],
                      commands=["+@all"])
    try:
        user = redis_url.replace("redis://", "redis://vm-test:wrong-password@")
        with closing(open_counters(lake, user)) as store, pytest.raises(
                CounterStoreUnavailable, match=r"refused this client's credentials: invalid "
                r"username-password pair.*redis://:PASSWORD@host:port/db") as caught:
            realtime_metrics(lake, now=AT, store=store)
        assert "wrong-password" not in str(caught.value)
    finally:
        admin.acl_deluser("vm-test")
        admin.close()


def test_a_redis_url_with_a_slash_in_its_password_is_refused_without_showing_it(lake):
    # 'redis://:hunter/2secret@redis.internal:6379/0': every URL parser ends the host at the
    # first '/', so the "database" was '2secret@redis.internal:6379/0', named in the error with
    # the password's tail; the URL needs the '/' percent-encoded
    for url in ("redis://:hunter/2secret@redis.internal:6379/0", "redis://u:p/2secret@h/3"):
        with pytest.raises(ValueError, match=r"'/' before its '@'.*%2F") as caught:
            open_counters(lake, url)
        assert "2secret" not in str(caught.value)


def test_a_stray_file_among_the_uncounted_notes_is_no_note(lake, monkeypatch, caplog):
    # state/uncounted/ holds the notes of landings whose count failed (uncounted.py); a file of
    # another name there (a copy, a backup) was taken for a note that never parsed: every
    # real-time read then counted the lake's files (not O(1), contract §5) and logged an error
    land_records(lake, [event("artifact_received", AT - timedelta(minutes=5), event_id="a")],
                 now=AT)
    stray = lake.state_dir / "uncounted" / "notes.bak.2026.txt"
    stray.parent.mkdir(exist_ok=True)  # (made by the landing: its intent note)
    stray.touch()
    from voice_monitor import lake_window

    def scan(*args, **kwargs):
        raise AssertionError("a real-time read counted the lake's files")

    monkeypatch.setattr(lake_window, "scope_counts", scan)
    with caplog.at_level("ERROR", logger="voice_monitor.counters"):
        got = realtime_metrics(lake, now=AT)
        land_records(lake, [event("artifact_received", AT - timedelta(minutes=4), event_id="b")],
                     now=AT)
    assert got["artifacts_received"] == 1  # "a", from the store
    assert counts(lake)["artifacts_received"] == 2  # "a" and "b"
    assert caplog.records == []
    assert stray.exists()  # not the product's to remove


def test_an_unreadable_notes_folder_stops_no_landing_and_no_read(lake, caplog):
    # state/uncounted/ a symlink to itself (listing it: ELOOP): every landing and every
    # real-time read failed with "[Errno 40] Too many levels of symbolic links"
    folder = lake.state_dir / "uncounted"
    folder.parent.mkdir(exist_ok=True)
    folder.symlink_to(folder)
    with caplog.at_level("ERROR", logger="voice_monitor.counters"):
        land_records(lake, [event("artifact_received", AT - timedelta(minutes=5), event_id="a")],
                     now=AT)
        got = realtime_metrics(lake, now=AT)
    assert got["artifacts_received"] == 1
    assert f"cannot be read at {folder}" in caplog.text
