"""The duplicate index (dup_index.py): a landing's duplicate count stays exact — first landed
wins, per (event_id, hour) — when the index is new, stale, missed a file, meets compaction,
retention, hash collisions, an object store, and landings in other processes. Every expected
count comes from a plain Python replay of the landings, never from the code under test."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from conftest import event_ids_in, ts

from voice_monitor import dup_index, hour_files, storage
from voice_monitor.compaction import compact_hour
from voice_monitor.counters import realtime_metrics
from voice_monitor.lake import Lake, duckdb_path
from voice_monitor.landing import land_records

NOW = datetime(2026, 2, 16, 14, 30, tzinfo=UTC)
H13, H14 = datetime(2026, 2, 16, 13, tzinfo=UTC), datetime(2026, 2, 16, 14, tzinfo=UTC)


def rec(event_id: str, at: datetime, event_type: str = "artifact_received") -> dict:
    return {"event_id": event_id, "event_type": event_type, "timestamp": ts(at)}


class Replay:
    """The oracle: which (event_id, hour) pairs the lake holds, replayed landing by landing."""

    def __init__(self) -> None:
        self.held: set[tuple[str, datetime]] = set()

    def land(self, records: list[dict]) -> int:
        copies = 0
        for r in records:
            at = datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00"))
            key = (r["event_id"], at.replace(minute=0, second=0, microsecond=0))
            copies += key in self.held
            self.held.add(key)
        return copies


def lake_ids(lake: Lake, hour: datetime) -> list[str]:
    """The hour's stored ids, read with DuckDB (independent of the index)."""
    return event_ids_in([duckdb_path(f) for f in lake.event_files(hour)])


def test_random_landings_count_exactly_the_copies_a_replay_finds(lake):
    rng = random.Random(7)
    replay = Replay()
    for _ in range(30):
        batch = [rec(f"e{rng.randrange(60)}", rng.choice([H13, H14]) + timedelta(minutes=rng.randrange(30)))
                 for _ in range(rng.randrange(1, 25))]
        assert land_records(lake, batch, now=NOW).duplicates == replay.land(batch)
    # the counters count each (id, hour) once; the window (13:31 to 14:30) holds the 14:00 to
    # 14:29 events, and none of 13:00 to 13:29
    in_window = {key for key in replay.held if key[1] == H14}
    assert realtime_metrics(lake, now=NOW)["artifacts_received"] == len(in_window)


def test_a_file_that_vanished_makes_the_hour_rebuilt_from_what_is_left(lake):
    land_records(lake, [rec("a", H14), rec("b", H14)], now=NOW)
    land_records(lake, [rec("c", H14)], now=NOW)  # the index now covers both files
    first = lake.event_files(H14)[0]
    first.rename(lake.root / "aside.parquet")  # as `lake check --move-aside` would
    # a and b are no longer in the lake: they land as new events; c is a copy
    assert land_records(lake, [rec("a", H14), rec("b", H14), rec("c", H14)], now=NOW).duplicates == 1


def test_a_file_landed_outside_this_process_index_is_found(lake, monkeypatch):
    # as if the process crashed between writing the file and adding it to its index
    monkeypatch.setattr(dup_index, "landed", lambda *args: None)
    land_records(lake, [rec("a", H14), rec("b", H14)], now=NOW)
    monkeypatch.undo()
    assert land_records(lake, [rec("a", H14), rec("x", H14)], now=NOW).duplicates == 1
    assert land_records(lake, [rec("b", H14), rec("x", H14)], now=NOW).duplicates == 2


@pytest.mark.parametrize("files", [3, dup_index.DIRECT_READS + 4])
def test_every_file_landed_outside_this_process_index_is_found(lake, monkeypatch, files):
    # a few files (read one by one) or many (one query over them), each with its own ids
    monkeypatch.setattr(dup_index, "landed", lambda *args: None)
    for i in range(files):
        land_records(lake, [rec(f"e{i}a", H14), rec(f"e{i}b", H14)], now=NOW)
    monkeypatch.undo()
    again = [rec(f"e{i}b", H14) for i in range(files)] + [rec("new", H14)]
    assert land_records(lake, again, now=NOW).duplicates == files


@pytest.mark.parametrize("damage", ["truncated", "no event_id column"])
def test_a_damaged_file_outside_this_process_index_is_named(lake, monkeypatch, damage):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from voice_monitor.integrity import UnreadableFileError

    monkeypatch.setattr(dup_index, "landed", lambda *args: None)
    land_records(lake, [rec("a", H14)], now=NOW)
    monkeypatch.undo()
    (path,) = lake.event_files(H14)
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:-40])
    else:
        pq.write_table(pa.table({"x": [1]}), path)
    with pytest.raises(UnreadableFileError) as raised:
        land_records(lake, [rec("b", H14)], now=NOW)
    assert path.name in str(raised.value)


