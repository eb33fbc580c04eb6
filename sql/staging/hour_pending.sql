-- The hour's latency events (stage successes, artifact_completed) that must be paired: no
-- duration_ms, not both stage times, an artifact to pair on. De-duplicated like the hour's
-- other events (`hour_in` less the later copies in `hour_losers`: first landed wins).
-- Narrow on purpose: the only per-event table materialised for the hour, and only for the
-- events pairing needs (the others' latencies are computed where they are read,
-- hour_latencies.sql). anchor = what the event pairs with: its stage (`<stage>_started`), or
-- 'e2e' for artifact_completed (`artifact_received`).
with latency_types as (
    select event_type, stage, latency_kind from event_types where latency_kind is not null
),

final as (
    select
        hour_in.organization_id,
        hour_in.artifact_id,
        case when latency_types.latency_kind = 'e2e' then 'e2e' else latency_types.stage end
            as anchor,
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
