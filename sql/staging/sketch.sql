-- Latency sketch macros for reading sketches (daily rollups, views): representative values,
-- ranks and percentiles. The bucket key mapping itself, the only one an hourly build needs, is
-- sketch_key in sql/staging/sketch_key.sql (sketch.install defines both).

create or replace temp macro sketch_value(k) as
    case when k = -1000000 then 0.0
         else 2.0 * pow((1 + 0.01) / (1 - 0.01), k) / ((1 + 0.01) / (1 - 0.01) + 1) end;

-- Value of order statistic j (0-based) given the key of the bucket holding it; the two
-- extreme ranks are known exactly (min, max).
create or replace temp macro sketch_rank_value_of(n, lo, hi, j, k) as
    case when j <= 0 then lo
         when j >= n - 1 then hi
         else sketch_value(k) end;

-- The same from sorted keys and cumulative counts `ends`: the bucket holding j is the first
-- whose cumulative count exceeds j.
create or replace temp macro sketch_rank_value(keys, ends, n, lo, hi, j) as
    sketch_rank_value_of(n, lo, hi, j,
        keys[list_position(list_transform(ends, lambda e: e > j), true)]);

-- Linear interpolation at rank q·(n−1) (as quantile_cont) between the values of its floor and
-- ceiling ranks, clamped to [min, max]; 0 if empty.
create or replace temp macro sketch_interpolate(n, lo, hi, q, v_floor, v_ceil) as
    case when coalesce(n, 0) = 0 then 0.0 else greatest(lo, least(hi,
        v_floor + (q * (n - 1) - floor(q * (n - 1))) * (v_ceil - v_floor)
    )) end;

create or replace temp macro sketch_quantile(keys, ends, n, lo, hi, q) as
    sketch_interpolate(n, lo, hi, q,
        sketch_rank_value(keys, ends, n, lo, hi, floor(q * (n - 1))),
        sketch_rank_value(keys, ends, n, lo, hi, ceil(q * (n - 1))));

-- The same given the keys of the buckets holding the floor and ceiling ranks (found by a
-- filtered min over merged buckets: no per-row list scans).
create or replace temp macro sketch_quantile_of(n, lo, hi, q, k_floor, k_ceil) as
    sketch_interpolate(n, lo, hi, q,
        sketch_rank_value_of(n, lo, hi, floor(q * (n - 1)), k_floor),
        sketch_rank_value_of(n, lo, hi, ceil(q * (n - 1)), k_ceil));

-- Merge the (scope_id, key, n) rows of many sketches per scope and find, for p50/p95/p99, the
-- keys of the buckets holding the floor and ceiling order statistics (0-based) of rank
-- q·(n−1): the first bucket whose cumulative count exceeds the rank.
create or replace temp macro sketch_rank_keys(buckets) as table
with merged as (
    select scope_id, key, sum(n) as n from query_table(buckets) group by scope_id, key
),
totals as (
    select
        scope_id,
        floor(0.5 * (total - 1))::BIGINT as p50_floor,
        ceil(0.5 * (total - 1))::BIGINT as p50_ceil,
        floor(0.95 * (total - 1))::BIGINT as p95_floor,
        ceil(0.95 * (total - 1))::BIGINT as p95_ceil,
        floor(0.99 * (total - 1))::BIGINT as p99_floor,
        ceil(0.99 * (total - 1))::BIGINT as p99_ceil
    from (select scope_id, sum(n) as total from merged group by scope_id)
),
cumulative as (
    select scope_id, key, sum(n) over (partition by scope_id order by key)::BIGINT as ends
    from merged
)
select
    scope_id,
    min(key) filter (where ends > p50_floor) as p50_floor_key,
    min(key) filter (where ends > p50_ceil) as p50_ceil_key,
    min(key) filter (where ends > p95_floor) as p95_floor_key,
    min(key) filter (where ends > p95_ceil) as p95_ceil_key,
    min(key) filter (where ends > p99_floor) as p99_floor_key,
    min(key) filter (where ends > p99_ceil) as p99_ceil_key
from cumulative
join totals using (scope_id)
group by scope_id;

-- p50, p95 and p99 (in a list) of merged sketches, from the scope's row of sketch_rank_keys (a
-- struct) and its exact count, min and max.
create or replace temp macro sketch_percentiles(n, lo, hi, rank_keys) as [
    sketch_quantile_of(n, lo, hi, 0.5,
        struct_extract(rank_keys, 'p50_floor_key'), struct_extract(rank_keys, 'p50_ceil_key')),
    sketch_quantile_of(n, lo, hi, 0.95,
        struct_extract(rank_keys, 'p95_floor_key'), struct_extract(rank_keys, 'p95_ceil_key')),
    sketch_quantile_of(n, lo, hi, 0.99,
        struct_extract(rank_keys, 'p99_floor_key'), struct_extract(rank_keys, 'p99_ceil_key'))];
