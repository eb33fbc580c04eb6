"""The DuckDB session of a rollup run and its staging views (sql/staging/, sql/rollups/).

One connection serves a whole run: the sketch macros and the event-type table are set up once.
An hour's events are exposed as views over its files (nothing wide is materialised); an hour
without events gets the hourly SQL's zero rows, computed once per session.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from voice_monitor import sketch
from voice_monitor.integrity import check_event_files
from voice_monitor.lake import connect, duckdb_path
from voice_monitor.schema import EVENT_SCHEMA, EVENT_TYPES, PROCESSING_STAGES, duckdb_type
from voice_monitor.sql import load_sql

HOUR = timedelta(hours=1)


@contextmanager
def session() -> Iterator[duckdb.DuckDBPyConnection]:
    """One connection for a whole run: macros and lookup tables are set up once."""
    con = connect()
    try:
        prepare(con)
        yield con
    finally:
        con.close()


def prepare(con: duckdb.DuckDBPyConnection) -> None:
    """Install the sketch-key, exact-sum and rate macros, the event-type table and the typed
    empty events. The macros that read sketches are the daily build's (`sketch.install`)."""
    sketch.install_key(con)
    con.execute(load_sql("staging/exact_sum"))  # order-independent exact sums of doubles
    con.execute(load_sql("macros/ratio_or_zero"))  # a rate is 0 when its denominator is 0
    # the event-type table, derived from schema.EVENT_TYPES (built in SQL: no Arrow/pandas import)
    rows = []
    for event_type, (stage, kind) in EVENT_TYPES.items():
        processing = stage in PROCESSING_STAGES
        latency = ("stage" if processing and kind == "success"
                   else "e2e" if event_type == "artifact_completed" else None)
        # a latency distribution as a small integer, 0 end-to-end and 1-4 the processing stages:
        # `latency_code` of a latency event, `anchor` of an event that one pairs with (a stage's
        # `*_started`, `artifact_received`). Grouping and joining on it is much cheaper than on
        # text (hour_latency_stats.sql, paired_latency.sql)
        code = 0 if event_type in ("artifact_completed", "artifact_received") else (
            PROCESSING_STAGES.index(stage) + 1 if processing else None)
        anchor = processing and kind == "started" or event_type == "artifact_received"
        rows.append((event_type, stage, kind, latency,
                     code if latency else None, code if anchor else None))
    names = ("event_type", "stage", "kind", "latency_kind", "latency_code", "anchor")
    con.execute(
        "create or replace temp table event_types as select "
        + ", ".join(f"unnest(${n})::{'VARCHAR' if i < 4 else 'INTEGER'} as {n}"
                    for i, n in enumerate(names)),
        {n: [r[i] for r in rows] for i, n in enumerate(names)},
    )
    # typed empty stand-ins for an hour with no files
    columns = [f"null::{duckdb_type(f.name)} as {f.name}" for f in EVENT_SCHEMA]
    con.execute("create or replace temp table no_events as select "
                + ", ".join(columns) + ", null::VARCHAR as filename, "
                "null::BIGINT as file_row_number where false")


def raw_view(con: duckdb.DuckDBPyConnection, name: str, files: list[Path],
             file_index: bool = False) -> duckdb.DuckDBPyRelation:
    """A view `name` over the rows of `files` (with file name and row; with `file_index`, also
    the file's position in `files`), or typed and empty; returns its relation."""
    if files:
        check_event_files(files)  # another table's file in events/ fails the period, named
        rel = con.read_parquet([duckdb_path(f) for f in files], filename=True, file_row_number=True,
                               union_by_name=True, hive_partitioning=False)
    else:
        # relation views only: a SQL-created view of the same name would shadow later ones
        rel = con.sql("select *" + (", null::UBIGINT as file_index" if file_index else "")
                      + " from no_events")
    rel = rel.project("*, file_index") if files and file_index else rel
    rel.create_view(name)
    return rel


