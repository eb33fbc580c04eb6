-- Every latency of the hour (ms) with its sketch key: stage latencies of success events
-- (latency_kind 'stage', by stage) and end-to-end latencies of artifact_completed ('e2e').
-- Own latency (duration_ms or stage times) first, else the paired one.
with hour_events as (
    select * from hour_events
),

paired as (
    select * from paired_latency
),

latencies as (
    select
        hour_events.organization_id,
        hour_events.latency_kind,
        hour_events.stage,
        coalesce(hour_events.own_latency_ms, paired.paired_latency_ms) as latency_ms
    from hour_events
    left join paired using (event_id)
    where hour_events.latency_kind is not null
),

final as (
    select *, sketch_key(latency_ms) as sketch_key
    from latencies
    where latency_ms is not null
)

select * from final
