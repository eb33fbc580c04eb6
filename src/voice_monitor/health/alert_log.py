"""The alert log: the append-only store of alert lifecycle records in the lake.

`alerts/date=YYYY-MM-DD/*.parquet`, one immutable file per change, one row per record (raised,
acknowledged, resolved; undelivered and delivered for the webhook, `health/outbox.py`),
partitioned by the record's time; read whole through the `alerts`
view (`sql/views/alerts.sql`). Writers hold `locked` around read-state-then-append. The alert
lifecycle over it is `health/alerts.py`.
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pyarrow as pa

from voice_monitor import storage
from voice_monitor.integrity import UnreadableFileError, guard
from voice_monitor.lake import (
    Lake,
    connect,
    duckdb_path,
    folder_is_a_file,
    new_file_stem,
    parquet_files,
    partition_day,
)
from voice_monitor.schema import ALERT_RECORD_SCHEMA
from voice_monitor.sql import load_sql

log = logging.getLogger(__name__)


@contextmanager
def locked(lake: Lake) -> Iterator[None]:
    """Hold the alert store's exclusive lock (released by the OS if the process dies; on an
    object store a lease object made by a conditional PUT, see `storage.lease`)."""
    if lake.remote:
        with storage.lease(lake.alerts_dir / ".lock"):
            yield
        return
    lake.alerts_dir.mkdir(parents=True, exist_ok=True)
    try:
        handle = open(lake.alerts_dir / ".lock", "a+b")  # noqa: SIM115 - closed by `with` below
    except IsADirectoryError as exc:  # said plainly, with the fix: not a bare "Is a directory"
        raise folder_is_a_file(lake.alerts_dir / ".lock", "file") from exc
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def alert_partitions(lake: Lake) -> list[tuple[datetime, list]]:
    """(day, files) of every alerts/date=… partition, oldest first."""
    base = lake.alerts_dir
    if not base.is_dir():
        return []
    parts = []
    for entry in sorted(base.iterdir()):
        day = partition_day(entry.name)  # date=garbage, date=2026-1-5: out of place, not read
        if day is not None and entry.is_dir():
            parts.append((day, parquet_files(entry)))
    return parts


def read_log(lake: Lake, query: str, skip_unreadable: bool = False) -> list[tuple]:
    """Rows of `query` over the whole alert log (the view `raw_alerts`).

    An unreadable record file is named, with the fix (`UnreadableFileError`, and recorded for
    the lake_file_unreadable check); with `skip_unreadable` the rows of the other files are
    read instead, for the health check run, which must not fall silent over one bad file."""
    files = [f for _, part in alert_partitions(lake) for f in part]
    while files:
        try:
            return _read_log(lake, files, query)
        except UnreadableFileError as exc:
            bad = {Path(path) for path, _ in exc.files}
            left = [f for f in files if Path(f) not in bad]
            if not skip_unreadable or len(left) == len(files):
                raise
            log.error("%s; reading the alert log without it", exc)
            files = left
    return []


def _read_log(lake: Lake, files: list, query: str) -> list[tuple]:
    con = connect()
    try:
        with guard(lake):
            con.read_parquet([duckdb_path(f) for f in files],
                             union_by_name=True).create_view("raw_alerts")
            con.execute(load_sql("views/alerts"))
            return con.execute(query).fetchall()
    finally:
        con.close()


def write_records(lake: Lake, records: list[dict], now: datetime) -> None:
    """Append `records` (see `record`) to the log: one new file in the partition of `now`."""
    if not records:
        return
    stem = new_file_stem()
    for i, row in enumerate(records):
        row["record_id"] = f"{stem}-{i:05d}"
    table = pa.Table.from_pylist(records, schema=ALERT_RECORD_SCHEMA)
    lake.write_file(table, lake.alerts_dir / f"date={now:%Y-%m-%d}")


def record(record_type: str, alert, alert_id: str, raised_at: datetime, now: datetime,
           by: str | None = None, note: str | None = None) -> dict:
    """One lifecycle record of `alert` (an Alert or a checks.Finding: its identity repeated)."""
    return {
        "alert_id": alert_id, "record_type": record_type, "recorded_at": now,
        "alert_type": alert.alert_type, "organization_id": alert.organization_id,
        "severity": alert.severity, "message": alert.message, "value": alert.value,
        "threshold": alert.threshold, "raised_at": raised_at, "acknowledged_by": by, "note": note,
    }
