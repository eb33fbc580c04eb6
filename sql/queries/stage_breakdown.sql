-- stage_breakdown: per processing stage, totals over the snapshot periods in
-- [$first, $last] for one scope (platform when $organization_id is null). Rates and means are
-- recomputed from summed numerators and denominators; percentiles come from the merged
-- latency sketches (within 1 %, as the daily rollup's; sketch macros: sql/staging/sketch.sql).
with scoped as (
    select * from stage_rows($period)
    where organization_id is not distinct from $organization_id
      and period_start between $first and $last
),

stages as (
    select unnest($stages::VARCHAR[]) as pipeline_stage,
           generate_subscripts($stages::VARCHAR[], 1) as stage_order
),

sums as (
    select
        pipeline_stage,
        sum(started) as started,
        sum(succeeded) as succeeded,
        sum(failed) as failed,
        sum(latency_count) as latency_count,
        sum(latency_sum_ms) as latency_sum_ms,
        min(latency_min_ms) filter (where latency_count > 0) as latency_min_ms,
        max(latency_max_ms) filter (where latency_count > 0) as latency_max_ms
    from scoped
    group by pipeline_stage
),

buckets as (
    -- the sketches' buckets per stage; the merge groups integers: the stage's order
    select stages.stage_order as scope_id,
           unnest(latency_sketch_keys) as key, unnest(latency_sketch_counts) as n
    from scoped
    join stages using (pipeline_stage)
),

sketches as (
    -- per stage, the keys of the buckets holding each quantile's floor and ceiling ranks
    select scope_id as stage_order, * exclude (scope_id) from sketch_rank_keys(buckets)
),

merged as (
    select
        stages.pipeline_stage,
        stages.stage_order,
        coalesce(sums.started, 0)::BIGINT as started,
        coalesce(sums.succeeded, 0)::BIGINT as succeeded,
        coalesce(sums.failed, 0)::BIGINT as failed,
        coalesce(sums.latency_count, 0)::BIGINT as n,
        coalesce(sums.latency_sum_ms, 0.0) as latency_sum_ms,
        sums.latency_min_ms as lo,  -- n, lo, hi: the latencies' count, min and max
        sums.latency_max_ms as hi,
        sketches.* exclude (stage_order)
    from stages
    left join sums using (pipeline_stage)
    left join sketches using (stage_order)
),

final as (
    select
        pipeline_stage,
        started,
        succeeded,
        failed,
        ratio_or_zero(failed, succeeded + failed) as failure_rate,
        n as latency_count,
        ratio_or_zero(latency_sum_ms, n) as latency_avg_ms,
        sketch_quantile_of(n, lo, hi, 0.5, p50_floor_key, p50_ceil_key) as latency_p50_ms,
        sketch_quantile_of(n, lo, hi, 0.95, p95_floor_key, p95_ceil_key) as latency_p95_ms,
        sketch_quantile_of(n, lo, hi, 0.99, p99_floor_key, p99_ceil_key) as latency_p99_ms
    from merged
    order by stage_order
)

select * from final
