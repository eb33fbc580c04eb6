-- The events of one UTC hour, de-duplicated and typed: a view, never materialised, so each
-- step reads only the columns it needs. `hour_in` is the hour's files already filtered to
-- [hour_start, hour_end) (filename, file_row_number kept); `hour_losers` the later copies
-- (sql/staging/hour_losers.sql), removed here: first landed wins.
with landed as (
    select * from hour_in
    anti join hour_losers using (filename, file_row_number)
),

event_types as (
    select * from event_types
),

typed as (
    select
        landed.*,
        event_types.stage,
        event_types.kind,
        event_types.latency_kind,
        -- both stage times present: that pair is the latency; a negative one is no latency
        event_types.latency_kind = 'stage'
            and stage_started_at is not null and stage_completed_at is not null as has_stage_times
    from landed
    join event_types using (event_type)
),

final as (
    select
        event_id,
        event_type,
        stage,
        kind,
        latency_kind,
        "timestamp",
        artifact_id,
        organization_id,
        case
            when latency_kind is null then null
            when duration_ms is not null then duration_ms
            when has_stage_times and stage_completed_at >= stage_started_at
                then (epoch_us(stage_completed_at) - epoch_us(stage_started_at)) / 1000.0
        end as own_latency_ms,
        latency_kind is not null and duration_ms is null and not has_stage_times
            and artifact_id is not null as needs_pairing,
        confidence_score,
        claim_count,
        entity_count,
        auto_resolved_count,
        disambiguation_count,
        draft_count,
        ai_cost_usd
    from typed
)

select * from final
