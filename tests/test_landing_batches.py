"""`land_batches`: several batches landed as one, each with its own counts (the collector's group commit)."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
from conftest import NOW, event

from voice_monitor.landing import land_batches, land_lines


def _lines(*records) -> list[str]:
    return [r if isinstance(r, str) else json.dumps(r) for r in records]


def test_each_batch_gets_its_own_counts_and_quarantine_source(lake):
    e0 = event("artifact_received", NOW, event_id="e0")
    land_lines(lake, _lines(e0), "earlier")
    e1, e2, e3 = (event("transcription_started", NOW, event_id=f"e{i}") for i in (1, 2, 3))
    a = _lines(e1, e2, "not json")
    b = _lines(e2, "{", e3, '{"event_id": "x"}')  # e2 again: a duplicate of batch a's copy
    c: list[str] = []
    d = _lines(e0)  # already in the lake
    results = land_batches(lake, [a, b, c, d], ["src-a", "src-b", "src-c", "src-d"], now=NOW)
    got = [(r.accepted, r.duplicates, r.quarantined) for r in results]
    assert got == [(2, 0, 1), (2, 1, 2), (0, 0, 0), (1, 1, 0)]
    assert results[0].partitions == ["events/date=2026-02-16/hour=14"]
    assert results[2].partitions == []
    files = sorted(lake.quarantine_dir.rglob("*.parquet"))
    sources = sorted(pq.read_table(files).column("source").to_pylist())
    assert sources == ["src-a", "src-b", "src-b"]


def test_a_batch_counts_as_if_landed_alone(lake, tmp_path):
    """The same input in one call or in separate calls gives the same per-batch counts."""
    from voice_monitor.lake import Lake

    batches = [_lines(event("artifact_received", NOW, event_id="k1"), "bad"),
               _lines(event("artifact_received", NOW, event_id="k1"),
                      event("artifact_completed", NOW, event_id="k2"))]
    together = land_batches(lake, batches, ["s", "s"], now=NOW)
    alone_lake = Lake(tmp_path / "alone")
    alone = [land_lines(alone_lake, b, "s", now=NOW) for b in batches]
    assert [r.as_dict() for r in together] == [r.as_dict() for r in alone]


def test_quarantine_categories_on_a_connection_kept_between_landings(lake):
    """The collector lands through one connection: each landing's rejects get their category
    whether their reason is new to the process or was met by an earlier landing."""
    from voice_monitor.lake import connect

    con = connect()
    try:
        first = _lines("not json", {"event_type": "artifact_received"})
        second = _lines({"event_type": "artifact_received"}, "{", "not json either",
                        event("artifact_received", NOW, event_id="ok"))
        for batch in (first, second):
            land_batches(lake, [batch], ["s"], now=NOW, con=con)
    finally:
        con.close()
    rows = pq.read_table(sorted(lake.quarantine_dir.rglob("*.parquet"))).to_pylist()
    got = sorted((r["raw"], r["reason_category"]) for r in rows)
    assert got == sorted([("not json", "invalid_json"), ("not json either", "invalid_json"),
                          ("{", "invalid_json"),
                          ('{"event_type": "artifact_received"}', "missing_field"),
                          ('{"event_type": "artifact_received"}', "missing_field")])


def test_each_hour_file_keeps_input_order_whether_or_not_hours_interleave(lake):
    from datetime import timedelta

    h0, h1 = NOW.replace(minute=5), NOW.replace(minute=5) + timedelta(hours=1)
    interleaved = [event("artifact_received", at, event_id=name)
                   for name, at in [("a", h1), ("b", h0), ("c", h1), ("d", h0), ("e", h0)]]
    grouped = [event("artifact_received", at, event_id=name)
               for name, at in [("f", h0), ("g", h0), ("h", h1), ("i", h1)]]
    for batch in (interleaved, grouped):
        land_batches(lake, [_lines(*batch)], ["s"], now=h1)
    by_hour = {}
    for hour in (h0, h1):
        files = lake.event_files(hour)
        by_hour[hour.hour] = [pq.read_table(f).column("event_id").to_pylist() for f in files]
    assert by_hour == {14: [["b", "d", "e"], ["f", "g"]], 15: [["a", "c"], ["h", "i"]]}


def test_land_lines_lands_through_a_connection_kept_by_the_caller(lake, monkeypatch):
    """A caller that lands often (the demo: one landing per simulated step) passes its own
    connection, as to land_batches; opening a new DuckDB database costs ~20 CPU ms a landing."""
    from voice_monitor import landing
    from voice_monitor.lake import connect

    con = connect()

    def refused():
        raise AssertionError("a new connection was opened")

    monkeypatch.setattr(landing, "connect", refused)
    try:
        for i in range(2):
            result = land_lines(lake, _lines(event("artifact_received", NOW, event_id=f"k{i}"),
                                             "not json"), "s", now=NOW, con=con)
            assert (result.accepted, result.quarantined) == (1, 1)
        assert con.execute("select 1").fetchall() == [(1,)]  # still the caller's to close
    finally:
        con.close()
    stored = pq.read_table(sorted(lake.events_dir.rglob("*.parquet"))).column("event_id")
    assert sorted(stored.to_pylist()) == ["k0", "k1"]
