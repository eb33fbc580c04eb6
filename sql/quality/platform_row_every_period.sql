-- Every snapshot period has exactly one platform row (organization_id null) in pipeline_*,
-- and the platform has each of the four processing stages once in stage_*.
with pipeline as (
    select 'pipeline_hourly' as tbl, period_start, organization_id from pipeline_hourly
    union all
    select 'pipeline_daily', period_start, organization_id from pipeline_daily
),

stage as (
    select 'stage_hourly' as tbl, period_start, organization_id, pipeline_stage from stage_hourly
    union all
    select 'stage_daily', period_start, organization_id, pipeline_stage from stage_daily
),

periods as (
    select tbl, period_start from pipeline
    union
    select replace(tbl, 'stage_', 'pipeline_'), period_start from stage
),

platform_rows as (
    select tbl, period_start, count(*) as n
    from pipeline where organization_id is null group by all
),

platform_stages as (
    select replace(tbl, 'stage_', 'pipeline_') as tbl, period_start,
        count(distinct pipeline_stage) as stages
    from stage
    where organization_id is null
        and pipeline_stage in ('transcription', 'claims_extraction', 'entity_resolution',
                               'draft_generation')
    group by all
),

final as (
    select periods.tbl, periods.period_start, platform_rows.n, platform_stages.stages
    from periods
    left join platform_rows using (tbl, period_start)
    left join platform_stages using (tbl, period_start)
    where coalesce(platform_rows.n, 0) <> 1 or coalesce(platform_stages.stages, 0) <> 4
)

select * from final
