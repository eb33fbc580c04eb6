"""A landing's hour files are written to .tmp/ before its hours' locks are taken and renamed in
under them (`hour_files`): a file placed later sorts later whenever it was written, and what a
failed landing wrote never stays behind, in the lake or in .tmp/."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from conftest import event_ids_in, ts

from voice_monitor import dup_index, hour_files
from voice_monitor.checked import sort_by_hour
from voice_monitor.lake import Lake, connect, duckdb_path
from voice_monitor.landing import check, land_lines, land_records

NOW = datetime(2026, 2, 16, 14, 30, tzinfo=UTC)
H13, H14 = datetime(2026, 2, 16, 13, tzinfo=UTC), datetime(2026, 2, 16, 14, tzinfo=UTC)


def rec(event_id: str, at: datetime) -> dict:
    return {"event_id": event_id, "event_type": "artifact_received", "timestamp": ts(at)}


def ids_by_file(lake, hour: datetime) -> list[list[str]]:
    """Each of the hour's files' ids, files in name order (the lake's landing order)."""
    return [event_ids_in([duckdb_path(f)]) for f in lake.event_files(hour)]


def temp_files(lake) -> list:
    return [p for p in lake.tmp_dir.rglob("*") if p.is_file()] if lake.tmp_dir.exists() else []


def test_a_file_written_early_and_placed_late_sorts_after_what_landed_meanwhile(lake):
    con = connect()
    try:
        checked = check(con, [[json.dumps(rec("early", H14 + (NOW - H14) / 2))]], ["test"], NOW)
    finally:
        con.close()
    by_hour = sort_by_hour(checked.accepted)
    staged = hour_files.stage(lake, by_hour.events, by_hour.hours)
    land_records(lake, [rec("meanwhile", H14)], now=NOW)  # lands while the other is staged
    written: dict[int, str] = {}
    staged.place(written)
    assert ids_by_file(lake, H14) == [["meanwhile"], ["early"]]
    assert list(written) == [int(H14.timestamp()) // 3600]
    assert temp_files(lake) == []


def test_a_failed_duplicate_count_leaves_no_file(lake, monkeypatch):
    def broken(*args):
        raise OSError("the hour's folder cannot be listed")

    monkeypatch.setattr(dup_index, "duplicate_flags", broken)
    with pytest.raises(OSError, match="cannot be listed"):
        land_records(lake, [rec("a", H13), rec("b", H14)], now=NOW)
    assert lake.event_files(H13) == [] and lake.event_files(H14) == []
    assert temp_files(lake) == []  # the staged files were removed, not left for clean_tmp


@pytest.mark.parametrize("each_hour_apart", [False, True], ids=["one-writer", "writer-per-hour"])
def test_a_failed_write_leaves_no_file_and_the_next_landing_lands_all(lake, monkeypatch,
                                                                     each_hour_apart):
    if each_hour_apart:  # as a large landing does: each hour written by its own writer
        monkeypatch.setattr(hour_files, "PARALLEL_WRITE_ROWS", 1)
    real = hour_files.write_parquet

    def fail_for_14(table, path, **options):
        if table.column("timestamp")[0].as_py().hour == 14:
            raise OSError("disk full")
        return real(table, path, **options)

    monkeypatch.setattr(hour_files, "write_parquet", fail_for_14)
    with pytest.raises(OSError, match="disk full"):
        land_records(lake, [rec("a", H13), rec("b", H14)], now=NOW)
    # 13:00 was written first (hour order), but nothing is placed when a file of the landing fails
    assert lake.event_files(H13) == [] and lake.event_files(H14) == []
    assert temp_files(lake) == []
    monkeypatch.undo()
    result = land_records(lake, [rec("a", H13), rec("b", H14)], now=NOW)
    assert (result.accepted, result.duplicates) == (2, 0)
    assert ids_by_file(lake, H13) == [["a"]] and ids_by_file(lake, H14) == [["b"]]


def test_the_quarantine_file_is_in_place_when_the_landing_returns_and_its_failure_fails_it(
        lake, monkeypatch):
    lines = [json.dumps(rec("good", H14)), "{broken"]
    result = land_lines(lake, lines, "test", now=NOW)
    assert (result.accepted, result.quarantined) == (1, 1)
    con = connect()
    try:
        stored = con.execute("select raw, source from read_parquet($f)", {"f": [
            duckdb_path(f) for f in lake.root.glob("quarantine/*/*.parquet")]}).fetchall()
    finally:
        con.close()
    assert stored == [("{broken", "test")]
    real = Lake.write_file

    def full_disk(self, table, folder, **options):
        if "quarantine" in str(folder):
            raise OSError("disk full")
        return real(self, table, folder, **options)

    monkeypatch.setattr(Lake, "write_file", full_disk)
    with pytest.raises(OSError, match="disk full"):  # the sender is not answered: it sends again
        land_lines(lake, lines, "test", now=NOW)
