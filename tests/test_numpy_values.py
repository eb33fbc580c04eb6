"""NumPy scalars from a Python producer follow the same rules as the numbers a file holds
(contract §3: "the Python producer applies exactly the same rules as a file").

`claim_count=np.int64(3)` (what `mask.sum()` or a pandas row gives) was quarantined as
"metadata.claim_count is a int64, not JSON", though a file's 3 lands; and a float32 NaN was
written as null, i.e. stored altered instead of rejected as NaN.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow.parquet as pq

from voice_monitor.landing import land_records

NOW = datetime(2026, 2, 16, 14, 30, tzinfo=UTC)
TS = 1771247400000  # 2026-02-16T13:10:00Z


def _record(event_id: str, **fields) -> dict:
    return {"event_id": event_id, "event_type": "claims_extracted", "timestamp": TS, **fields}


def _stored(lake) -> dict:
    files = sorted((lake.root / "events").rglob("*.parquet"))
    return {r["event_id"]: r for f in files for r in pq.read_table(f).to_pylist()}


def test_numpy_numbers_land_as_the_numbers_they_are(lake):
    result = land_records(lake, [
        _record("i64", metadata={"claim_count": np.int64(3), "confidence_score": np.float32(0.5)}),
        _record("u8", metadata={"claim_count": np.uint8(7), "ai_cost_usd": np.float64(0.25)}),
        _record("ts", timestamp=np.int64(TS), duration_ms=np.int32(1500)),
    ], now=NOW)
    assert (result.accepted, result.quarantined) == (3, 0), result.reasons
    stored = _stored(lake)
    assert (stored["i64"]["claim_count"], stored["i64"]["confidence_score"]) == (3, 0.5)
    assert (stored["u8"]["claim_count"], stored["u8"]["ai_cost_usd"]) == (7, 0.25)
    assert stored["ts"]["timestamp"] == datetime(2026, 2, 16, 13, 10, tzinfo=UTC)
    assert stored["ts"]["duration_ms"] == 1500.0


def test_numpy_values_a_file_could_not_hold_are_rejected_as_in_a_file(lake):
    result = land_records(lake, [
        _record("nan32", duration_ms=np.float32("nan")),
        _record("inf", metadata={"ai_cost_usd": np.float64("inf")}),
        _record("bool", metadata={"claim_count": np.bool_(True)}),
        _record("huge", metadata={"claim_count": np.uint64(2**64 - 1)}),
    ], now=NOW)
    assert (result.accepted, result.quarantined) == (0, 4)
    reasons = sorted(result.reasons)
    assert reasons == sorted([
        "duration_ms NaN must be a finite number >= 0",  # as a file's NaN: the field's rule
        "metadata.ai_cost_usd Infinity must be a finite number >= 0",
        "metadata.claim_count true must be a whole number >= 0",
        "metadata.claim_count 18446744073709551615 is over 2,147,483,647, more than one event "
        "may carry",
    ]), reasons
