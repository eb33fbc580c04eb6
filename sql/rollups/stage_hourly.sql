-- stage_hourly: one row per (hour, scope, processing stage). The platform has the four
-- processing stages every hour; an organization has all four in every hour it had any event
-- (zeros for stages it did not touch). Latency = stage latency of the stage's success events.
-- Reads the per-(organization, event type) counts and the hour's stage latency
-- distributions (sql/staging).
with counts as (
    select * from hour_counts
),

latency as (
    select stage as pipeline_stage, * exclude (stage)
    from hour_latency_stats
    where latency_kind = 'stage'
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
        ratio_or_zero(p.failed, p.succeeded + p.failed) as failure_rate,
        coalesce(l.latency_count, 0) as latency_count,
        ratio_or_zero(l.latency_sum_ms, l.latency_count) as latency_avg_ms,
        coalesce(l.latency_quantiles[1], 0.0) as latency_p50_ms,
        coalesce(l.latency_quantiles[2], 0.0) as latency_p95_ms,
        coalesce(l.latency_quantiles[3], 0.0) as latency_p99_ms,
        $computed_at::TIMESTAMPTZ as computed_at,
        -- sufficient statistics for the daily rollup
        coalesce(l.latency_sum_ms, 0.0) as latency_sum_ms,
        coalesce(l.latency_min_ms, 0.0) as latency_min_ms,
        coalesce(l.latency_max_ms, 0.0) as latency_max_ms,
        coalesce(l.sketch_keys, [])::INTEGER[] as latency_sketch_keys,
        coalesce(l.sketch_counts, [])::BIGINT[] as latency_sketch_counts
    from grid
    left join per_stage p
        on grid.organization_id is not distinct from p.organization_id
        and grid.pipeline_stage = p.pipeline_stage
    left join latency l
        on grid.organization_id is not distinct from l.organization_id
        and grid.pipeline_stage = l.pipeline_stage
)

select * from final
order by organization_id nulls first, list_position($stages::VARCHAR[], pipeline_stage)
