-- Snapshot macros shared by the snapshot views (sql/views/) and the range queries
-- (sql/queries/). `period` is 'hour' or 'day'; the raw_* views are the rollups' files.

-- The snapshot rows of one period type as the rollups wrote them, with the extra sum and
-- sketch columns that range queries merge.
create or replace macro pipeline_rows(period) as table
    select * from raw_pipeline_hourly where period = 'hour'
    union all by name
    select * from raw_pipeline_daily where period = 'day';

create or replace macro stage_rows(period) as table
    select * from raw_stage_hourly where period = 'hour'
    union all by name
    select * from raw_stage_daily where period = 'day';

-- Platform rows (over all events) have organization_id null: `scope` says so explicitly.
create or replace macro scope_of(organization_id) as
    case when organization_id is null then 'platform' else 'organization' end;

-- The contract's snapshot columns (§6) of one period type, as the views show them. Times UTC.
create or replace macro pipeline_snapshot(period) as table
    select
        period_type, period_start, period_end, organization_id,
        scope_of(organization_id) as scope,
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
    from pipeline_rows(period);

create or replace macro stage_snapshot(period) as table
    select
        period_type, period_start, period_end, organization_id,
        scope_of(organization_id) as scope, pipeline_stage,
        started, succeeded, failed, failure_rate,
        latency_count, latency_avg_ms, latency_p50_ms, latency_p95_ms, latency_p99_ms,
        computed_at
    from stage_rows(period);

-- Every period of [first_start, last_start] for one scope (org null = the platform): the grid
-- that gap-free series join their snapshot rows to.
create or replace macro snapshot_periods(period, first_start, last_start, step, org) as table
    select
        period as period_type,
        period_start,
        period_start + step::INTERVAL as period_end,
        org::VARCHAR as organization_id
    from generate_series(first_start::TIMESTAMPTZ, last_start::TIMESTAMPTZ, step::INTERVAL)
        as periods(period_start);
