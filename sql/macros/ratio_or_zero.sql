-- numerator / denominator, 0 when the denominator is 0: a rate is never NaN or infinite.
create or replace macro ratio_or_zero(numerator, denominator) as
    coalesce(numerator / nullif(denominator, 0), 0.0);
