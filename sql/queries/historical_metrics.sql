-- historical_metrics: one pipeline snapshot row per period of [$first, $last] for one scope
-- (the platform when $organization_id is null), with no gaps: a period without a snapshot row
-- gets a zero row (the rollups' convention for an empty period) and a null computed_at.
with snapshots as (
    select * from pipeline_hourly where $period = 'hour'
    union all by name
    select * from pipeline_daily where $period = 'day'
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

final as (
    select
        $period as period_type,
        periods.period_start,
        periods.period_start + $step::INTERVAL as period_end,
        $organization_id::VARCHAR as organization_id,
        coalesce(s.event_count, 0) as event_count,
        coalesce(s.artifacts_received, 0) as artifacts_received,
        coalesce(s.artifacts_completed, 0) as artifacts_completed,
        coalesce(s.artifacts_failed, 0) as artifacts_failed,
        coalesce(s.overall_failure_rate, 0.0) as overall_failure_rate,
        coalesce(s.e2e_latency_count, 0) as e2e_latency_count,
        coalesce(s.e2e_latency_avg_ms, 0.0) as e2e_latency_avg_ms,
        coalesce(s.e2e_latency_p50_ms, 0.0) as e2e_latency_p50_ms,
        coalesce(s.e2e_latency_p95_ms, 0.0) as e2e_latency_p95_ms,
        coalesce(s.e2e_latency_p99_ms, 0.0) as e2e_latency_p99_ms,
        coalesce(s.avg_transcript_confidence, 0.0) as avg_transcript_confidence,
        coalesce(s.avg_claim_confidence, 0.0) as avg_claim_confidence,
        coalesce(s.claims_extracted_total, 0) as claims_extracted_total,
        coalesce(s.entities_resolved_total, 0) as entities_resolved_total,
        coalesce(s.auto_resolution_rate, 0.0) as auto_resolution_rate,
        coalesce(s.disambiguation_rate, 0.0) as disambiguation_rate,
        coalesce(s.drafts_generated_total, 0) as drafts_generated_total,
        coalesce(s.drafts_confirmed, 0) as drafts_confirmed,
        coalesce(s.drafts_rejected, 0) as drafts_rejected,
        coalesce(s.retries_initiated, 0) as retries_initiated,
        coalesce(s.retries_succeeded, 0) as retries_succeeded,
        coalesce(s.retries_failed, 0) as retries_failed,
        coalesce(s.total_ai_cost_usd, 0.0) as total_ai_cost_usd,
        coalesce(s.avg_cost_per_artifact_usd, 0.0) as avg_cost_per_artifact_usd,
        s.computed_at
    from periods
    left join scoped as s using (period_start)
    order by periods.period_start
)

select * from final
