"""Landing: raw records in, validated events into hour partitions, rejects into quarantine.

Nothing is lost: every input record ends up in exactly one of the two. Events are written
before the real-time counters are told about them, so the counters never count an event the
lake does not hold.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from voice_monitor.counters import CounterStore, open_counters
from voice_monitor.lake import Lake, connect
from voice_monitor.schema import EVENT_SCHEMA, QUARANTINE_SCHEMA
from voice_monitor.validation import validate


class InputFileError(Exception):
    """An input file cannot be read at all (missing, unreadable, not a supported format)."""


@dataclass
class LandingResult:
    """What one landing did: counts, and the partitions it wrote to."""

    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    partitions: list[str] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)

    def add(self, other: LandingResult) -> None:
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.quarantined += other.quarantined
        self.partitions = sorted(set(self.partitions) | set(other.partitions))
        for reason, n in other.reasons.items():
            self.reasons[reason] = self.reasons.get(reason, 0) + n

    def as_dict(self) -> dict:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "partitions": self.partitions,
        }


def land_lines(
    lake: Lake,
    lines: list[str],
    source: str,
    now: datetime | None = None,
    counters: CounterStore | None = None,
) -> LandingResult:
    """Validate raw JSON texts and land them: events by hour, rejects to quarantine."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    received_at = now  # also ingested_at: an explicit `now` replays landing as of that moment
    result = LandingResult()
    if not lines:
        return result
    con = connect()
    try:
        accepted, rejected = validate(con, lines, now, received_at)
        if rejected.num_rows:
            _quarantine(lake, rejected, source, received_at)
            result.quarantined = rejected.num_rows
            for reason in rejected.column("reason").to_pylist():
                rule = reason.split(";")[0]
                result.reasons[rule] = result.reasons.get(rule, 0) + 1
        if accepted.num_rows:
            events = accepted.cast(EVENT_SCHEMA)
            result.duplicates = _count_duplicates(con, lake, events)
            result.partitions = _write_hours(lake, events)
            result.accepted = events.num_rows
            store = counters or open_counters(lake)
            try:
                store.record(events, now)
            finally:
                if counters is None:
                    store.close()
    finally:
        con.close()
    return result


def land_records(
    lake: Lake,
    records: Iterable[Mapping],
    source: str = "python",
    now: datetime | None = None,
    counters: CounterStore | None = None,
) -> LandingResult:
    """Land Python mappings (snake_case or camelCase) as events."""
    lines = [orjson.dumps(r, option=orjson.OPT_NON_STR_KEYS, default=str).decode() for r in records]
    return land_lines(lake, lines, source, now, counters)


def ingest_file(
    lake: Lake, path: str | os.PathLike[str], now: datetime | None = None,
    counters: CounterStore | None = None,
) -> LandingResult:
    """Land one file: JSON Lines, a JSON array, or Parquet."""
    return land_lines(lake, read_records(Path(path)), str(path), now, counters)


def read_records(path: Path) -> list[str]:
    """The raw records of an input file, one JSON text each (blank lines are not records)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputFileError(f"cannot read {str(path)!r}: {exc.strerror}; check the path") from exc
    if data[:4] == b"PAR1":
        return _parquet_records(path)
    if data.lstrip()[:1] == b"[":
        try:
            items = orjson.loads(data)
        except orjson.JSONDecodeError:
            # a broken array is kept whole, raw, so that nothing is lost
            return [data.decode("utf-8", errors="replace")]
        return [orjson.dumps(item).decode() for item in items]
    text = data.decode("utf-8", errors="replace")
    return [line for line in text.split("\n") if line.strip()]


def _parquet_records(path: Path) -> list[str]:
    con = connect()
    try:
        rows = con.execute(
            "select to_json(t)::VARCHAR from read_parquet($path) t", {"path": str(path)}
        ).fetchall()
    except Exception as exc:
        raise InputFileError(f"cannot read Parquet file {str(path)!r}: {exc}") from exc
    finally:
        con.close()
    return [r[0] for r in rows]


def _write_hours(lake: Lake, events: pa.Table) -> list[str]:
    hours = pc.floor_temporal(events.column("timestamp"), unit="hour")
    written = []
    for hour in pc.unique(hours).to_pylist():
        part = events.filter(pc.equal(hours, pa.scalar(hour, hours.type)))
        folder = lake.event_partition(hour)
        lake.write_file(part, folder)
        written.append(str(folder.relative_to(lake.root)))
    return sorted(written)


def _count_duplicates(con, lake: Lake, events: pa.Table) -> int:
    """Accepted events whose (event_id, hour) already landed, in the lake or earlier in the batch."""
    hours = pc.unique(pc.floor_temporal(events.column("timestamp"), unit="hour")).to_pylist()
    existing = [str(f) for h in hours for f in lake.event_files(h)]
    con.register("batch", events.select(["event_id", "timestamp"]))
    try:
        sql = """
            with b as (select event_id, date_trunc('hour', "timestamp") as hour from batch),
            prior as ({prior})
            select (select count(*) from b) - (
                select count(*) from (select distinct event_id, hour from b) d
                where not exists (select 1 from prior p where p.event_id = d.event_id and p.hour = d.hour)
            )
        """
        if existing:
            prior = ("select distinct event_id, date_trunc('hour', \"timestamp\") as hour "
                     "from read_parquet($files)")
            return con.execute(sql.format(prior=prior), {"files": existing}).fetchall()[0][0]
        prior = "select null::VARCHAR as event_id, null::TIMESTAMPTZ as hour where false"
        return con.execute(sql.format(prior=prior)).fetchall()[0][0]
    finally:
        con.unregister("batch")


def _quarantine(lake: Lake, rejected: pa.Table, source: str, received_at: datetime) -> None:
    n = rejected.num_rows
    table = pa.table(
        {
            "raw": rejected.column("raw"),
            "reason": rejected.column("reason"),
            "source": pa.array([source] * n, pa.string()),
            "received_at": pa.array([received_at] * n, pa.timestamp("us", tz="UTC")),
        },
        schema=QUARANTINE_SCHEMA,
    )
    lake.write_file(table, lake.quarantine_partition(received_at))
