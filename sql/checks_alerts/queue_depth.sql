-- Active artifacts: received in the window and no terminal event (completed or failed) for them
-- in the window. Events without an artifact_id cannot be matched and are left out.

with window_events as (
    select * from check_events where artifact_id is not null
),

received as (
    select distinct artifact_id from window_events where event_type = 'artifact_received'
),

terminal as (
    select distinct artifact_id
    from window_events
    where event_type in ('artifact_completed', 'artifact_failed')
),

final as (
    select count(*) as active_artifacts
    from received
    where artifact_id not in (select artifact_id from terminal)
)

select * from final
