-- Artifacts waiting for disambiguation: their latest entity_needs_disambiguation has no later
-- entity_resolution_completed (a resolution at the same instant does not count as later).
-- Reads the hour digests (view check_digest).

with needing as (
    select artifact_id, max(needs_at) as needed_at
    from check_digest
    where artifact_id is not null and needs_at is not null
    group by artifact_id
),

resolutions as (
    select n.artifact_id, max(d.resolved_at) as resolved_at
    from check_digest d
    join needing n on d.artifact_id = n.artifact_id
    where d.resolved_at is not null
    group by n.artifact_id
),

final as (
    select count(*) as waiting_artifacts
    from needing
    left join resolutions using (artifact_id)
    where resolutions.resolved_at is null or resolutions.resolved_at <= needing.needed_at
)

select * from final
