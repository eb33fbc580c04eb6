-- historical_metrics: one pipeline snapshot row per period of [$first, $last] for one scope
-- (the platform when $organization_id is null), with no gaps: a period without a snapshot row
-- gets a zero row (the rollups' convention for an empty period) and a null computed_at.
-- Macros: sql/macros/snapshots.sql.
with periods as (
    select * from snapshot_periods($period, $first, $last, $step, $organization_id)
),

final as (
    select
        periods.*,
        -- a period without a snapshot row: every metric 0, computed_at null
        coalesce(columns(s.* exclude (period_type, period_start, period_end, organization_id,
                                      scope, computed_at)), 0),
        s.computed_at
    from periods
    left join pipeline_snapshot($period) as s
        on s.period_start = periods.period_start
        and s.organization_id is not distinct from periods.organization_id
    order by periods.period_start
)

select * from final
