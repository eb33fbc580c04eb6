"""Validated batches merged into groups (`checked.grouped`): one landing per group, the same
counts and stored events as landing batch by batch, fewer hour files."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from conftest import event
from faultgen import NOW

from voice_monitor import checked as checked_module
from voice_monitor.checked import Checked, distinct, grouped, merge, sort_by_hour
from voice_monitor.counters import realtime_metrics
from voice_monitor.lake import Lake
from voice_monitor.landing import ingest_file, land_records
from voice_monitor.schema import EVENT_SCHEMA

BASE = NOW.replace(minute=0, second=0, microsecond=0) - timedelta(hours=5)


def _table(rows: list[tuple[str, int]]) -> pa.Table:
    """Accepted events as stored: (event_id, minutes after BASE); other columns null."""
    columns = {f.name: pa.nulls(len(rows), f.type) for f in EVENT_SCHEMA}
    columns["event_id"] = pa.array([r[0] for r in rows], pa.string())
    columns["event_type"] = pa.array(["artifact_received"] * len(rows), pa.string())
    columns["timestamp"] = pa.array([BASE + timedelta(minutes=r[1]) for r in rows],
                                    pa.timestamp("us", tz="UTC"))
    return pa.table(columns, schema=EVENT_SCHEMA)


def _checked(rows: list[tuple[str, int]], size: int | None = None, rejected_at=()) -> Checked:
    rejected = pa.table({"line_no": pa.array(list(rejected_at), pa.int64()),
                         "raw": pa.array(["bad"] * len(rejected_at), pa.large_string()),
                         "reason": pa.array(["r"] * len(rejected_at), pa.large_string())})
    return Checked(["f"], [size if size is not None else len(rows) + len(rejected_at)],
                   _table(rows), rejected)


def test_a_merged_group_is_every_event_stably_sorted_by_hour():
    # three batches whose hours interleave (minutes 0-59: hour 0, 60-119: hour 1, ...)
    batches = [[("a", 70), ("b", 5), ("c", 130), ("d", 65)],
               [("e", 10), ("f", 125), ("g", 61)],
               [("h", 0), ("i", 190)]]
    merged = merge([_checked(b) for b in batches])  # each batch sorted, then merged
    by_hour = merged.sorted_by_hour()
    # worked out by hand: hour 0 a..: b, e, h; hour 1: a, d, g; hour 2: c, f; hour 3: i
    assert by_hour.events.column("event_id").to_pylist() == list("behadgcfi")
    hour0 = int(BASE.timestamp()) // 3600
    assert (by_hour.hours - hour0).tolist() == [1, 0, 2, 1, 0, 2, 1, 0, 3]  # input order
    assert by_hour.sorted_hours().tolist() == sorted(by_hour.hours.tolist())
    flags = np.zeros(9, dtype=bool)
    flags[3] = True  # the 4th in hour order is "a", the first input row
    assert by_hour.in_input_order(flags).tolist() == [True] + [False] * 8
    assert merged.sizes == [4, 3, 2]


def test_merged_rejects_keep_their_line_numbers_across_batches():
    parts = [_checked([("a", 0)], rejected_at=[1]), _checked([], rejected_at=[0]),
             _checked([("b", 0)], rejected_at=[0, 2], size=3)]
    merged = merge(parts)
    # batch sizes 2, 1, 3: the third batch starts at line 3
    assert merged.rejected.column("line_no").to_pylist() == [1, 2, 3, 5]
    assert merged.accepted.column("event_id").to_pylist() == ["a", "b"]


def test_grouped_closes_a_group_at_the_batch_or_row_limit():
    parts = [_checked([(f"x{i}-{j}", j) for j in range(10)]) for i in range(7)]
    groups = list(grouped(iter(parts), batches=10, rows=25))
    # 10 + 10 + 10 reaches 25 rows after three batches; so does the second; one batch left
    assert [[c.sizes[0] for c in g] for g in groups] == [[10] * 3, [10] * 3, [10]]
    groups = list(grouped(iter([_checked([(f"y{i}-{j}", j) for j in range(10)]) for i in range(5)]),
                          batches=4, rows=15))
    assert [len(g) for g in groups] == [2, 2, 1]
    groups = list(grouped(iter([_checked([(f"z{i}", 0)]) for i in range(5)]), batches=2, rows=1000))
    assert [len(g) for g in groups] == [2, 2, 1]


def test_sort_by_hour_leaves_events_in_hour_order_alone():
    by_hour = sort_by_hour(_table([("a", 0), ("b", 59), ("c", 60)]))
    assert by_hour.order is None
    assert by_hour.events.column("event_id").to_pylist() == ["a", "b", "c"]


def test_a_file_in_groups_lands_as_batch_by_batch(tmp_path, monkeypatch):
    # 120 events over four hours, out of time order, each id twice: once early in the file and
    # once later (a copy in the same hour: a duplicate), a third copy of some in another hour
    # (not a duplicate: another hour), and bad lines. Landed ten-odd lines a batch (13 batches:
    # four groups of three and one of one), in groups of three batches, and one batch at a
    # time: the same counts, the same stored rows. (4 lines a batch gave 31 batches, 42
    # landings where 18 prove the same: each costs ~0.15 CPU s.)
    minutes = [(i * 37) % 240 for i in range(60)]
    lines = [json.dumps({"eventId": f"e-{i}", "eventType": "artifact_received",
                         "timestamp": (BASE + timedelta(minutes=m)).isoformat()})
             for i, m in enumerate(minutes)]
    copies = list(reversed(lines))
    elsewhere = [json.dumps({"eventId": f"e-{i}", "eventType": "artifact_received",
                             "timestamp": (BASE + timedelta(minutes=(m + 60) % 240)).isoformat()})
                 for i, m in enumerate(minutes) if i % 7 == 0]
    text = "\n".join(lines + ["not json"] + copies + elsewhere + ['{"eventId": "x"}']) + "\n"
    path = tmp_path / "in.jsonl"
    path.write_text(text)
    grouped_lake, single_lake = Lake(tmp_path / "grouped"), Lake(tmp_path / "single")
    monkeypatch.setattr(checked_module, "GROUP_BATCHES", 3)
    in_groups = ingest_file(grouped_lake, path, now=NOW, batch_bytes=1000)
    monkeypatch.setattr(checked_module, "GROUP_BATCHES", 1)
    one_by_one = ingest_file(single_lake, path, now=NOW, batch_bytes=1000)
    # by hand: 60 + 60 copies + 9 elsewhere accepted, 60 duplicates, 2 bad lines
    assert (in_groups.accepted, in_groups.duplicates, in_groups.quarantined) == (129, 60, 2)
    assert in_groups.as_dict() == one_by_one.as_dict()
    stored = [_stored(lake) for lake in (grouped_lake, single_lake)]
    assert stored[0] == stored[1]
    files = [len(list(lake.events_dir.rglob("*.parquet"))) for lake in (grouped_lake, single_lake)]
    assert files[0] < files[1]


def _stored(lake: Lake) -> list:
    """Per hour folder, the event ids in landing order (files by name, rows in file order)."""
    out = []
    for folder in sorted({p.parent for p in lake.events_dir.rglob("*.parquet")}):
        ids = []
        for path in sorted(folder.glob("*.parquet")):
            ids += pq.read_table(path).column("event_id").to_pylist()
        out.append((folder.parent.name, folder.name, ids))
    return out


def test_counters_get_the_first_copy_when_the_landing_sorts_its_hours(lake):
    # one batch whose hours are out of order: the landing sorts it by hour, and the duplicate
    # flags (in input order) must still drop the copy, not another event, before counting
    at = datetime(2026, 2, 16, 14, 20, tzinfo=UTC)
    land_records(lake, [event("artifact_received", at, event_id="a"),
                        event("retry_initiated", at, event_id="a"),  # a copy: not counted
                        event("artifact_received", at - timedelta(minutes=30), event_id="z")],
                 now=datetime(2026, 2, 16, 14, 30, tzinfo=UTC))
    result = realtime_metrics(lake, None, now=datetime(2026, 2, 16, 14, 30, tzinfo=UTC))
    assert result["artifacts_received"] == 2


def test_distinct_hours_are_each_value_once_ascending():
    """One value, a few close ones (counted per value), far apart ones (numpy's unique),
    negative ones: as Python's sorted(set(...)) gives them, as Python ints."""
    rng = np.random.default_rng(7)
    for values in ([], [5], [3, 5, 3, 4], [-2, -7, -2], [0, 4095, 17, 4095], [0, 4096, 9],
                   rng.integers(490_000, 490_003, 2_000).tolist(),
                   rng.integers(-10**12, 10**12, 500).tolist()):
        got = distinct(np.array(values, np.int64))
        assert got == sorted(set(values))
        assert all(type(v) is int for v in got)


def test_sort_by_hour_moves_every_column_with_its_row():
    """Out of hour order: each value moves with its row (a column with a few nulls too); the
    columns that are all null stay all null; the same table as a take in the order worked out
    by hand."""
    table = _table([("a", 70), ("b", 5), ("c", 65), ("d", 3)])
    table = table.set_column(table.schema.get_field_index("organization_id"), "organization_id",
                             pa.array([None, "o-b", "o-c", None], pa.string()))
    by_hour = sort_by_hour(table)
    rows = by_hour.events.to_pylist()
    assert [r["event_id"] for r in rows] == ["b", "d", "a", "c"]
    assert [r["organization_id"] for r in rows] == ["o-b", None, None, "o-c"]
    assert by_hour.events.equals(table.take([1, 3, 0, 2]))
    assert by_hour.events.schema == EVENT_SCHEMA
