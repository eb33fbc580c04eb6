"""A naive `now` is refused by every library entry point, never read as the machine's local time.

`realtime_metrics`, `land_records`, `run_retention` and `compact_lake` took
`datetime(2026, 2, 16, 14, 30)` as 14:30 in the machine's TZ: under America/New_York the
real-time window ended at 19:30 UTC and retention cut five hours later than asked; `run_hourly`
failed with a TypeError. Contract §2: UTC whatever the TZ.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from conftest import NOW, assert_one_line_error, event, run_main

from voice_monitor import compaction, counters, retention, rollups
from voice_monitor.landing import land_records

NAIVE = datetime(2026, 2, 16, 14, 30)


CALLS = {
    "realtime_metrics": lambda lake: counters.realtime_metrics(lake, now=NAIVE),
    "land_records": lambda lake: land_records(lake, [event("artifact_received", NOW)], now=NAIVE),
    "run_retention": lambda lake: retention.run_retention(lake, NAIVE, dry_run=True),
    "compact_lake": lambda lake: compaction.compact_lake(lake, NAIVE),
    "run_hourly": lambda lake: rollups.run_hourly(lake, NAIVE),
    "run_hourly hour": lambda lake: rollups.run_hourly(lake, NOW, hour=datetime(2026, 2, 16, 13)),
    "backfill": lambda lake: rollups.backfill(lake, datetime(2026, 2, 16, 12),
                                              datetime(2026, 2, 16, 14), NOW, progress=False),
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_a_naive_time_is_refused_naming_it(new_york, lake, call):
    with pytest.raises(ValueError, match=r"'2026-02-16T1[2-4]:[03]0:00' has no timezone"):
        call(lake)


def test_an_aware_now_counts_the_same_under_any_tz(new_york, lake):
    land_records(lake, [event("artifact_received", datetime(2026, 2, 16, 14, 10, tzinfo=UTC)),
                        event("artifact_received", datetime(2026, 2, 16, 13, 20, tzinfo=UTC))],
                 now=NOW)
    counts = counters.realtime_metrics(lake, now=NOW)
    # window 13:31..14:30 UTC: the 14:10 event only
    assert counts["artifacts_received"] == 1
    assert counts["window_start"] == datetime(2026, 2, 16, 13, 31, tzinfo=UTC)


def test_realtime_refuses_an_empty_organization_as_every_other_read_does(capsys, lake):
    with pytest.raises(ValueError, match="organization_id '' is not a valid id"):
        counters.realtime_metrics(lake, organization_id="", now=NOW)
    code, _, err = run_main(capsys, "metrics", "realtime", "--org", "", "--lake", str(lake.root))
    assert_one_line_error(code, err, status=2)  # a usage error, in the library's words
    assert "organization_id '' is not a valid id" in err
