-- The (artifact, anchor) pairs the hour's latency events wait for: anchor = the stage for a
-- stage success (its `<stage>_started`), 'e2e' for artifact_completed (its `artifact_received`).
with final as (
    select distinct artifact_id, anchor from hour_pending
)

select * from final