def hour_views(con: duckdb.DuckDBPyConnection, files: list[Path], hour: datetime,
               copies: dict[str, str] | None = None) -> int:
    """The hour's rows (`hour_in`, a view), its later copies, counts and pending latency events;
    returns how many events wait for pairing (`hour_pending`'s rows).

    Nothing per event is materialised but the narrow table of events waiting for pairing: every
    step scans the hour's files for just the columns it needs, which is cheaper than copying.
    `copies`: the hour's later copies as recorded for exactly `files` (`known_copies`), which
    spares grouping every event id; without them the hour is de-duplicated here.
    """
    raw = raw_view(con, "hour_raw", files, file_index=copies is not None)
    if files:
        start = duckdb.ConstantExpression(hour).cast(duckdb.sqltype("TIMESTAMPTZ"))
        end = duckdb.ConstantExpression(hour + HOUR).cast(duckdb.sqltype("TIMESTAMPTZ"))
        ts = duckdb.ColumnExpression("timestamp")
        raw.filter((ts >= start) & (ts < end)).create_view("hour_in")  # not the view bound again
    else:
        con.sql("select * from no_events").create_view("hour_in")
    if copies is not None:
        _copy_rows(con, "hour_recorded_copies",
                   [(i, copies[f.name]) for i, f in enumerate(files) if copies.get(f.name)])
        # the files' names as DuckDB spells them (`[` unescaped, `memory:///`): one row each
        con.execute("create or replace temp table hour_losers as select filename, file_row_number"
                    " from hour_recorded_copies join (select file_index, filename from hour_raw"
                    " where file_row_number = 0) using (file_index)")
    else:
        con.execute("create or replace temp table repeated_hashes as select unnest($hashes::"
                    "UBIGINT[]) as id_hash", {"hashes": repeated_hashes(con) if files else []})
        con.execute("create or replace temp table hour_losers as "
                    + load_sql("staging/hour_losers"))
    con.execute("create or replace temp table hour_counts as " + load_sql("staging/hour_counts"))
    # a table's creation answers how many rows it holds: no count(*) statement after it
    return con.execute("create or replace temp table hour_pending as "
                       + load_sql("staging/hour_pending")).fetchall()[0][0]


def _copy_rows(con: duckdb.DuckDBPyConnection, table: str,
               later: list[tuple[int, str]]) -> None:
    """`table` (file_index, file_row_number): recorded later copies, as (file position, its
    rows as text "3,17,…"), split in SQL: no Arrow registration, which would import pandas
    (0.2-0.5 s)."""
    con.execute(f"create or replace temp table {table} as select file_index, "
                "unnest(string_split(rows, ','))::BIGINT as file_row_number from (select "
                "unnest($i::UBIGINT[]) as file_index, unnest($r::VARCHAR[]) as rows)",
                {"i": [i for i, _ in later], "r": [rows for _, rows in later]})


def repeated_hashes(con: duckdb.DuckDBPyConnection) -> list[int]:
    """The 64-bit hashes of event_id that occur more than once in the hour's files (`hour_raw`).

    Sorting the hashes in numpy and comparing neighbours costs a third of grouping them in
    DuckDB; an hour without copies then skips de-duplication altogether.
    """
    hashes = np.sort(con.execute("select hash(event_id) as h from hour_raw").fetchnumpy()["h"])
    repeats = hashes[1:][hashes[1:] == hashes[:-1]]  # sorted: a hash seen k times is here k-1
    # (not np.unique: its first call imports numpy.ma, 0.3 s)
    return repeats[np.flatnonzero(np.diff(repeats, prepend=~repeats[:1]))].tolist()


