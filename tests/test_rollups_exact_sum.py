"""The rollups' sums of doubles (sql/staging/exact_sum.sql) are the correctly rounded exact sum,
whatever the order of the rows: checked against Python's math.fsum (an independent, correctly
rounded sum) on the macros themselves and on built snapshot rows."""

from __future__ import annotations

import math
import random
from datetime import timedelta

import polars as pl
import pytest
from conftest import NOW, event
from hypothesis import given, settings
from hypothesis import strategies as st

from voice_monitor.lake import Lake, connect
from voice_monitor.landing import land_records
from voice_monitor.rollup_session import session
from voice_monitor.rollups import run_hourly

H = NOW.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)

# the range summed exactly: 2^-31 <= |x| < 2^33, and 0
in_range = st.one_of(
    st.floats(min_value=2.0**-31, max_value=0.01),                   # costs in USD
    st.floats(min_value=2.0**-31, max_value=86_400_000),             # latencies in ms
    st.integers(0, 10**9).map(lambda n: n / 1000),                    # ms from microseconds
    st.floats(min_value=2.0**-31, max_value=2.0**33, exclude_max=True).map(lambda x: -x),
    st.sampled_from([0.0, 2.0**-31, 2.0**33 - 2.0**-20, 0.1, 1 / 3]),
)
# values the contract admits (finite, >= 0; small enough that 100 do not overflow): the rare
# ones outside the range are summed apart in value order, then added
admitted = st.one_of(in_range.map(abs), st.floats(min_value=0, max_value=1e300),
                     st.sampled_from([1e-300, 5e-324, 2.0**33, 1e15, 1e300]))


@pytest.fixture(scope="module")
def con():
    with session() as con:
        yield con


def exact_sum(con, values: list[float]) -> float | None:
    return con.execute("select exact_sum(x) from (select unnest($v::DOUBLE[]) as x)",
                       {"v": values}).fetchone()[0]


@settings(max_examples=80, deadline=None)
@given(st.lists(in_range, max_size=300), st.randoms(use_true_random=False))
def test_exact_sum_is_the_correctly_rounded_sum_in_any_order(con, values, rnd):
    got = exact_sum(con, values)
    assert got == (math.fsum(values) if values else None)
    shuffled = values[:]
    rnd.shuffle(shuffled)
    assert exact_sum(con, shuffled) == got


@settings(max_examples=60, deadline=None)
@given(st.lists(admitted, min_size=1, max_size=100), st.randoms(use_true_random=False))
def test_any_admitted_values_sum_the_same_in_any_order(con, values, rnd):
    got = exact_sum(con, values)
    shuffled = values[:]
    rnd.shuffle(shuffled)
    assert exact_sum(con, shuffled) == got
    # non-negative: two roundings at most (the parts, the values apart, then their sum)
    assert got == pytest.approx(math.fsum(values), rel=4.5e-16, abs=0)


def test_exact_sum_where_plain_summing_rounds_wrong(con):
    # ten dimes: a plain left-to-right sum gives 0.9999999999999999, the exact sum 1.0
    assert sum([0.1] * 10) != 1.0
    assert exact_sum(con, [0.1] * 10) == 1.0
    # cancellation, and values out of the exact range summed apart (fsum of the rare few)
    assert exact_sum(con, [2.0**32, 0.1, -(2.0**32)]) == 0.1
    assert exact_sum(con, [2.0**40, 3.0, 1e-20]) == 2.0**40 + 3.0
    assert exact_sum(con, [1e-300]) == 1e-300
    assert exact_sum(con, []) is None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcde"), in_range), max_size=200))
def test_parts_regrouped_sum_like_the_whole(con, rows):
    # per group parts (hour_counts), then summed per scope (pipeline_hourly): rounded once
    got = con.execute(
        "select exact_sum_of_parts(p) from (select g, exact_parts(x) as p from "
        "(select unnest($g::VARCHAR[]) as g, unnest($v::DOUBLE[]) as x) group by g)",
        {"g": [g for g, _ in rows], "v": [v for _, v in rows]}).fetchone()[0]
    assert got == (math.fsum(v for _, v in rows) if rows else None)


