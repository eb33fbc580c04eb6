-- pipeline_hourly: the contract's snapshot columns (the rollups' extra sum/sketch columns stay in
-- raw_pipeline_hourly). Platform rows have organization_id null and scope
-- 'platform'; an organization's rows have scope 'organization'. Times are UTC.
create or replace view pipeline_hourly as
with snapshot as (
    select * from raw_pipeline_hourly
),

final as (
    select
        period_type, period_start, period_end, organization_id,
        case when organization_id is null then 'platform' else 'organization' end as scope,
        event_count, artifacts_received, artifacts_completed, artifacts_failed,
        overall_failure_rate,
        e2e_latency_count, e2e_latency_avg_ms,
        e2e_latency_p50_ms, e2e_latency_p95_ms, e2e_latency_p99_ms,
        avg_transcript_confidence, avg_claim_confidence,
        claims_extracted_total, entities_resolved_total,
        auto_resolution_rate, disambiguation_rate,
        drafts_generated_total, drafts_confirmed, drafts_rejected,
        retries_initiated, retries_succeeded, retries_failed,
        total_ai_cost_usd, avg_cost_per_artifact_usd,
        computed_at
    from snapshot
)

select * from final
