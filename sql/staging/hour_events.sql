-- The events of one UTC hour [$hour_start, $hour_end), de-duplicated and typed.
-- A copy is the same event_id in the same hour partition and the first one landed wins:
-- landing order is (ingested_at, file name, row in file) because file names start with a
-- nanosecond clock. `hour_raw` is the hour's files read with filename and file_row_number.
-- Copies are rare, so only ids seen more than once are ranked (cheaper than ranking all rows).
with raw as (
    select * from hour_raw
),

event_types as (
    select * from event_types
),

copied_ids as (
    select event_id from raw group by event_id having count(*) > 1
),

later_copies as (
    select filename, file_row_number
    from raw
    where event_id in (select event_id from copied_ids)
    qualify row_number() over (
        partition by event_id order by ingested_at, filename, file_row_number
    ) > 1
),

landed as (
    select *
    from raw
    anti join later_copies using (filename, file_row_number)
    where "timestamp" >= $hour_start and "timestamp" < $hour_end
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
