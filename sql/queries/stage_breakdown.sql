-- stage_breakdown: per processing stage, totals over the snapshot periods in
-- [$first, $last] for one scope (platform when $organization_id is null). Rates and means are
-- recomputed from summed numerators and denominators; percentiles come from the merged
-- latency sketches (within 1 %, as the daily rollup's).
with snapshots as (
    select * from raw_stage_hourly where $period = 'hour'
    union all by name
    select * from raw_stage_daily where $period = 'day'
),

scoped as (
    select *
    from snapshots
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
    select pipeline_stage, key, sum(n) as n
    from (
        select pipeline_stage, unnest(latency_sketch_keys) as key,
               unnest(latency_sketch_counts) as n
        from scoped
    )
    group by pipeline_stage, key
),

sketches as (
    select
        pipeline_stage,
        list(key order by key) as keys,
        list(ends order by key) as ends
    from (
        select pipeline_stage, key,
               sum(n) over (partition by pipeline_stage order by key) as ends
        from buckets
    )
    group by pipeline_stage
),

merged as (
    select
        stages.pipeline_stage,
        stages.stage_order,
        coalesce(sums.started, 0)::BIGINT as started,
        coalesce(sums.succeeded, 0)::BIGINT as succeeded,
        coalesce(sums.failed, 0)::BIGINT as failed,
        coalesce(sums.latency_count, 0)::BIGINT as latency_count,
        coalesce(sums.latency_sum_ms, 0.0) as latency_sum_ms,
        sums.latency_min_ms,
        sums.latency_max_ms,
        sketches.keys,
        sketches.ends
    from stages
    left join sums using (pipeline_stage)
    left join sketches using (pipeline_stage)
),

final as (
    select
        pipeline_stage,
        started,
        succeeded,
        failed,
        coalesce(failed / nullif(succeeded + failed, 0), 0.0) as failure_rate,
        latency_count,
        coalesce(latency_sum_ms / nullif(latency_count, 0), 0.0) as latency_avg_ms,
        sketch_quantile(keys, ends, latency_count, latency_min_ms, latency_max_ms, 0.5)
            as latency_p50_ms,
        sketch_quantile(keys, ends, latency_count, latency_min_ms, latency_max_ms, 0.95)
            as latency_p95_ms,
        sketch_quantile(keys, ends, latency_count, latency_min_ms, latency_max_ms, 0.99)
            as latency_p99_ms
    from merged
    order by stage_order
)

select * from final
