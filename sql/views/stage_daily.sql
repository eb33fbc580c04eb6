-- stage_daily: the contract's per-stage snapshot columns (extra sum/sketch columns stay in
-- raw_stage_daily). Platform rows have organization_id null and scope
-- 'platform'; an organization's rows have scope 'organization'. Times are UTC.
create or replace view stage_daily as
with snapshot as (
    select * from raw_stage_daily
),

final as (
    select
        period_type, period_start, period_end, organization_id,
        case when organization_id is null then 'platform' else 'organization' end as scope, pipeline_stage,
        started, succeeded, failed, failure_rate,
        latency_count, latency_avg_ms, latency_p50_ms, latency_p95_ms, latency_p99_ms,
        computed_at
    from snapshot
)

select * from final