def stage_tables(con: duckdb.DuckDBPyConnection, look_back: dict[datetime, list[Path]],
                 copies: dict[datetime, dict[str, str]] | None = None) -> None:
    """Staging after the hour's latency events: pairing anchors, paired latencies, latencies.

    `look_back` holds the files of each look-back hour; `copies` the later copies that hours'
    own rollups or landings recorded for those very files (rollup_plan.known_copies). In such
    an hour an anchor counts unless it is a later copy; every other hour is searched for anchor
    candidates, and only the hours holding a candidate are read again to rank its copies.
    """
    known = copies or {}
    recorded = [(h, f) for h in sorted(known) for f in look_back[h]]
    raw_view(con, "lookback_recorded_raw", [f for _, f in recorded], file_index=True)
    _copy_rows(con, "lookback_later_copies", [(i, known[h][f.name]) for i, (h, f)
                                              in enumerate(recorded) if known[h].get(f.name)])
    look_back = {h: files for h, files in look_back.items() if h not in known}
    raw_view(con, "lookback_raw", [f for files in look_back.values() for f in files])
    con.execute("create or replace temp table lookback_candidates as "
                + load_sql("staging/lookback_candidates"))
    # the hours of the candidates' files, by file name: DuckDB spells the folders its own way
    # (`[` unescaped, `memory:///`); a name in two hours gives both, an unknown one all of them
    hours_of: dict[str, set[datetime]] = {}
    for h, files in look_back.items():
        for f in files:
            hours_of.setdefault(_file_name(str(f)), set()).add(h)
    hours: set[datetime] = set()
    for (name,) in con.execute("select distinct filename from lookback_candidates").fetchall():
        hours |= hours_of.get(_file_name(name), set(look_back))
    raw_view(con, "candidate_hours_raw", [f for h in sorted(hours) for f in look_back[h]])
    for name in ("anchors", "paired_latency"):
        con.execute(f"create or replace temp table {name} as " + load_sql(f"staging/{name}"))
    # the hour's latencies are read once, by the statistics: a view over the hour's files and
    # the paired latencies, not a copy of ~40 % of the hour's rows (copying costs more)
    con.execute("create or replace temp view hour_latencies as " + load_sql("staging/hour_latencies"))
    con.execute("create or replace temp table hour_latency_stats as "
                + load_sql("staging/hour_latency_stats"))


def _file_name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def later_copies(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """The hour's later copies (`hour_losers`, after `hour_views` over its files) as file name ->
    its row numbers ("3,17,…"), for the hour's manifest: a later hour pairing with this one then
    skips ranking its copies while its files are unchanged."""
    found = con.execute("select filename, string_agg(file_row_number::VARCHAR, ',' order by "
                        "file_row_number) from hour_losers group by filename").fetchall()
    return {_file_name(name): rows for name, rows in found}


def quiet_hour(con: duckdb.DuckDBPyConnection, hour: datetime) -> tuple[pa.Table, pa.Table]:
    """The rows of an hour without events: the hourly SQL's zero rows, computed once per session
    and stamped with the hour (a run filling gaps, or a daily over a quiet day, has many)."""
    params = period_params(hour, hour + HOUR)
    tables = ("pipeline_hourly", "stage_hourly")
    made = con.execute("select count(*) from duckdb_tables() where temporary and table_name = "
                       "'quiet_pipeline_hourly'").fetchall()[0][0]
    if not made:
        hour_views(con, [], hour)
        stage_tables(con, {})
        for table in tables:
            extra = {"stages": list(PROCESSING_STAGES)} if table == "stage_hourly" else {}
            con.execute(f"create or replace temp table quiet_{table} as "
                        + load_sql(f"rollups/{table}"), {**params, **extra})
    stamp = ("select * replace ($period_start::TIMESTAMPTZ as period_start, $period_end::"
             "TIMESTAMPTZ as period_end, $computed_at::TIMESTAMPTZ as computed_at) from ")
    pipeline, stage = (con.sql(stamp + f"quiet_{t}", params=params).to_arrow_table()
                       for t in tables)
    return pipeline, stage


def empty_hourly_view(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """`hourly_rows` with the hourly snapshot schema and no rows: the hourly SQL, limit 0,
    run once per session and table (a backfill over quiet days builds each day from none)."""
    empty = f"empty_{table}"
    made = con.execute("select count(*) from duckdb_tables() where temporary and table_name = "
                       "$name", {"name": empty}).fetchall()[0][0]
    if not made:
        epoch = datetime(2000, 1, 1, tzinfo=UTC)
        hour_views(con, [], epoch)
        stage_tables(con, {})
        extra = {"stages": list(PROCESSING_STAGES)} if table == "stage_hourly" else {}
        con.execute(f"create or replace temp table {empty} as select * from ("
                    f"{load_sql(f'rollups/{table}')}) limit 0",
                    {**period_params(epoch, epoch + HOUR), **extra})
    con.sql(f"select * from {empty}").create_view("hourly_rows")


def period_params(start: datetime, end: datetime) -> dict:
    """The period parameters of the rollup SQL, stamped with the build time."""
    return {"period_start": start, "period_end": end, "computed_at": datetime.now(UTC)}
