-- stage_daily: one row per (day, scope, processing stage), built only from that day's
-- stage_hourly rows (`hourly_rows`): counts add up, the mean comes from the summed latency,
-- percentiles from the merged sketches. Platform: the four stages every day.
with hourly as (
    select * from hourly_rows
),

stages as (
    select unnest($stages::VARCHAR[]) as pipeline_stage
),

scopes as (
    select null::VARCHAR as organization_id
    union
    select organization_id from hourly where organization_id is not null
),

grid as (
    select scopes.organization_id, stages.pipeline_stage from scopes cross join stages
),

sums as (
    select
        organization_id,
        pipeline_stage,
        sum(started) as started,
        sum(succeeded) as succeeded,
        sum(failed) as failed,
        sum(latency_count) as latency_count,
        fsum(latency_sum_ms) as latency_sum_ms,
        min(latency_min_ms) filter (where latency_count > 0) as latency_min_ms,
        max(latency_max_ms) filter (where latency_count > 0) as latency_max_ms
    from hourly
    group by organization_id, pipeline_stage
),

buckets as (
    select
        organization_id,
        pipeline_stage,
        unnest(latency_sketch_keys) as key,
        unnest(latency_sketch_counts) as n
    from hourly
),

merged as (
    select organization_id, pipeline_stage, key, sum(n) as n
    from buckets
    group by organization_id, pipeline_stage, key
),

sketches as (
    -- sorted keys with the cumulative count up to and including each bucket
    select organization_id, pipeline_stage, list(key order by key) as keys,
        list(ends order by key) as ends
    from (
        select *, sum(n) over (partition by organization_id, pipeline_stage order by key) as ends
        from merged
    )
    group by organization_id, pipeline_stage
),

joined as (
    select grid.*, sums.* exclude (organization_id, pipeline_stage), sketches.keys, sketches.ends
    from grid
    left join sums
        on grid.organization_id is not distinct from sums.organization_id
        and grid.pipeline_stage = sums.pipeline_stage
    left join sketches
        on grid.organization_id is not distinct from sketches.organization_id
        and grid.pipeline_stage = sketches.pipeline_stage
),

final as (
    select
        'day' as period_type,
        $period_start::TIMESTAMPTZ as period_start,
        $period_end::TIMESTAMPTZ as period_end,
        organization_id,
        pipeline_stage,
        coalesce(started, 0)::BIGINT as started,
        coalesce(succeeded, 0)::BIGINT as succeeded,
        coalesce(failed, 0)::BIGINT as failed,
        coalesce(failed / nullif(succeeded + failed, 0), 0.0) as failure_rate,
        coalesce(latency_count, 0)::BIGINT as latency_count,
        coalesce(latency_sum_ms / nullif(latency_count, 0), 0.0) as latency_avg_ms,
        sketch_quantile(keys, ends, latency_count, latency_min_ms, latency_max_ms, 0.5)
            as latency_p50_ms,
        sketch_quantile(keys, ends, latency_count, latency_min_ms, latency_max_ms, 0.95)
            as latency_p95_ms,
        sketch_quantile(keys, ends, latency_count, latency_min_ms, latency_max_ms, 0.99)
            as latency_p99_ms,
        $computed_at::TIMESTAMPTZ as computed_at,
        coalesce(latency_sum_ms, 0.0) as latency_sum_ms,
        coalesce(latency_min_ms, 0.0) as latency_min_ms,
        coalesce(latency_max_ms, 0.0) as latency_max_ms
    from joined
)

select * from final
order by organization_id nulls first, list_position($stages::VARCHAR[], pipeline_stage)
