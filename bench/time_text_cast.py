"""A/B of the rule query's time expression (validation._value_sql of `timestamp`) before and
after lower-case 't'/'z' were taken: 1M '...+00:00' texts (the form the rule query, not the
Arrow fast path, reads), alternating runs, medians (bench/RESULTS.md, "edges3: time text").

    .venv/bin/python bench/time_text_cast.py
"""

from __future__ import annotations

import os
import statistics
import time

import duckdb

from voice_monitor import validation as v
from voice_monitor.schema import FIELDS

ROUNDS = 9


def _before_cast(x: str) -> str:
    """`_iso_cast` as it was: one cast of the text as written."""
    text = (f"CASE WHEN contains({x}, ':60') THEN regexp_replace({x}, {v._lit(v._LEAP)}, "
            f"'\\1:59.999999') ELSE {x} END")
    return f"try_cast({text} AS TIMESTAMPTZ)"


def expressions() -> tuple[str, str]:
    """(before, after) SQL of the timestamp's typed value."""
    field = next(f for f in FIELDS if f.name == "timestamp")
    after = v._value_sql(field)
    saved = v._iso_cast, v._ISO
    v._iso_cast, v._ISO = _before_cast, v._ISO.replace("[Tt ]", "[T ]")
    try:
        before = v._value_sql(field)
    finally:
        v._iso_cast, v._ISO = saved
    return before, after


def main() -> None:
    before, after = expressions()
    con = duckdb.connect()
    con.execute("create table t as select 'VARCHAR' as t_timestamp, strftime(TIMESTAMPTZ "
                "'2026-01-01 00:00:00+00' + to_milliseconds(i * 37), '%Y-%m-%dT%H:%M:%S.%g+00:00')"
                " as x_timestamp from range(1000000) r(i)")
    runs: dict[str, list[tuple[float, float]]] = {"before": [], "after": []}
    for _ in range(ROUNDS):
        for name, sql in (("before", before), ("after", after)):
            cpu, wall = time.process_time(), time.perf_counter()
            (count,) = con.sql(f"select count({sql}) from t").fetchall()[0]
            runs[name].append((time.perf_counter() - wall, time.process_time() - cpu))
            assert count == 1_000_000
    for name, got in runs.items():
        print(f"{name}: wall median {statistics.median(w for w, _ in got):.3f} s, "
              f"CPU median {statistics.median(c for _, c in got):.3f} s (all threads)")
    print("load average", os.getloadavg())


if __name__ == "__main__":
    main()
