-- Rates, means and percentiles are finite numbers, never NaN, infinite or null (a rate with a
-- zero denominator is 0); rates of outcomes lie in [0, 1]; percentiles are ordered.
with metrics as (
    select 'pipeline_' || period_type as tbl, period_start, organization_id,
        null as pipeline_stage,
        [overall_failure_rate, e2e_latency_avg_ms, e2e_latency_p50_ms, e2e_latency_p95_ms,
         e2e_latency_p99_ms, avg_transcript_confidence, avg_claim_confidence,
         auto_resolution_rate, disambiguation_rate, total_ai_cost_usd,
         avg_cost_per_artifact_usd] as values,
        overall_failure_rate as failure_rate,
        [e2e_latency_p50_ms, e2e_latency_p95_ms, e2e_latency_p99_ms] as percentiles
    from (select * from pipeline_hourly union all by name select * from pipeline_daily)
    union all
    select 'stage_' || period_type, period_start, organization_id, pipeline_stage,
        [failure_rate, latency_avg_ms, latency_p50_ms, latency_p95_ms, latency_p99_ms],
        failure_rate,
        [latency_p50_ms, latency_p95_ms, latency_p99_ms]
    from (select * from stage_hourly union all by name select * from stage_daily)
),

final as (
    select *
    from metrics
    where len(list_filter(values, lambda v: v is null or isnan(v) or isinf(v))) > 0
        or failure_rate < 0 or failure_rate > 1
        or not (percentiles[1] <= percentiles[2] and percentiles[2] <= percentiles[3])
)

select * from final
