-- pipeline_hourly: one row per (hour, scope). Scope = the platform (organization_id null, ALL
-- events, also org-less ones; present every hour, zeros when empty) or one organization that
-- had events. Besides the contract's columns it keeps the sums, counts and latency sketch
-- the daily rollup needs to be exact. Every rate is 0 when its denominator is 0. Doubles are
-- summed exactly from the per-type parts (sql/staging/exact_sum.sql): the same rows give the
-- same sums in any order. (The per-type confidence sums hold only their own event type.)
-- Reads the per-(organization, event type) counts and the hour's end-to-end latency
-- distributions (sql/staging).
with counts as (
    select * from hour_counts
),

latency as (
    select * from hour_latency_stats where latency_kind = 'e2e'
),

per_scope as (
    select
        organization_id,
        sum(events) as event_count,
        coalesce(sum(events) filter (where event_type = 'artifact_received'), 0)
            as artifacts_received,
        coalesce(sum(events) filter (where event_type = 'artifact_completed'), 0)
            as artifacts_completed,
        coalesce(sum(events) filter (where event_type = 'artifact_failed'), 0)
            as artifacts_failed,
        exact_sum_of_parts(confidence_sum) as transcript_confidence_sum,
        coalesce(sum(confidence_count) filter (where event_type = 'transcription_completed'), 0)
            as transcript_confidence_count,
        exact_sum_of_parts(claim_confidence_weighted_sum) as claim_confidence_weighted_sum,
        sum(claim_count) filter (where event_type = 'claims_extracted') as claims_extracted_total,
        sum(entity_count) filter (where stage = 'entity_resolution' and kind = 'success')
            as entities_resolved_total,
        sum(auto_resolved_count) filter (where stage = 'entity_resolution' and kind = 'success')
            as auto_resolved_total,
        sum(disambiguation_count) filter (where stage = 'entity_resolution' and kind = 'success')
            as disambiguation_total,
        sum(draft_count) filter (where event_type = 'drafts_generated') as drafts_generated_total,
        coalesce(sum(events) filter (where event_type = 'draft_confirmed'), 0) as drafts_confirmed,
        coalesce(sum(events) filter (where event_type = 'draft_rejected'), 0) as drafts_rejected,
        coalesce(sum(events) filter (where event_type = 'retry_initiated'), 0)
            as retries_initiated,
        coalesce(sum(events) filter (where event_type = 'retry_succeeded'), 0)
            as retries_succeeded,
        coalesce(sum(events) filter (where event_type = 'retry_failed'), 0) as retries_failed,
        exact_sum_of_parts(ai_cost_usd) as total_ai_cost_usd
    from counts
    group by grouping sets ((), (organization_id))
    having grouping(organization_id) = 1 or organization_id is not null
),

final as (
    select
        'hour' as period_type,
        $period_start::TIMESTAMPTZ as period_start,
        $period_end::TIMESTAMPTZ as period_end,
        s.organization_id,
        coalesce(s.event_count, 0)::BIGINT as event_count,
        s.artifacts_received::BIGINT as artifacts_received,
        s.artifacts_completed::BIGINT as artifacts_completed,
        s.artifacts_failed::BIGINT as artifacts_failed,
        ratio_or_zero(s.artifacts_failed, s.artifacts_completed + s.artifacts_failed)
            as overall_failure_rate,
        coalesce(l.latency_count, 0) as e2e_latency_count,
        ratio_or_zero(l.latency_sum_ms, l.latency_count) as e2e_latency_avg_ms,
        coalesce(l.latency_quantiles[1], 0.0) as e2e_latency_p50_ms,
        coalesce(l.latency_quantiles[2], 0.0) as e2e_latency_p95_ms,
        coalesce(l.latency_quantiles[3], 0.0) as e2e_latency_p99_ms,
        ratio_or_zero(s.transcript_confidence_sum, s.transcript_confidence_count)
            as avg_transcript_confidence,
        ratio_or_zero(s.claim_confidence_weighted_sum, s.claims_extracted_total)
            as avg_claim_confidence,
        coalesce(s.claims_extracted_total, 0)::BIGINT as claims_extracted_total,
        coalesce(s.entities_resolved_total, 0)::BIGINT as entities_resolved_total,
        ratio_or_zero(s.auto_resolved_total, s.entities_resolved_total) as auto_resolution_rate,
        ratio_or_zero(s.disambiguation_total, s.entities_resolved_total)
            as disambiguation_rate,
        coalesce(s.drafts_generated_total, 0)::BIGINT as drafts_generated_total,
        s.drafts_confirmed::BIGINT as drafts_confirmed,
        s.drafts_rejected::BIGINT as drafts_rejected,
        s.retries_initiated::BIGINT as retries_initiated,
        s.retries_succeeded::BIGINT as retries_succeeded,
        s.retries_failed::BIGINT as retries_failed,
        coalesce(s.total_ai_cost_usd, 0.0) as total_ai_cost_usd,
        ratio_or_zero(s.total_ai_cost_usd, s.artifacts_received) as avg_cost_per_artifact_usd,
        $computed_at::TIMESTAMPTZ as computed_at,
        -- sufficient statistics for the daily rollup
        coalesce(l.latency_sum_ms, 0.0) as e2e_latency_sum_ms,
        coalesce(l.latency_min_ms, 0.0) as e2e_latency_min_ms,
        coalesce(l.latency_max_ms, 0.0) as e2e_latency_max_ms,
        coalesce(l.sketch_keys, [])::INTEGER[] as e2e_sketch_keys,
        coalesce(l.sketch_counts, [])::BIGINT[] as e2e_sketch_counts,
        coalesce(s.transcript_confidence_sum, 0.0) as transcript_confidence_sum,
        s.transcript_confidence_count::BIGINT as transcript_confidence_count,
        coalesce(s.claim_confidence_weighted_sum, 0.0) as claim_confidence_weighted_sum,
        coalesce(s.auto_resolved_total, 0)::BIGINT as auto_resolved_total,
        coalesce(s.disambiguation_total, 0)::BIGINT as disambiguation_total
    from per_scope s
    left join latency l on s.organization_id is not distinct from l.organization_id
)

select * from final order by organization_id nulls first
