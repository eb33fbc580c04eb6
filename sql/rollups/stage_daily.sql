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
        fsum(latency_sum_ms order by period_start) as latency_sum_ms,
        min(latency_min_ms) filter (where latency_count > 0) as latency_min_ms,
        max(latency_max_ms) filter (where latency_count > 0) as latency_max_ms
    from hourly
    group by organization_id, pipeline_stage
),

scope_ids as materialized (
    -- an integer per scope (deterministic: it is read twice): the bucket merge groups
    -- integers, not strings
    select *, row_number() over (order by organization_id, pipeline_stage) as scope_id
    from (select distinct organization_id, pipeline_stage from hourly)
),

scoped as (
    select scope_ids.scope_id, hourly.latency_sketch_keys, hourly.latency_sketch_counts
    from hourly
    join scope_ids
        on hourly.organization_id is not distinct from scope_ids.organization_id
        and hourly.pipeline_stage = scope_ids.pipeline_stage
),

buckets as (
    select scope_id, unnest(latency_sketch_keys) as key, unnest(latency_sketch_counts) as n
    from scoped
),

sketches as (
    -- per scope, the keys of the buckets holding each quantile's floor and ceiling ranks
    select * from sketch_rank_keys(buckets)
),

scope_sketches as (
    select scope_names.organization_id, scope_names.pipeline_stage, sketches as rank_keys
    from scope_ids as scope_names
    join sketches using (scope_id)
),

joined as (
    select grid.*, sums.* exclude (organization_id, pipeline_stage),
        sketch_percentiles(sums.latency_count, sums.latency_min_ms, sums.latency_max_ms,
            scope_sketches.rank_keys) as latency_quantiles
    from grid
    left join sums
        on grid.organization_id is not distinct from sums.organization_id
        and grid.pipeline_stage = sums.pipeline_stage
    left join scope_sketches
        on grid.organization_id is not distinct from scope_sketches.organization_id
        and grid.pipeline_stage = scope_sketches.pipeline_stage
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
        ratio_or_zero(failed, succeeded + failed) as failure_rate,
        coalesce(latency_count, 0)::BIGINT as latency_count,
        ratio_or_zero(latency_sum_ms, latency_count) as latency_avg_ms,
        latency_quantiles[1] as latency_p50_ms,
        latency_quantiles[2] as latency_p95_ms,
        latency_quantiles[3] as latency_p99_ms,
        $computed_at::TIMESTAMPTZ as computed_at,
        coalesce(latency_sum_ms, 0.0) as latency_sum_ms,
        coalesce(latency_min_ms, 0.0) as latency_min_ms,
        coalesce(latency_max_ms, 0.0) as latency_max_ms
    from joined
)

select * from final
order by organization_id nulls first, list_position($stages::VARCHAR[], pipeline_stage)