def test_a_failed_hour_write_leaves_no_claim_in_the_index(lake, monkeypatch):
    real = hour_files.write_parquet  # the hour files are written to .tmp/, then renamed in

    def fail_for_13(table, path, **options):
        if table.column("timestamp")[0].as_py().hour == 13:
            raise OSError("disk full")
        return real(table, path, **options)

    monkeypatch.setattr(hour_files, "write_parquet", fail_for_13)
    with pytest.raises(OSError):
        land_records(lake, [rec("a", H13), rec("b", H14)], now=NOW)
    monkeypatch.undo()
    assert lake_ids(lake, H13) == []
    # a never reached the lake: it is new; b is a copy if its hour was written before the failure
    assert land_records(lake, [rec("a", H13), rec("b", H14)], now=NOW).duplicates == len(
        lake_ids(lake, H14)) - 1
    assert land_records(lake, [rec("a", H13), rec("b", H14)], now=NOW).duplicates == 2


def test_compaction_keeps_the_count_exact(lake):
    land_records(lake, [rec("a", H13), rec("b", H13)], now=NOW)
    land_records(lake, [rec("c", H13), rec("a", H13)], now=NOW)
    assert compact_hour(lake, H13) == 2 and len(lake.event_files(H13)) == 1
    assert land_records(lake, [rec("a", H13), rec("b", H13), rec("c", H13), rec("d", H13)],
                        now=NOW).duplicates == 3


def test_a_dropped_hour_holds_nothing(lake):
    land_records(lake, [rec("a", H13)], now=NOW)
    lake.drop_partition(lake.event_partition(H13))  # what retention does
    assert land_records(lake, [rec("a", H13)], now=NOW).duplicates == 0


def test_an_hour_dropped_from_memory_is_read_again(lake, monkeypatch):
    monkeypatch.setattr(dup_index, "MAX_IDS", 2)
    land_records(lake, [rec("a", H13), rec("b", H13)], now=NOW)
    land_records(lake, [rec("c", H14), rec("d", H14)], now=NOW)  # pushes 13:00 out
    assert land_records(lake, [rec("a", H13), rec("c", H14), rec("e", H13)], now=NOW).duplicates == 2


def test_hash_collisions_are_confirmed_against_the_ids(lake, monkeypatch):
    # every id hashes alike: each hit must be settled by the actual ids
    monkeypatch.setattr(dup_index, "hash_ids", lambda ids: np.zeros(len(ids), dtype=np.int64))
    assert land_records(lake, [rec("a", H14), rec("b", H14), rec("a", H14)], now=NOW).duplicates == 1
    assert land_records(lake, [rec("c", H14), rec("b", H14), rec("d", H14), rec("c", H14)],
                        now=NOW).duplicates == 2
    assert land_records(lake, [rec("a", H13)], now=NOW).duplicates == 0  # another hour


def test_same_id_in_another_hour_is_another_event(lake):
    land_records(lake, [rec("a", H13)], now=NOW)
    assert land_records(lake, [rec("a", H14), rec("a", H13 + timedelta(minutes=59))],
                        now=NOW).duplicates == 1


def test_on_an_object_store(tmp_path):
    lake = Lake.create(f"memory://dupindex-{os.getpid()}-{tmp_path.name}")
    land_records(lake, [rec("a", H14), rec("b", H14)], now=NOW)
    assert land_records(lake, [rec("b", H14), rec("c", H14)], now=NOW).duplicates == 1
    storage.remove_tree(lake.event_files(H14)[0])  # a file gone from the store
    assert land_records(lake, [rec("a", H14), rec("b", H14)], now=NOW).duplicates == 1


def test_read_index_covers_the_hour(lake):
    land_records(lake, [rec("a", H14), rec("b", H14), rec("a", H14)], now=NOW)
    index = dup_index.read_index(lake, H14)
    assert index.files == {f.name for f in lake.event_files(H14)}
    assert len(index) == 2
    hit = index.maybe_contains(dup_index.hash_ids(["a", "b", "zz"]))
    assert hit.tolist() == [True, True, False]


