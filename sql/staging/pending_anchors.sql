-- The (artifact, anchor) pairs the hour's latency events wait for: anchor = the stage for a
-- stage success (its `<stage>_started`), 'e2e' for artifact_completed (its `artifact_received`).
with needing as (
    select artifact_id, case when latency_kind = 'e2e' then 'e2e' else stage end as anchor
    from hour_latency_events
    where needs_pairing
),

final as (
    select distinct artifact_id, anchor from needing
)

select * from final
