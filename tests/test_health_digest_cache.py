"""A damaged cached digest (`state/check_digests/`) is digested again, never failing the checks.

It is a cache the health checks write for closed hours; a truncated one (a full disk, a crash
mid-copy) made four checks fail on every run ("No magic bytes found at end of file"), and
`lake check` does not look under `state/`, so nothing told how to clear it.
"""

from __future__ import annotations

from datetime import timedelta

import pyarrow as pa
import pyarrow.parquet as pq
from conftest import NOW, event

from voice_monitor.health.alerts import run_checks
from voice_monitor.health.digest import digest_dir
from voice_monitor.landing import land_records


def test_a_truncated_digest_is_rebuilt_and_the_checks_run(lake):
    # 60 artifacts received 3 hours ago, none finished: queue_depth (> 50 active) must fire
    received = NOW - timedelta(hours=3)
    land_records(lake, [event("artifact_received", received, artifact_id=f"a-{i}")
                        for i in range(60)], now=NOW)
    first = run_checks(lake, NOW)
    assert first.errors == {}
    (digest,) = digest_dir(lake).glob("*.parquet")  # the one closed hour with events
    data = digest.read_bytes()
    digest.write_bytes(data[: len(data) // 2])

    again = run_checks(lake, NOW + timedelta(minutes=5))
    assert again.errors == {}
    assert sorted(again.checked) == sorted(first.checked) and len(again.checked) == 7
    assert [a.alert_type for a in again.active if a.alert_type == "queue_depth"] == ["queue_depth"]
    (rebuilt,) = digest_dir(lake).glob("*.parquet")
    assert pq.read_table(rebuilt).num_rows == pq.read_table(pa.BufferReader(data)).num_rows


def test_a_folder_where_a_digest_belongs_never_fails_the_checks(lake):
    # a folder named as the digest (a bad restore, a hand mistake) made the cache's write fail,
    # and the four checks reading digests failed on every run naming the folder as an
    # "unreadable lake file", to be moved aside by `lake check`, which does not look in state/
    received = NOW - timedelta(hours=3)
    land_records(lake, [event("artifact_received", received, artifact_id=f"a-{i}")
                        for i in range(60)], now=NOW)
    assert run_checks(lake, NOW).errors == {}
    (digest,) = digest_dir(lake).glob("*.parquet")  # the one closed hour with events
    digest.unlink()
    digest.mkdir()

    for minutes in (5, 10):
        again = run_checks(lake, NOW + timedelta(minutes=minutes))
        assert again.errors == {} and len(again.checked) == 7
        assert [a.alert_type for a in again.active if a.alert_type == "queue_depth"] == ["queue_depth"]
        assert [a.alert_type for a in again.active if a.alert_type == "lake_file_unreadable"] == []
    assert digest.is_dir()  # not ours to delete
    assert [p for p in lake.tmp_dir.rglob("*") if p.is_file()] == []  # no temp file left behind
