"""A changed digit in a recorded list of later copies (a landing's copy log line, or the hour's
own manifest) is damage the rollup notices (contract §3: the first copy landed wins).

The file names, sizes and digests of those records are checked against the lake, but the row
numbers could not be: a digit changed by damage is another valid row number, and the rollup
dropped a first copy and counted a later one, without a word. Each record now carries a CRC of
its row numbers; a record that does not match is not used, and the hour is de-duplicated the
full way.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow.parquet as pq
from conftest import NOW, event

from voice_monitor import copy_log
from voice_monitor.landing import land_records
from voice_monitor.rollup_plan import manifest_path
from voice_monitor.rollups import run_hourly

H = datetime(2026, 2, 16, 13, tzinfo=UTC)


def at(minute: int) -> datetime:
    return H.replace(minute=minute)


def landed(lake) -> None:
    # one landing, one file: rows 0 a received, 1 b received, 2 a failed (a later copy of row 0)
    assert land_records(lake, [
        event("artifact_received", at(5), event_id="a"),
        event("artifact_received", at(6), event_id="b"),
        event("artifact_failed", at(7), event_id="a"),
    ], now=NOW).duplicates == 1


def platform(lake) -> tuple[int, int, int]:
    (file,) = lake.snapshot_partition("pipeline_hourly", H).glob("*.parquet")
    row = next(r for r in pq.read_table(file).to_pylist() if r["organization_id"] is None)
    return row["event_count"], row["artifacts_received"], row["artifacts_failed"]


def test_a_changed_row_number_in_the_copy_log_is_not_used(lake):
    landed(lake)
    log = copy_log.log_path(lake, H)
    entry = json.loads(log.read_text())
    assert entry["copies"] == "2"
    entry["copies"] = "1"  # one digit: row 1 (b, a first copy) said to be the later copy
    log.write_text(json.dumps(entry) + "\n")
    run_hourly(lake, NOW, hour=H)
    # a and b once each, as first landed: 2 events, 2 received, no failed copy counts
    assert platform(lake) == (2, 2, 0)


def test_a_changed_row_number_in_the_hours_manifest_is_not_used(lake):
    landed(lake)
    run_hourly(lake, NOW, hour=H)
    assert platform(lake) == (2, 2, 0)
    path = manifest_path(lake, "hourly", H)
    manifest = json.loads(path.read_text())
    [(name, rows)] = manifest["later_copies"].items()
    assert rows == "2"
    manifest["later_copies"][name] = "1"
    path.write_text(json.dumps(manifest))
    copy_log.log_path(lake, H).unlink()  # the log would prove the hour by itself
    run_hourly(lake, NOW, hour=H)  # the same files: the manifest's record is what it has
    assert platform(lake) == (2, 2, 0)
