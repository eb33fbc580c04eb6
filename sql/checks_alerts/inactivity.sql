-- The latest artifact_received at or before $now (inside the window the caller loaded).

with received as (
    select "timestamp" from check_events where event_type = 'artifact_received'
),

final as (
    select max("timestamp") as last_received_at from received
)

select * from final
