-- stage_history: one stage snapshot row per (period, processing stage) of [$first, $last] for
-- one scope (the platform when $organization_id is null), with no gaps: a period without a
-- row gets zeros and a null computed_at, as historical_metrics. Hourly percentiles are exact.
with snapshots as (
    select * from stage_hourly where $period = 'hour'
    union all by name
    select * from stage_daily where $period = 'day'
),

scoped as (
    select *
    from snapshots
    where organization_id is not distinct from $organization_id
      and period_start between $first and $last
),

periods as (
    select unnest(generate_series($first::TIMESTAMPTZ, $last::TIMESTAMPTZ, $step::INTERVAL))
        as period_start
),

stages as (
    select unnest($stages::VARCHAR[]) as pipeline_stage,
           generate_subscripts($stages::VARCHAR[], 1) as stage_order
),

final as (
    select
        $period as period_type,
        periods.period_start,
        periods.period_start + $step::INTERVAL as period_end,
        $organization_id::VARCHAR as organization_id,
        stages.pipeline_stage,
        coalesce(s.started, 0) as started,
        coalesce(s.succeeded, 0) as succeeded,
        coalesce(s.failed, 0) as failed,
        coalesce(s.failure_rate, 0.0) as failure_rate,
        coalesce(s.latency_count, 0) as latency_count,
        coalesce(s.latency_avg_ms, 0.0) as latency_avg_ms,
        coalesce(s.latency_p50_ms, 0.0) as latency_p50_ms,
        coalesce(s.latency_p95_ms, 0.0) as latency_p95_ms,
        coalesce(s.latency_p99_ms, 0.0) as latency_p99_ms,
        s.computed_at
    from periods
    cross join stages
    left join scoped as s using (period_start, pipeline_stage)
    order by periods.period_start, stages.stage_order
)

select * from final
