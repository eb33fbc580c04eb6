-- The hour's latency events (stage successes, artifact_completed): their own latency
-- (duration_ms or stage times), and for those that must be paired the keys pairing needs.
-- Narrow on purpose: the only per-event table materialised for the hour.
with hour_events as (
    select * from hour_events
),

final as (
    select
        organization_id,
        latency_kind,
        stage,
        own_latency_ms,
        needs_pairing,
        case when needs_pairing then event_id end as event_id,
        case when needs_pairing then artifact_id end as artifact_id,
        case when needs_pairing then "timestamp" end as "timestamp"
    from hour_events
    where latency_kind is not null
)

select * from final
