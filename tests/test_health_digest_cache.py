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
