-- Every latency of the hour (ms) with its sketch key: stage latencies of success events
-- (latency_kind 'stage', by stage) and end-to-end latencies of artifact_completed ('e2e').
-- Own latency (duration_ms or stage times) first, else the paired one.
with latency_events as (
    select rowid as latency_row, * from hour_latency_events
),

paired as (
    select * from paired_latency
),

latencies as (
    select
        latency_events.organization_id,
        latency_events.latency_kind,
        latency_events.stage,
        coalesce(latency_events.own_latency_ms, paired.paired_latency_ms) as latency_ms
    from latency_events
    left join paired using (latency_row)
),

final as (
    select *, sketch_key(latency_ms) as sketch_key
    from latencies
    where latency_ms is not null
)

select * from final