def test_snapshot_cost_and_latency_sums_are_exact(lake):
    rnd = random.Random(5)
    costs = [round(rnd.random() * 0.01, 6) for _ in range(300)]
    durations = [rnd.random() * 5000 for _ in range(60)]
    records = [event("artifact_received", H + timedelta(seconds=i), artifact_id=f"a{i}",
                     organization_id="org-a", metadata={"ai_cost_usd": c})
               for i, c in enumerate(costs)]
    records += [event("artifact_completed", H + timedelta(seconds=i), artifact_id=f"a{i}",
                      organization_id="org-a", duration_ms=d) for i, d in enumerate(durations)]
    # three landings, so the rows come from three files read in whatever order
    for part in (records[::3], records[1::3], records[2::3]):
        land_records(lake, part, now=NOW)
    run_hourly(lake, NOW, hour=H)
    rows = pl.read_parquet(lake.snapshot_partition("pipeline_hourly", H)).to_dicts()
    assert [r["organization_id"] for r in rows] == [None, "org-a"]
    for row in rows:
        assert row["total_ai_cost_usd"] == math.fsum(costs)
        assert row["e2e_latency_sum_ms"] == math.fsum(durations)
        assert row["e2e_latency_avg_ms"] == math.fsum(durations) / 60


def test_macros_do_not_need_a_session():
    # the SQL file alone defines them (no dependency on other rollup macros)
    from voice_monitor.sql import load_sql

    plain = connect()
    plain.execute(load_sql("staging/exact_sum"))
    assert plain.execute("select exact_sum(x) from (values (0.25), (0.5)) t(x)").fetchone() \
        == (0.75,)


# Values outside the exact range (>= 2^33 or < 2^-31) are summed apart, in value order: summed
# in another order they give other bits (DuckDB's fsum of them ascending, then descending).
APART = [1.5e21, 1.8e21, 9e20, 3.5e20, 1.4e20, 1.4e20, 2.26e-10, 1.5e21]


def value_order_fsum(values: list[float]) -> float:
    """DuckDB's fsum (Kahan summation, the compensation subtracted last) of the values, added
    in ascending order."""
    s = err = 0.0
    for x in sorted(values):
        d = x - err
        t = s + d
        err = (t - s) - d
        s = t
    return s - err


def land_in_order(lake, costs: list[float], durations: list[float], reverse: bool) -> None:
    records = [event("artifact_received", H + timedelta(seconds=i), artifact_id=f"a{i}",
                     organization_id="org-a", metadata={"ai_cost_usd": c})
               for i, c in enumerate(costs)]
    records += [event("artifact_completed", H + timedelta(seconds=i), artifact_id=f"a{i}",
                      organization_id="org-a", duration_ms=d) for i, d in enumerate(durations)]
    parts = [records[::2], records[1::2]]
    for part in (parts[::-1] if reverse else parts):  # two files, in one order or the other
        land_records(lake, part[::-1] if reverse else part, now=NOW)


def test_values_apart_sum_in_value_order_whatever_the_file_order(con, tmp_path):
    # the values' sum depends on the order; the Python replica is DuckDB's fsum in value order
    fsums = [con.execute("select fsum(x) from (select unnest($v::DOUBLE[]) as x)",
                         {"v": sorted(APART, reverse=desc)}).fetchone()[0] for desc in (0, 1)]
    assert fsums[0] != fsums[1] and fsums[0] == value_order_fsum(APART)
    in_range = [0.25, 0.1, 0.003]
    want = math.fsum(in_range) + value_order_fsum(APART)  # a latency over 99 days: ms apart too
    sums = []
    for name, reverse in (("a", False), ("b", True)):
        lake = Lake.create(tmp_path / name)
        land_in_order(lake, in_range + APART, in_range + APART, reverse)
        run_hourly(lake, NOW, hour=H)
        rows = pl.read_parquet(lake.snapshot_partition("pipeline_hourly", H)).to_dicts()
        assert [r["organization_id"] for r in rows] == [None, "org-a"]
        sums += [(r["total_ai_cost_usd"], r["e2e_latency_sum_ms"]) for r in rows]
    assert sums == [(want, want)] * 4
    costs = in_range + APART  # and in descending order, where the sum in order differs
    assert exact_sum(con, costs) == exact_sum(con, sorted(costs, reverse=True)) == want