def test_index_levels_stay_sorted_and_complete():
    index = dup_index.HourIndex()
    rng = np.random.default_rng(3)
    added = []
    for _ in range(200):
        batch = rng.integers(-2**63, 2**63 - 1, size=rng.integers(1, 50), dtype=np.int64)
        index.add(batch)
        added.append(batch)
    everything = np.unique(np.concatenate(added))
    assert np.array_equal(index.hashes(), everything)
    assert index.maybe_contains(everything).all()
    assert len(index._levels) <= 2 * int(np.log2(len(everything))) + 2
    assert not index.maybe_contains(np.setdiff1d(rng.integers(0, 10**6, 1000), everything)).any()


LANDER = textwrap.dedent("""
    import sys, time
    from datetime import datetime, UTC
    from pathlib import Path
    from voice_monitor.lake import Lake
    from voice_monitor.landing import land_records
    lake, flag, seed = Lake(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    now = datetime(2026, 2, 16, 14, 30, tzinfo=UTC)
    while not flag.exists():
        time.sleep(0.005)
    total = 0
    for batch in range(15):
        ids = [f"e{(seed * 7 + batch * 3 + i) % 40}" for i in range(10)]
        records = [{"event_id": i, "event_type": "artifact_received",
                    "timestamp": "2026-02-16T14:05:00Z"} for i in ids]
        total += land_records(lake, records, now=now).duplicates
    print(total)
""")


@pytest.mark.slow
def test_landings_in_several_processes_count_each_copy_once(lake, tmp_path):
    flag = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", LANDER, str(lake.root), str(flag), str(seed)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for seed in range(4)]
    flag.touch()
    reported = 0
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        reported += int(out)
    stored = lake_ids(lake, H14)
    # 4 processes x 15 batches x 10 events, all in one hour: every stored row but the first of
    # each id was reported a duplicate by exactly one landing
    assert len(stored) == 600
    assert reported == len(stored) - len(set(stored))
    # this process (a fresh index) sees every one of them as landed
    again = [rec(i, H14 + timedelta(minutes=5)) for i in sorted(set(stored))]
    assert land_records(lake, again, now=NOW).duplicates == len(again)


def test_the_sieve_never_rules_out_a_held_hash_and_rules_out_most_others():
    # both indexes (the lake's ids per hour, the counters' per hour) search only the hashes
    # their sieve lets through: one it wrongly ruled out would be a copy counted as new
    from voice_monitor.seen_index import HourKeys, Sieve

    rng = np.random.default_rng(7)
    index, keys, held = dup_index.HourIndex(), HourKeys(), []
    for size in [1, 5_000, 2, 40_000, 100_000]:  # the sieve grows (and is made again) thrice
        batch = rng.integers(-2**63, 2**63 - 1, size, dtype=np.int64, endpoint=True)
        index.add(batch)
        keys.add(batch, np.full(size, 3, np.int64))
        held.append(batch)
        every = np.concatenate(held)
        assert index.maybe_contains(every).all()
        hit, blocks = keys.candidates(every)
        assert hit.all() and blocks == {3}
    absent = np.setdiff1d(rng.integers(-2**63, 2**63 - 1, 100_000, dtype=np.int64), every)
    assert not index.maybe_contains(absent).any() and not keys.candidates(absent)[0].any()
    sieve = Sieve()
    sieve.add(every, lambda: [every])  # ~16 bits per hash: about 1 in 16 let through by chance
    assert sieve.maybe(every).all() and 0 < sieve.maybe(absent).mean() < 1 / 8
    for extreme in (-2**63, -1, 0, 2**63 - 1):  # the top bits of the sign, and of both ends
        one = Sieve()
        one.add(np.array([extreme], np.int64), lambda e=extreme: [np.array([e], np.int64)])
        assert one.maybe(np.array([extreme], np.int64)).all()


def test_an_empty_add_leaves_every_search_working():
    # files with no rows (an hour's new files read in, none holding an id) left an empty level
    # behind the others, and the next search of a hash the sieve kept ended past that level's
    # end: IndexError, every landing of the hour failing
    from voice_monitor.seen_index import HourKeys

    index, keys = dup_index.HourIndex(), HourKeys()
    index.add(np.array([5, 6], np.int64))
    keys.add(np.array([5, 6], np.int64), np.array([1, 2], np.int64))
    index.add(np.zeros(0, np.int64))
    keys.add(np.zeros(0, np.int64), np.zeros(0, np.int64))
    assert index.maybe_contains(np.array([5, 7], np.int64)).tolist() == [True, False]
    hit, blocks = keys.candidates(np.array([6, 7], np.int64))
    assert hit.tolist() == [True, False] and blocks == {2}
