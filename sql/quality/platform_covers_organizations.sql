-- The platform counts every event, with or without an organization: per period its counts are
-- at least the sum over organizations, and every organization with a pipeline row has its four
-- stage rows (and no stage rows without a pipeline row).
with org_sums as (
    select period_type, period_start, sum(event_count) as event_count,
        sum(artifacts_received) as artifacts_received, sum(artifacts_failed) as artifacts_failed
    from (select * from pipeline_hourly union all by name select * from pipeline_daily)
    where organization_id is not null
    group by all
),

platform as (
    select period_type, period_start, event_count, artifacts_received, artifacts_failed
    from (select * from pipeline_hourly union all by name select * from pipeline_daily)
    where organization_id is null
),

undercounted as (
    select 'platform < organizations' as problem, o.period_type, o.period_start,
        null as organization_id
    from org_sums o
    left join platform p using (period_type, period_start)
    where p.event_count is null or p.event_count < o.event_count
        or p.artifacts_received < o.artifacts_received or p.artifacts_failed < o.artifacts_failed
),

org_pipeline as (
    select period_type, period_start, organization_id
    from (select * from pipeline_hourly union all by name select * from pipeline_daily)
    where organization_id is not null
),

org_stages as (
    select period_type, period_start, organization_id, count(distinct pipeline_stage) as stages
    from (select * from stage_hourly union all by name select * from stage_daily)
    where organization_id is not null
    group by all
),

stage_scope_mismatch as (
    select 'organization stage rows' as problem, coalesce(p.period_type, s.period_type),
        coalesce(p.period_start, s.period_start), coalesce(p.organization_id, s.organization_id)
    from org_pipeline p
    full join org_stages s
        on p.period_type = s.period_type and p.period_start = s.period_start
        and p.organization_id = s.organization_id
    where p.organization_id is null or coalesce(s.stages, 0) <> 4
),

final as (
    select * from undercounted
    union all
    select * from stage_scope_mismatch
)

select * from final
