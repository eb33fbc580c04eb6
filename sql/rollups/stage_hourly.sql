-- stage_hourly: one row per (hour, scope, processing stage). The platform has the four
-- processing stages every hour; an organization has all four in every hour it had any event
-- (zeros for stages it did not touch). Latency = stage latency of the stage's success events.
with facts as (
    select * from hour_facts
),

stages as (
    select unnest($stages::VARCHAR[]) as pipeline_stage
),

scopes as (
    select null::VARCHAR as organization_id
    union all
    select distinct organization_id from facts where organization_id is not null
),

grid as (
    select scopes.organization_id, stages.pipeline_stage from scopes cross join stages
),

stage_events as (
    select *, case when kind = 'success' and latency_ms is not null
                   then sketch_key(latency_ms) end as sketch_key
    from facts
    where stage in (select pipeline_stage from stages)
),

per_stage as (
    select
        organization_id,
        stage as pipeline_stage,
        count(*) filter (where kind = 'started') as started,
        count(*) filter (where kind = 'success') as succeeded,
        count(*) filter (where kind = 'failure') as failed,
        count(latency_ms) filter (where kind = 'success') as latency_count,
        sum(latency_ms) filter (where kind = 'success') as latency_sum_ms,
        min(latency_ms) filter (where kind = 'success') as latency_min_ms,
        max(latency_ms) filter (where kind = 'success') as latency_max_ms,
        quantile_cont(latency_ms, [0.5, 0.95, 0.99]) filter (where kind = 'success')
            as latency_quantiles,
        list_sort(map_entries(histogram(sketch_key) filter (where sketch_key is not null)))
            as latency_buckets
    from stage_events
    group by grouping sets ((stage), (organization_id, stage))
    having grouping(organization_id) = 1 or organization_id is not null
),

final as (
    select
        'hour' as period_type,
        $period_start::TIMESTAMPTZ as period_start,
        $period_end::TIMESTAMPTZ as period_end,
        grid.organization_id,
        grid.pipeline_stage,
        coalesce(p.started, 0) as started,
        coalesce(p.succeeded, 0) as succeeded,
        coalesce(p.failed, 0) as failed,
        coalesce(p.failed / nullif(p.succeeded + p.failed, 0), 0.0) as failure_rate,
        coalesce(p.latency_count, 0) as latency_count,
        coalesce(p.latency_sum_ms / nullif(p.latency_count, 0), 0.0) as latency_avg_ms,
        coalesce(p.latency_quantiles[1], 0.0) as latency_p50_ms,
        coalesce(p.latency_quantiles[2], 0.0) as latency_p95_ms,
        coalesce(p.latency_quantiles[3], 0.0) as latency_p99_ms,
        $computed_at::TIMESTAMPTZ as computed_at,
        -- sufficient statistics for the daily rollup
        coalesce(p.latency_sum_ms, 0.0) as latency_sum_ms,
        coalesce(p.latency_min_ms, 0.0) as latency_min_ms,
        coalesce(p.latency_max_ms, 0.0) as latency_max_ms,
        coalesce(list_transform(p.latency_buckets, lambda b: b.key), [])::INTEGER[]
            as latency_sketch_keys,
        coalesce(list_transform(p.latency_buckets, lambda b: b.value), [])::BIGINT[]
            as latency_sketch_counts
    from grid
    left join per_stage p
        on grid.organization_id is not distinct from p.organization_id
        and grid.pipeline_stage = p.pipeline_stage
)

select * from final
order by organization_id nulls first, list_position($stages::VARCHAR[], pipeline_stage)
