-- Latency sketch macros (DDSketch key mapping, relative accuracy a = 0.01).
-- Bucket k > -1000000 holds the values in (gamma^(k-1), gamma^k], gamma = (1+a)/(1-a);
-- key -1000000 holds exact zeros, so key order is value order. A bucket's representative
-- 2·gamma^k/(gamma+1) is within a relative error a of every value in it.
create or replace temp macro sketch_key(x) as
    case when x = 0 then -1000000 else ceil(ln(x) / ln((1 + 0.01) / (1 - 0.01)))::INTEGER end;

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
