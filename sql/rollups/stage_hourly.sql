-- stage_hourly: one row per (hour, scope, processing stage). The platform has the four
-- processing stages every hour; an organization has all four in every hour it had any event
-- (zeros for stages it did not touch). Latency = stage latency of the stage's success events.
-- Reads the per-(organization, event type) counts and the hour's latencies (sql/staging).
with counts as (
    select * from hour_counts
),

latencies as (
    select * from hour_latencies where latency_kind = 'stage'
),

stages as (
    select unnest($stages::VARCHAR[]) as pipeline_stage
),

scopes as (
    select null::VARCHAR as organization_id
    union all
    select distinct organization_id from counts where organization_id is not null
),

grid as (
    select scopes.organization_id, stages.pipeline_stage from scopes cross join stages
),

per_stage as (
    select
        organization_id,
        stage as pipeline_stage,
        coalesce(sum(events) filter (where kind = 'started'), 0) as started,
        coalesce(sum(events) filter (where kind = 'success'), 0) as succeeded,
        coalesce(sum(events) filter (where kind = 'failure'), 0) as failed
    from counts
    where stage in (select pipeline_stage from stages)
    group by grouping sets ((stage), (organization_id, stage))
    having grouping(organization_id) = 1 or organization_id is not null
),

latency_per_stage as (
    select
        organization_id,
        stage as pipeline_stage,
        count(*) as latency_count,
        fsum(latency_ms order by latency_ms) as latency_sum_ms,
        min(latency_ms) as latency_min_ms,
        max(latency_ms) as latency_max_ms,
        quantile_cont(latency_ms, [0.5, 0.95, 0.99]) as latency_quantiles
    from latencies
    group by grouping sets ((stage), (organization_id, stage))
    having grouping(organization_id) = 1 or organization_id is not null
),

buckets as (
    select organization_id, stage as pipeline_stage, sketch_key, count(*) as n
    from latencies
    group by grouping sets ((stage, sketch_key), (organization_id, stage, sketch_key))
    having grouping(organization_id) = 1 or organization_id is not null
),

sketches as (
    -- a group by and two ordered lists: much cheaper than histogram() and its map
    select
        organization_id,
        pipeline_stage,
        list(sketch_key order by sketch_key) as latency_sketch_keys,
        list(n order by sketch_key) as latency_sketch_counts
    from buckets
    group by organization_id, pipeline_stage
),

final as (
    select
        'hour' as period_type,
        $period_start::TIMESTAMPTZ as period_start,
        $period_end::TIMESTAMPTZ as period_end,
        grid.organization_id,
        grid.pipeline_stage,
        coalesce(p.started, 0)::BIGINT as started,
        coalesce(p.succeeded, 0)::BIGINT as succeeded,
        coalesce(p.failed, 0)::BIGINT as failed,
        coalesce(p.failed / nullif(p.succeeded + p.failed, 0), 0.0) as failure_rate,
        coalesce(l.latency_count, 0) as latency_count,
        coalesce(l.latency_sum_ms / nullif(l.latency_count, 0), 0.0) as latency_avg_ms,
        coalesce(l.latency_quantiles[1], 0.0) as latency_p50_ms,
        coalesce(l.latency_quantiles[2], 0.0) as latency_p95_ms,
        coalesce(l.latency_quantiles[3], 0.0) as latency_p99_ms,
        $computed_at::TIMESTAMPTZ as computed_at,
        -- sufficient statistics for the daily rollup
        coalesce(l.latency_sum_ms, 0.0) as latency_sum_ms,
        coalesce(l.latency_min_ms, 0.0) as latency_min_ms,
        coalesce(l.latency_max_ms, 0.0) as latency_max_ms,
        coalesce(k.latency_sketch_keys, [])::INTEGER[] as latency_sketch_keys,
        coalesce(k.latency_sketch_counts, [])::BIGINT[] as latency_sketch_counts
    from grid
    left join per_stage p
        on grid.organization_id is not distinct from p.organization_id
        and grid.pipeline_stage = p.pipeline_stage
    left join latency_per_stage l
        on grid.organization_id is not distinct from l.organization_id
        and grid.pipeline_stage = l.pipeline_stage
    left join sketches k
        on grid.organization_id is not distinct from k.organization_id
        and grid.pipeline_stage = k.pipeline_stage
)

select * from final
order by organization_id nulls first, list_position($stages::VARCHAR[], pipeline_stage)
