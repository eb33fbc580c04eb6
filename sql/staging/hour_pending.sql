-- The hour's latency events (stage successes, artifact_completed) that must be paired: no
-- duration_ms, not both stage times, an artifact to pair on. De-duplicated like the hour's
-- other events (`hour_in` less the later copies in `hour_losers`: first landed wins).
-- Narrow on purpose: the only per-event table materialised for the hour, and only for the
-- events pairing needs (the others' latencies are computed where they are read,
-- hour_latencies.sql). anchor = what the event pairs with, as the code of its latency
-- (event_types.latency_code): its stage's `<stage>_started` (1-4), or for artifact_completed
-- `artifact_received` (0); the anchor events carry the same code (event_types.anchor).
with latency_types as (
    select event_type, latency_kind, latency_code from event_types where latency_kind is not null
),

final as (
    select
        hour_in.organization_id,
        hour_in.artifact_id,
        latency_types.latency_code as anchor,
        hour_in."timestamp"
    from hour_in
    join latency_types using (event_type)
    anti join hour_losers using (filename, file_row_number)
    where hour_in.duration_ms is null
        and hour_in.artifact_id is not null
        -- both stage times present: that pair is the latency (a negative one is no latency)
        and not (latency_types.latency_kind = 'stage'
            and hour_in.stage_started_at is not null and hour_in.stage_completed_at is not null)
)

select * from final
