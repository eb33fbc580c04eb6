-- Artifacts waiting for disambiguation: their latest entity_needs_disambiguation has no later
-- entity_resolution_completed (a resolution at the same instant does not count as later).

with per_artifact as (
    select
        artifact_id,
        max("timestamp") filter (where event_type = 'entity_needs_disambiguation') as needed_at,
        max("timestamp") filter (where event_type = 'entity_resolution_completed') as resolved_at
    from check_events
    where artifact_id is not null
        and event_type in ('entity_needs_disambiguation', 'entity_resolution_completed')
    group by artifact_id
),

final as (
    select count(*) as waiting_artifacts
    from per_artifact
    where needed_at is not null
        and (resolved_at is null or resolved_at <= needed_at)
)

select * from final
