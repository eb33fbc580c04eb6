-- Latency sketch macros (DDSketch key mapping, relative accuracy a = 0.01).
-- Bucket k > -1000000 holds the values in (gamma^(k-1), gamma^k], gamma = (1+a)/(1-a);
-- key -1000000 holds exact zeros, so key order is value order. A bucket's representative
-- 2·gamma^k/(gamma+1) is within a relative error a of every value in it.
create or replace temp macro sketch_key(x) as
    case when x = 0 then -1000000 else ceil(ln(x) / ln((1 + 0.01) / (1 - 0.01)))::INTEGER end;
