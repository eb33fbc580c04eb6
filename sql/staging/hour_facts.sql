-- One row per de-duplicated event of the hour with its latency (stage or end-to-end, ms),
-- ready for the hourly rollups.
with hour_events as (
    select * from hour_events
),

paired as (
    select * from paired_latency
),

final as (
    select
        hour_events.* exclude (own_latency_ms, needs_pairing),
        coalesce(hour_events.own_latency_ms, paired.paired_latency_ms) as latency_ms
    from hour_events
    left join paired using (event_id)
)

select * from final
