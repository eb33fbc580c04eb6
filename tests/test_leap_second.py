"""A leap second (second 60, which ISO-8601 and RFC 3339 allow) is a valid time (contract §3:
ISO-8601 with 'Z' or an offset): it lands as the last microsecond of the minute before it, in
that minute's hour and day, since a UTC timestamp cannot hold second 60. It was quarantined as
'is not epoch milliseconds or an ISO-8601 date-time'."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
from conftest import run_main

from voice_monitor.landing import land_records

NOW = datetime(2026, 2, 16, 14, 30, tzinfo=UTC)
LAST = datetime(2016, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


def _stored(lake) -> dict:
    files = sorted((lake.root / "events").rglob("*.parquet"))
    return {r["event_id"]: (r, f.parent.relative_to(lake.root).as_posix())
            for f in files for r in pq.read_table(f).to_pylist()}


def test_a_leap_second_lands_in_its_own_minute(capsys, lake, tmp_path):
    lines = [
        {"event_id": "leap", "event_type": "artifact_received", "timestamp": "2016-12-31T23:59:60Z"},
        {"event_id": "leap-frac", "event_type": "artifact_received",
         "timestamp": "2016-12-31T23:59:60.250Z"},
        {"event_id": "leap-offset", "event_type": "artifact_received",
         "timestamp": "2017-01-01T05:29:60+05:30"},
        {"event_id": "stage", "event_type": "transcription_completed",
         "timestamp": "2026-02-16T13:00:00Z", "stage_started_at": "2026-02-16T12:59:60Z"},
        {"event_id": "plain", "event_type": "artifact_received", "timestamp": "2026-02-16T13:00:00Z"},
        {"event_id": "minute-60", "event_type": "artifact_received",
         "timestamp": "2026-02-16T13:60:00Z"},  # not a leap second: still refused
    ]
    path = tmp_path / "leap.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    code, out, err = run_main(capsys, "ingest", str(path), "--lake", str(lake.root),
                              "--now", "2026-02-16T14:30:00Z", "--json")
    assert code == 0, err
    assert (json.loads(out)["accepted"], json.loads(out)["quarantined"]) == (5, 1)
    stored = _stored(lake)
    for event_id in ("leap", "leap-frac", "leap-offset"):
        row, folder = stored[event_id]
        assert row["timestamp"] == LAST, event_id
        assert folder == "events/date=2016-12-31/hour=23", event_id
    assert stored["stage"][0]["stage_started_at"] == datetime(2026, 2, 16, 12, 59, 59, 999999,
                                                               tzinfo=UTC)
    assert "minute-60" not in stored


def test_a_leap_second_from_python_and_parquet_lands_the_same(lake, tmp_path):
    result = land_records(lake, [{"event_id": "py", "event_type": "artifact_received",
                                  "timestamp": "2016-12-31T23:59:60Z"}], now=NOW)
    assert (result.accepted, result.quarantined) == (1, 0), result.reasons
    path = tmp_path / "leap.parquet"
    pq.write_table(pa.table({"event_id": ["pq"], "event_type": ["artifact_received"],
                             "timestamp": ["2016-12-31T23:59:60Z"]}), path)
    from voice_monitor.landing import ingest_file

    result = ingest_file(lake, path, now=NOW)
    assert (result.accepted, result.quarantined) == (1, 0), result.reasons
    stored = _stored(lake)
    assert stored["py"][0]["timestamp"] == LAST and stored["pq"][0]["timestamp"] == LAST
