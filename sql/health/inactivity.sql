-- The latest artifact_received at or before $now in the window, from the hour digests' summary
-- rows (an artifact_received without an artifact_id counts too).

with summaries as (
    select received_at from check_digest where artifact_id is null
),

final as (
    select max(received_at) as last_received_at from summaries
)

select * from final
