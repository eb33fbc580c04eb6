-- org_breakdown: per organization, totals over the snapshot periods in [$first, $last],
-- joined to organization names ("Unknown" when the dimension has none), most artifacts
-- received first. Rates and means are summed numerators over summed denominators, never an
-- average of the periods' rates.
with org_rows as (
    select * from pipeline_rows($period)
    where organization_id is not null
      and period_start between $first and $last
),

names as (
    select organization_id, any_value(name) as name from organizations group by organization_id
),

sums as (
    select
        organization_id,
        sum(event_count) as event_count,
        sum(artifacts_received) as artifacts_received,
        sum(artifacts_completed) as artifacts_completed,
        sum(artifacts_failed) as artifacts_failed,
        sum(e2e_latency_count) as e2e_latency_count,
        sum(e2e_latency_sum_ms) as e2e_latency_sum_ms,
        sum(transcript_confidence_sum) as transcript_confidence_sum,
        sum(transcript_confidence_count) as transcript_confidence_count,
        sum(claim_confidence_weighted_sum) as claim_confidence_weighted_sum,
        sum(claims_extracted_total) as claims_extracted_total,
        sum(entities_resolved_total) as entities_resolved_total,
        sum(auto_resolved_total) as auto_resolved_total,
        sum(disambiguation_total) as disambiguation_total,
        sum(drafts_generated_total) as drafts_generated_total,
        sum(drafts_confirmed) as drafts_confirmed,
        sum(drafts_rejected) as drafts_rejected,
        sum(retries_initiated) as retries_initiated,
        sum(retries_succeeded) as retries_succeeded,
        sum(retries_failed) as retries_failed,
        sum(total_ai_cost_usd) as total_ai_cost_usd
    from org_rows
    group by organization_id
),

final as (
    select
        sums.organization_id,
        coalesce(names.name, 'Unknown') as name,
        event_count::BIGINT as event_count,
        artifacts_received::BIGINT as artifacts_received,
        artifacts_completed::BIGINT as artifacts_completed,
        artifacts_failed::BIGINT as artifacts_failed,
        ratio_or_zero(artifacts_failed, artifacts_completed + artifacts_failed)
            as overall_failure_rate,
        e2e_latency_count::BIGINT as e2e_latency_count,
        ratio_or_zero(e2e_latency_sum_ms, e2e_latency_count) as e2e_latency_avg_ms,
        ratio_or_zero(transcript_confidence_sum, transcript_confidence_count)
            as avg_transcript_confidence,
        ratio_or_zero(claim_confidence_weighted_sum, claims_extracted_total)
            as avg_claim_confidence,
        claims_extracted_total::BIGINT as claims_extracted_total,
        entities_resolved_total::BIGINT as entities_resolved_total,
        ratio_or_zero(auto_resolved_total, entities_resolved_total) as auto_resolution_rate,
        ratio_or_zero(disambiguation_total, entities_resolved_total) as disambiguation_rate,
        drafts_generated_total::BIGINT as drafts_generated_total,
        drafts_confirmed::BIGINT as drafts_confirmed,
        drafts_rejected::BIGINT as drafts_rejected,
        retries_initiated::BIGINT as retries_initiated,
        retries_succeeded::BIGINT as retries_succeeded,
        retries_failed::BIGINT as retries_failed,
        total_ai_cost_usd,
        ratio_or_zero(total_ai_cost_usd, artifacts_received) as avg_cost_per_artifact_usd
    from sums
    left join names using (organization_id)
    order by artifacts_received desc, sums.organization_id
)

select * from final
