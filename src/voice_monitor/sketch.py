"""The mergeable latency sketch kept in hourly snapshot rows (DDSketch key mapping).

A value x > 0 goes to bucket key ceil(log(x) / log(GAMMA)), i.e. the bucket
(GAMMA^(k-1), GAMMA^k]; exact zeros go to ZERO_KEY, the smallest key, so key order is value
order. Representing a bucket by 2·GAMMA^k / (GAMMA + 1) is within RELATIVE_ACCURACY of every
value in it, so an estimate interpolated between the representatives of the two buckets
holding order statistics j and j+1 lies in [0.99 · x_j, 1.01 · x_(j+1)] (contract §6).

The SQL twins of these functions are the macros in sql/staging/sketch_key.sql and sketch.sql;
`install` defines them on a connection.
"""

from __future__ import annotations

import math

import duckdb
import numpy as np

from voice_monitor.sql import load_sql

RELATIVE_ACCURACY = 0.01
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
ZERO_KEY = -1_000_000


def install(con: duckdb.DuckDBPyConnection) -> None:
    """Define the sketch macros (sketch_key, sketch_value, sketch_quantile, ...) on `con`."""
    install_key(con)
    con.execute(load_sql("staging/sketch"))


def install_key(con: duckdb.DuckDBPyConnection) -> None:
    """Define only `sketch_key`, all an hourly build needs (the rest cost ~10 ms a process)."""
    con.execute(load_sql("staging/sketch_key"))


def keys(values: np.ndarray) -> np.ndarray:
    """Bucket keys of non-negative latencies (ZERO_KEY for exact zeros)."""
    values = np.asarray(values, dtype=float)
    out = np.full(values.shape, ZERO_KEY, dtype=np.int64)
    positive = values > 0
    out[positive] = np.ceil(np.log(values[positive]) / math.log(GAMMA)).astype(np.int64)
    return out


def value(key: int) -> float:
    """The representative value of a bucket."""
    return 0.0 if key == ZERO_KEY else 2.0 * GAMMA**key / (GAMMA + 1)
