"""The copy log a landing keeps per event hour (copy_log.py): which rows are later copies, and
the rollup's use of it only where it proves itself (the hour's exact files, compared in order,
in the rollup's own landing order); anything else is de-duplicated the full way."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from conftest import NOW, event

from voice_monitor import copy_log, hour_files
from voice_monitor.compaction import compact_hour
from voice_monitor.lake import Lake
from voice_monitor.landing import land_records
from voice_monitor.retention import run_retention
from voice_monitor.rollup_plan import describe, known_copies
from voice_monitor.rollups import build_hour

H = datetime(2026, 2, 16, 13, tzinfo=UTC)
HOUR = timedelta(hours=1)


def at(minute: int, hour: int = 13) -> datetime:
    return H.replace(hour=hour, minute=minute)


def _log(lake: Lake, hour: datetime = H) -> list[dict]:
    text = copy_log.log_path(lake, hour).read_text()
    return [json.loads(line) for line in text.splitlines()]


def _copies(lake: Lake, hour: datetime = H) -> dict[str, str] | None:
    return known_copies(lake, hour, describe(lake.event_files(hour)))


def _land_with_copies(lake: Lake) -> None:
    """Two landings into hour 13: a copy within the first batch, one of an earlier file."""
    assert land_records(lake, [
        event("artifact_received", at(5), event_id="a"),
        event("artifact_received", at(6), event_id="b"),
        event("artifact_failed", at(7), event_id="a"),  # row 2: a later copy of row 0
        event("artifact_received", at(8, hour=12), event_id="c"),  # another hour, no copy
    ], now=NOW).duplicates == 1
    assert land_records(lake, [
        event("artifact_received", at(9), event_id="d"),
        event("artifact_failed", at(10), event_id="b"),  # row 1: a copy of the first file's
    ], now=NOW + timedelta(seconds=1)).duplicates == 1


def test_each_landing_logs_its_file_and_its_later_copies(lake):
    _land_with_copies(lake)

    first, second = lake.event_files(H)
    lines = _log(lake)
    now_us = int(NOW.timestamp() * 1_000_000)
    # copies_crc: CRC-32 of the row numbers as JSON text, 8 hex digits (zlib.crc32(b'"2"'))
    assert lines == [
        {"file": first.name, "size": first.stat().st_size, "ingested_at": [now_us, now_us],
         "after": [0, copy_log.names_digest([])], "copies": "2",
         "copies_crc": "fc985e09"},
        {"file": second.name, "size": second.stat().st_size,
         "ingested_at": [now_us + 1_000_000] * 2, "after": [1, copy_log.names_digest([first.name])],
         "copies": "1", "copies_crc": "d7b50dca"},
    ]
    [twelve] = _log(lake, H - timedelta(hours=1))
    assert twelve["copies"] == "" and twelve["after"][0] == 0
    assert _copies(lake) == {first.name: "2", second.name: "1"}


@pytest.mark.parametrize("with_log", [True, False], ids=["logged", "full de-dup"])
def test_the_hour_counts_first_landed_copies_with_or_without_the_log(lake, with_log):
    _land_with_copies(lake)
    if not with_log:
        copy_log.log_path(lake, H).unlink()
    assert (_copies(lake) is not None) is with_log

    pipeline, _, _ = build_hour(lake, H)

    platform = pipeline.to_pylist()[0]
    # a, b, d counted once each, as first landed: a, b received; the failed copies lose
    assert (platform["event_count"], platform["artifacts_received"],
            platform["artifacts_failed"]) == (3, 3, 0)


def test_a_replay_with_an_earlier_now_is_a_later_copy_in_the_log_and_the_rollup(lake):
    land_records(lake, [event("artifact_received", at(5), event_id="a")], now=NOW)
    # landed after it, but stamped an hour earlier (a replay with an explicit `now`): still the
    # later copy (contract §3: the first one landed wins), as the counters and the duplicate
    # count have it; the log says so and is used
    assert land_records(lake, [event("artifact_failed", at(6), event_id="a")],
                        now=NOW - timedelta(hours=1)).duplicates == 1
    first, second = lake.event_files(H)
    assert _copies(lake) == {second.name: "0"}

    pipeline, _, _ = build_hour(lake, H)

    platform = pipeline.to_pylist()[0]
    assert (platform["artifacts_received"], platform["artifacts_failed"]) == (1, 0)


def test_a_file_named_before_an_earlier_line_s_file_is_not_trusted(lake, monkeypatch):
    land_records(lake, [event("artifact_received", at(5), event_id="a")], now=NOW)
    [first] = lake.event_files(H)
    # an older version named a file by its clock alone, and its clock was behind: the copy it
    # landed second sorts first, so the log's order is not the rollup's (file names)
    monkeypatch.setattr(hour_files, "new_file_stem", lambda after=-1: "00000000000000000001-old")
    assert land_records(lake, [event("artifact_failed", at(6), event_id="a")],
                        now=NOW).duplicates == 1
    assert lake.event_files(H)[0].name == "00000000000000000001-old.parquet"
    assert _copies(lake) is None

    pipeline, _, _ = build_hour(lake, H)

    platform = pipeline.to_pylist()[0]
    # de-duplicated the full way, by file name: the file that sorts first holds the event
    assert (platform["artifacts_received"], platform["artifacts_failed"]) == (0, 1)


def test_landings_whose_nows_crossed_keep_the_log_when_the_later_one_holds_no_copy(lake):
    # two landers took `now` in one order and the hour's lock in the other: the files sort in
    # the order of the lock (the names), whatever their `now`s
    land_records(lake, [event("artifact_received", at(5), event_id="a")], now=NOW)
    land_records(lake, [event("artifact_received", at(6), event_id="b")],
                 now=NOW - timedelta(seconds=1))
    # then a copy of each, landed after both: later copies in either order
    assert land_records(lake, [event("artifact_failed", at(7), event_id="a"),
                               event("artifact_failed", at(8), event_id="b")],
                        now=NOW + timedelta(seconds=1)).duplicates == 2
    third = lake.event_files(H)[-1]
    assert _copies(lake) == {third.name: "0,1"}

    pipeline, _, _ = build_hour(lake, H)

    platform = pipeline.to_pylist()[0]
    assert (platform["event_count"], platform["artifacts_received"],
            platform["artifacts_failed"]) == (2, 2, 0)


@pytest.mark.parametrize("change", ["unlogged file", "other host", "torn line", "compaction"])
def test_a_log_that_does_not_prove_the_hour_s_files_is_not_used(lake, change):
    _land_with_copies(lake)
    log = copy_log.log_path(lake, H)
    first = lake.event_files(H)[0]
    if change in ("unlogged file", "other host"):
        # a third file holding a later copy of d (landed in the second file)
        land_records(lake, [event("artifact_failed", at(11), event_id="d")], now=NOW + HOUR)
        lines = log.read_text().splitlines(keepends=True)
        last = json.loads(lines[-1])
        assert last["copies"] == "0"
        if change == "unlogged file":  # landed by an older version, or by hand: no line
            kept = lines[:-1]
        else:  # landed on another host, which had not seen the second file: d not found
            last.update(after=[1, copy_log.names_digest([first.name])], copies="")
            kept = [*lines[:-1], json.dumps(last) + "\n"]
        log.write_text("".join(kept))
    elif change == "torn line":
        copy_log.append(log, '{"file": "0179')
    else:
        assert compact_hour(lake, H) == 2

    assert _copies(lake) is None
    pipeline, _, _ = build_hour(lake, H)
    platform = pipeline.to_pylist()[0]
    # a, b, d once each, first landed (received); no failed copy counts
    assert (platform["event_count"], platform["artifacts_received"],
            platform["artifacts_failed"]) == (3, 3, 0)


def test_retention_removes_a_dropped_hour_s_log(lake):
    _land_with_copies(lake)
    twelve = H - HOUR
    # hour 12 ends 48 h before this `now`, hour 13 an hour later: only 12 is dropped
    run_retention(lake, twelve + HOUR + timedelta(hours=48))

    assert not copy_log.log_path(lake, twelve).exists() and not lake.event_files(twelve)
    assert _copies(lake) is not None
