-- Daily counts and sums equal the sum of that day's hourly rows, for every day whose 24 hourly
-- platform rows are all still there (retention drops hourly rows long before daily ones).
with hourly as (
    select date_trunc('day', period_start) as day, *
    from pipeline_hourly
),

complete_days as (
    select day from hourly where organization_id is null group by day having count(*) = 24
),

hourly_sums as (
    select
        day, organization_id,
        sum(event_count) as event_count,
        sum(artifacts_received) as artifacts_received,
        sum(artifacts_completed) as artifacts_completed,
        sum(artifacts_failed) as artifacts_failed,
        sum(e2e_latency_count) as e2e_latency_count,
        sum(claims_extracted_total) as claims_extracted_total,
        sum(entities_resolved_total) as entities_resolved_total,
        sum(drafts_generated_total) as drafts_generated_total,
        sum(drafts_confirmed + drafts_rejected) as drafts_decided,
        sum(retries_initiated + retries_succeeded + retries_failed) as retries,
        sum(total_ai_cost_usd) as total_ai_cost_usd
    from hourly
    where day in (select day from complete_days)
    group by all
),

stage_hourly_sums as (
    select date_trunc('day', period_start) as day, organization_id, pipeline_stage,
        sum(started) as started, sum(succeeded) as succeeded, sum(failed) as failed,
        sum(latency_count) as latency_count
    from stage_hourly
    where date_trunc('day', period_start) in (select day from complete_days)
    group by all
),

pipeline_mismatch as (
    select 'pipeline_daily' as tbl, h.day, h.organization_id, null as pipeline_stage
    from hourly_sums h
    left join pipeline_daily d
        on d.period_start = h.day and d.organization_id is not distinct from h.organization_id
    where d.period_start is null
        or d.event_count <> h.event_count
        or d.artifacts_received <> h.artifacts_received
        or d.artifacts_completed <> h.artifacts_completed
        or d.artifacts_failed <> h.artifacts_failed
        or d.e2e_latency_count <> h.e2e_latency_count
        or d.claims_extracted_total <> h.claims_extracted_total
        or d.entities_resolved_total <> h.entities_resolved_total
        or d.drafts_generated_total <> h.drafts_generated_total
        or d.drafts_confirmed + d.drafts_rejected <> h.drafts_decided
        or d.retries_initiated + d.retries_succeeded + d.retries_failed <> h.retries
        or abs(d.total_ai_cost_usd - h.total_ai_cost_usd) > 1e-9 * greatest(1, h.total_ai_cost_usd)
),

stage_mismatch as (
    select 'stage_daily' as tbl, h.day, h.organization_id, h.pipeline_stage
    from stage_hourly_sums h
    left join stage_daily d
        on d.period_start = h.day and d.organization_id is not distinct from h.organization_id
        and d.pipeline_stage = h.pipeline_stage
    where d.period_start is null
        or d.started <> h.started or d.succeeded <> h.succeeded or d.failed <> h.failed
        or d.latency_count <> h.latency_count
),

final as (
    select * from pipeline_mismatch
    union all
    select * from stage_mismatch
)

select * from final
