-- Every latency of the hour (ms) with its sketch key: stage latencies of success events
-- (latency_kind 'stage', by stage) and end-to-end latencies of artifact_completed ('e2e').
-- An event's own latency (duration_ms, else its stage times) where it has one; else the
-- paired one (`paired_latency`, for the events of hour_pending). Read straight from the hour's
-- rows (`hour_in` less the later copies in `hour_losers`), once, by hour_latency_stats.sql:
-- a view, not a table.
with latency_types as (
    select event_type, stage, latency_kind from event_types where latency_kind is not null
),

owned as (
    select
        hour_in.organization_id,
        latency_types.latency_kind,
        latency_types.stage,
        case
            when hour_in.duration_ms is not null then hour_in.duration_ms
            -- both stage times present: that pair is the latency; a negative one is no latency
            when latency_types.latency_kind = 'stage'
                and hour_in.stage_completed_at >= hour_in.stage_started_at
                then (epoch_us(hour_in.stage_completed_at)
                    - epoch_us(hour_in.stage_started_at)) / 1000.0
        end as latency_ms
    from hour_in
    join latency_types using (event_type)
    anti join hour_losers using (filename, file_row_number)
),

latencies as (
    -- an event with an own latency is never pending, so no event is in both
    select * from owned where latency_ms is not null
    union all
    select organization_id, latency_kind, stage, latency_ms from paired_latency
),

final as (
    select *, sketch_key(latency_ms) as sketch_key
    from latencies
)

select * from final
