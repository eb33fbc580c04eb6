-- One row per (period, scope) in pipeline_*, per (period, scope, stage) in stage_*.
with keys as (
    select 'pipeline_hourly' as tbl, period_start, organization_id, null as pipeline_stage
    from pipeline_hourly
    union all
    select 'pipeline_daily', period_start, organization_id, null from pipeline_daily
    union all
    select 'stage_hourly', period_start, organization_id, pipeline_stage from stage_hourly
    union all
    select 'stage_daily', period_start, organization_id, pipeline_stage from stage_daily
),

final as (
    select tbl, period_start, organization_id, pipeline_stage, count(*) as copies
    from keys
    group by all
    having count(*) > 1
)

select * from final
