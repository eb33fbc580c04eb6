-- Active artifacts: received within the window and no terminal event (completed or failed) for
-- them anywhere in the window. Reads the hour digests (view check_digest): artifacts received
-- without a terminal event in the same hour are the few candidates; only they are looked up
-- among the other hours' terminal events.

with candidates as (
    select distinct artifact_id
    from check_digest
    where artifact_id is not null and received_at is not null and terminal_at is null
),

terminated as (
    select distinct c.artifact_id
    from check_digest d
    join candidates c on d.artifact_id = c.artifact_id
    where d.terminal_at is not null
),

final as (
    select count(*) as active_artifacts
    from candidates
    where artifact_id not in (select artifact_id from terminated)
)

select * from final
