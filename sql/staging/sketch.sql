-- Latency sketch macros (DDSketch key mapping, relative accuracy a = 0.01).
-- Bucket k > -1000000 holds the values in (gamma^(k-1), gamma^k], gamma = (1+a)/(1-a);
-- key -1000000 holds exact zeros, so key order is value order. A bucket's representative
-- 2·gamma^k/(gamma+1) is within a relative error a of every value in it.
create or replace temp macro sketch_key(x) as
    case when x = 0 then -1000000 else ceil(ln(x) / ln((1 + 0.01) / (1 - 0.01)))::INTEGER end;

create or replace temp macro sketch_value(k) as
    case when k = -1000000 then 0.0
         else 2.0 * pow((1 + 0.01) / (1 - 0.01), k) / ((1 + 0.01) / (1 - 0.01) + 1) end;

-- Value of order statistic j (0-based) from sorted keys and cumulative counts `ends`; the
-- two extreme ranks are known exactly (min, max).
create or replace temp macro sketch_rank_value(keys, ends, n, lo, hi, j) as
    case when j <= 0 then lo
         when j >= n - 1 then hi
         else sketch_value(keys[list_position(list_transform(ends, lambda e: e > j), true)]) end;

-- Linear interpolation at rank q·(n−1) (as quantile_cont), clamped to [min, max]; 0 if empty.
create or replace temp macro sketch_quantile(keys, ends, n, lo, hi, q) as
    case when coalesce(n, 0) = 0 then 0.0 else greatest(lo, least(hi,
        sketch_rank_value(keys, ends, n, lo, hi, floor(q * (n - 1)))
        + (q * (n - 1) - floor(q * (n - 1)))
        * (sketch_rank_value(keys, ends, n, lo, hi, ceil(q * (n - 1)))
           - sketch_rank_value(keys, ends, n, lo, hi, floor(q * (n - 1))))
    )) end;
