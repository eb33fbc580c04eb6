-- historical_metrics: one pipeline snapshot row per period of [$first, $last] for one scope
-- (the platform when $organization_id is null), with no gaps: a period without a snapshot row
-- gets a zero row (the rollups' convention for an empty period). computed_at is null only
-- where the period was not built: an organization has rows only for periods with its events,
-- so in another built period it takes the platform row's (nothing happened, but built).
-- Macros: sql/macros/snapshots.sql.
with periods as (
    select * from snapshot_periods($period, $first, $last, $step, $organization_id)
),

built as (
    select period_start, max(computed_at) as computed_at
    from pipeline_snapshot($period)
    where organization_id is null
    group by all
),

final as (
    select
        periods.*,
        -- a period without a snapshot row: every metric 0
        coalesce(columns(s.* exclude (period_type, period_start, period_end, organization_id,
                                      scope, computed_at)), 0),
        coalesce(s.computed_at, built.computed_at) as computed_at
    from periods
    left join pipeline_snapshot($period) as s
        on s.period_start = periods.period_start
        and s.organization_id is not distinct from periods.organization_id
    left join built on built.period_start = periods.period_start
    order by periods.period_start
)

select * from final
