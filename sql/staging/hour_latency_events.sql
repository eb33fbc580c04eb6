-- The hour's latency events (stage successes, artifact_completed), de-duplicated (`hour_in`
-- less the later copies in `hour_losers`: first landed wins): their own latency (duration_ms
-- or stage times), and for those that must be paired the keys pairing needs.
-- Narrow on purpose: the only per-event table materialised for the hour. No event_id: a
-- paired latency finds its event by the row of this table (`rowid`, paired_latency.sql).
with latency_types as (
    select event_type, stage, latency_kind from event_types where latency_kind is not null
),

typed as (
    select
        hour_in.*,
        latency_types.stage,
        latency_types.latency_kind,
        -- both stage times present: that pair is the latency; a negative one is no latency
        latency_types.latency_kind = 'stage'
            and stage_started_at is not null and stage_completed_at is not null as has_stage_times
    from hour_in
    join latency_types using (event_type)
    anti join hour_losers using (filename, file_row_number)
),

owned as (
    select
        *,
        case
            when duration_ms is not null then duration_ms
            when has_stage_times and stage_completed_at >= stage_started_at
                then (epoch_us(stage_completed_at) - epoch_us(stage_started_at)) / 1000.0
        end as own_latency_ms,
        duration_ms is null and not has_stage_times and artifact_id is not null as needs_pairing
    from typed
),

final as (
    select
        organization_id,
        latency_kind,
        stage,
        own_latency_ms,
        needs_pairing,
        case when needs_pairing then artifact_id end as artifact_id,
        case when needs_pairing then "timestamp" end as "timestamp"
    from owned
)

select * from final
