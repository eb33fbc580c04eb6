-- pipeline_daily: one row per (day, scope), built only from that day's pipeline_hourly rows
-- (`hourly_rows`). Sums and counts add up exactly, means are re-derived from the summed
-- numerators and denominators, percentiles come from the merged latency sketches.
with hourly as (
    select * from hourly_rows
),

scopes as (
    select null::VARCHAR as organization_id
    union
    select organization_id from hourly where organization_id is not null
),

sums as (
    select
        organization_id,
        sum(event_count) as event_count,
        sum(artifacts_received) as artifacts_received,
        sum(artifacts_completed) as artifacts_completed,
        sum(artifacts_failed) as artifacts_failed,
        sum(e2e_latency_count) as e2e_latency_count,
        fsum(e2e_latency_sum_ms order by period_start) as e2e_latency_sum_ms,
        min(e2e_latency_min_ms) filter (where e2e_latency_count > 0) as e2e_latency_min_ms,
        max(e2e_latency_max_ms) filter (where e2e_latency_count > 0) as e2e_latency_max_ms,
        fsum(transcript_confidence_sum order by period_start) as transcript_confidence_sum,
        sum(transcript_confidence_count) as transcript_confidence_count,
        fsum(claim_confidence_weighted_sum order by period_start) as claim_confidence_weighted_sum,
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
        fsum(total_ai_cost_usd order by period_start) as total_ai_cost_usd
    from hourly
    group by organization_id
),

scope_ids as materialized (
    -- an integer per scope (deterministic: it is read twice): the bucket merge groups
    -- integers, not strings
    select *, row_number() over (order by organization_id) as scope_id
    from (select distinct organization_id from hourly)
),

scoped as (
    select scope_ids.scope_id, hourly.e2e_sketch_keys, hourly.e2e_sketch_counts
    from hourly
    join scope_ids on hourly.organization_id is not distinct from scope_ids.organization_id
),

buckets as (
    select scope_id, unnest(e2e_sketch_keys) as key, unnest(e2e_sketch_counts) as n
    from scoped
),

sketches as (
    -- per scope, the keys of the buckets holding each quantile's floor and ceiling ranks
    select * from sketch_rank_keys(buckets)
),

scope_sketches as (
    select scope_names.organization_id, sketches as rank_keys
    from scope_ids as scope_names
    join sketches using (scope_id)
),

joined as (
    select scopes.organization_id, sums.* exclude (organization_id),
        sketch_percentiles(sums.e2e_latency_count, sums.e2e_latency_min_ms,
            sums.e2e_latency_max_ms, scope_sketches.rank_keys) as e2e_quantiles
    from scopes
    left join sums on scopes.organization_id is not distinct from sums.organization_id
    left join scope_sketches
        on scopes.organization_id is not distinct from scope_sketches.organization_id
),

final as (
    select
        'day' as period_type,
        $period_start::TIMESTAMPTZ as period_start,
        $period_end::TIMESTAMPTZ as period_end,
        organization_id,
        coalesce(event_count, 0)::BIGINT as event_count,
        coalesce(artifacts_received, 0)::BIGINT as artifacts_received,
        coalesce(artifacts_completed, 0)::BIGINT as artifacts_completed,
        coalesce(artifacts_failed, 0)::BIGINT as artifacts_failed,
        ratio_or_zero(artifacts_failed, artifacts_completed + artifacts_failed)
            as overall_failure_rate,
        coalesce(e2e_latency_count, 0)::BIGINT as e2e_latency_count,
        ratio_or_zero(e2e_latency_sum_ms, e2e_latency_count) as e2e_latency_avg_ms,
        e2e_quantiles[1] as e2e_latency_p50_ms,
        e2e_quantiles[2] as e2e_latency_p95_ms,
        e2e_quantiles[3] as e2e_latency_p99_ms,
        ratio_or_zero(transcript_confidence_sum, transcript_confidence_count)
            as avg_transcript_confidence,
        ratio_or_zero(claim_confidence_weighted_sum, claims_extracted_total)
            as avg_claim_confidence,
        coalesce(claims_extracted_total, 0)::BIGINT as claims_extracted_total,
        coalesce(entities_resolved_total, 0)::BIGINT as entities_resolved_total,
        ratio_or_zero(auto_resolved_total, entities_resolved_total) as auto_resolution_rate,
        ratio_or_zero(disambiguation_total, entities_resolved_total)
            as disambiguation_rate,
        coalesce(drafts_generated_total, 0)::BIGINT as drafts_generated_total,
        coalesce(drafts_confirmed, 0)::BIGINT as drafts_confirmed,
        coalesce(drafts_rejected, 0)::BIGINT as drafts_rejected,
        coalesce(retries_initiated, 0)::BIGINT as retries_initiated,
        coalesce(retries_succeeded, 0)::BIGINT as retries_succeeded,
        coalesce(retries_failed, 0)::BIGINT as retries_failed,
        coalesce(total_ai_cost_usd, 0.0) as total_ai_cost_usd,
        ratio_or_zero(total_ai_cost_usd, artifacts_received) as avg_cost_per_artifact_usd,
        $computed_at::TIMESTAMPTZ as computed_at,
        coalesce(e2e_latency_sum_ms, 0.0) as e2e_latency_sum_ms,
        coalesce(e2e_latency_min_ms, 0.0) as e2e_latency_min_ms,
        coalesce(e2e_latency_max_ms, 0.0) as e2e_latency_max_ms,
        coalesce(transcript_confidence_sum, 0.0) as transcript_confidence_sum,
        coalesce(transcript_confidence_count, 0)::BIGINT as transcript_confidence_count,
        coalesce(claim_confidence_weighted_sum, 0.0) as claim_confidence_weighted_sum,
        coalesce(auto_resolved_total, 0)::BIGINT as auto_resolved_total,
        coalesce(disambiguation_total, 0)::BIGINT as disambiguation_total
    from joined
)

select * from final order by organization_id nulls first
