"""`voice-monitor ingest` runs without importing pandas (pyarrow would, ~0.3 s of start-up),
and lands exactly what it lands with pandas."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq

_RUN = """
import json, sys
from voice_monitor.cli import main
sys.argv = ["voice-monitor", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    assert not exc.code, exc.code
import gc
print(json.dumps({"pandas": "pandas" in sys.modules, "frozen": gc.get_freeze_count()}))
"""


def _ingest(*args: str) -> tuple[dict, dict]:
    done = subprocess.run([sys.executable, "-c", _RUN, "ingest", *args, "--json"],
                          capture_output=True, text=True, timeout=120, check=True)
    *counts, last = done.stdout.strip().splitlines()
    return json.loads("\n".join(counts)), json.loads(last)


def test_ingest_lands_json_and_parquet_without_pandas(tmp_path):
    lines = [json.dumps({"eventId": f"e-{i}", "eventType": "artifact_received",
                         "timestamp": f"2026-02-16T1{i % 3}:00:00Z"}) for i in range(30)]
    lines += ["not json", lines[4]]
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n")
    pq.write_table(pa.table({"eventId": ["p-1", "p-2"], "eventType": ["artifact_received"] * 2,
                             "timestamp": pa.array([1771236000000, 1771239600000], pa.int64())}),
                   tmp_path / "in.parquet")
    counts, process = _ingest(str(tmp_path / "in.jsonl"), str(tmp_path / "in.parquet"),
                              "--lake", str(tmp_path / "lake"), "--now", "2026-02-16T14:30:00Z")
    assert not process["pandas"]
    assert process["frozen"] > 10_000  # the loaded modules' objects: no full collection walks them
    # by hand: 30 + 1 copy + 2 accepted (the copy a duplicate), one bad line
    assert (counts["accepted"], counts["duplicates"], counts["quarantined"]) == (33, 1, 1)
    assert counts["partitions"] == [f"events/date=2026-02-16/hour={h}" for h in (10, 11, 12)]
