-- Exact, order-independent sums of doubles (docs/design-notes.md, "Exact sums of doubles"):
-- the same bits whatever order the rows come in (threads, files, an object store, compaction),
-- and no sort. A double with 2^-31 ≤ |x| < 2^33 (or 0) is split exactly into two integers,
-- x = hi·2^-30 + lo·2^-83:
--   hi = trunc(x·2^30), |hi| < 2^63: scaling by a power of two and trunc are exact;
--   lo = (x·2^30 − hi)·2^53, |lo| < 2^53: the fraction of a double is exact, and its lowest
--        bit is at least ulp(x)·2^30 ≥ 2^-53 when |x| ≥ 2^-31, so ·2^53 is an integer.
-- Integers add exactly in any order (sums of BIGINT are HUGEINT). The rare values outside that
-- range (a latency over 99 days, a cost over 8.6e9 or under 5e-10 USD) are summed apart in
-- value order: fsum over only those rows, usually none. (DuckDB honours this ORDER BY, sorting
-- inside the aggregate, so EXPLAIN shows no sort; tests/test_rollups_exact_sum.py checks it.)
create or replace temp macro exact_in_range(x) as
    x = 0 or (abs(x) >= 4.656612873077393e-10 and abs(x) < 8589934592::DOUBLE);  -- 2^-31, 2^33

create or replace temp macro exact_hi(x) as
    case when exact_in_range(x) then trunc(x * 1073741824::DOUBLE)::BIGINT end;

create or replace temp macro exact_lo(x) as
    case when exact_in_range(x) then ((x * 1073741824::DOUBLE
        - trunc(x * 1073741824::DOUBLE)) * 9007199254740992::DOUBLE)::BIGINT end;

create or replace temp macro exact_apart(x) as
    fsum(x order by x) filter (where not exact_in_range(x));

-- The double nearest h·2^-30 + r·2^-83 for integers h and |r| < 2^53: h is split into its
-- double d and the exact integer rest e = h − d (|e| < 2^53 while |h| < 2^106), so
-- d·2^-30 + (e·2^-30 + r·2^-83) rounds once, but for the inner sum's rounding, far below half
-- an ulp of the result: within 0.5 ulp (plus 2^-52 of one) of the exact value.
create or replace temp macro exact_round_parts(d, e, r) as
    d * 9.313225746154785e-10                                                -- 2^-30
    + (e::DOUBLE * 9.313225746154785e-10 + r::DOUBLE * 1.0339757656912846e-25);  -- 2^-83

create or replace temp macro exact_round(h, r) as
    exact_round_parts(h::DOUBLE, h - h::DOUBLE::HUGEINT, r);

-- The sum from the summed parts (lo's carry moved into hi), plus the values summed apart;
-- null when there were no values at all.
create or replace temp macro exact_value(hi, lo, apart) as
    case when hi is null and apart is null then null
        else coalesce(exact_round(hi + lo // 9007199254740992, lo % 9007199254740992), 0.0)
            + coalesce(apart, 0.0)
    end;

-- The exact sum of a double column, as one aggregate: the parts summed, then rounded once.
create or replace temp macro exact_sum(x) as
    exact_value(sum(exact_hi(x)), sum(exact_lo(x)), exact_apart(x));

-- The same in two steps, for sums regrouped later (per event type, then per scope): the parts
-- of a group as a struct, then the exact sum of many groups' parts, rounded once.
create or replace temp macro exact_parts(x) as
    {'hi': sum(exact_hi(x)), 'lo': sum(exact_lo(x)), 'apart': exact_apart(x)};

create or replace temp macro exact_sum_of_parts(p) as exact_value(
    sum(struct_extract(p, 'hi')), sum(struct_extract(p, 'lo')),
    fsum(struct_extract(p, 'apart') order by struct_extract(p, 'apart')));
