-- stage_history: one stage snapshot row per (period, processing stage) of [$first, $last] for
-- one scope (the platform when $organization_id is null), with no gaps: a period without a
-- row gets zeros, and computed_at is null only where the period was not built (an
-- organization's missing row in a built period takes the platform's), as historical_metrics.
-- Hourly percentiles are exact. Macros: sql/macros/snapshots.sql.
with periods as (
    select * from snapshot_periods($period, $first, $last, $step, $organization_id)
),

built as (
    select period_start, max(computed_at) as computed_at
    from stage_snapshot($period)
    where organization_id is null
    group by all
),

stages as (
    select unnest($stages::VARCHAR[]) as pipeline_stage,
           generate_subscripts($stages::VARCHAR[], 1) as stage_order
),

final as (
    select
        periods.*,
        stages.pipeline_stage,
        -- a period without a snapshot row: every metric 0
        coalesce(columns(s.* exclude (period_type, period_start, period_end, organization_id,
                                      scope, pipeline_stage, computed_at)), 0),
        coalesce(s.computed_at, built.computed_at) as computed_at
    from periods
    cross join stages
    left join stage_snapshot($period) as s
        on s.period_start = periods.period_start
        and s.organization_id is not distinct from periods.organization_id
        and s.pipeline_stage = stages.pipeline_stage
    left join built on built.period_start = periods.period_start
    order by periods.period_start, stages.stage_order
)

select * from final
