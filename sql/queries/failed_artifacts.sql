-- failed_artifacts: artifacts whose latest terminal event is artifact_failed (a later
-- artifact_completed clears it; at the same instant, completed wins). Newest failure first,
-- keyset on (failed_at, artifact_id). Stage and error come from the latest failure before it.
-- Each step reads the raw log minus the losing copies (computed once) with its own filter,
-- so only the rows it needs leave the Parquet scan. A non-null $now hides every event stamped
-- after it (a read at a past $now sees the lake as it was then).
with losers as materialized (
    select * from losing_copies
),

terminal as (
    select artifact_id, event_type, "timestamp"
    from raw_events
    anti join losers using (filename, file_row_number)
    where event_type in ('artifact_completed', 'artifact_failed') and artifact_id is not null
      and ($now is null or "timestamp" <= $now)
),

latest_terminal as (
    select *
    from terminal
    qualify row_number() over (
        partition by artifact_id
        order by "timestamp" desc, (event_type = 'artifact_completed') desc
    ) = 1
),

failed as (
    select artifact_id, "timestamp" as failed_at
    from latest_terminal
    where event_type = 'artifact_failed'
      and ($since is null or "timestamp" >= $since)
),

failed_events as (
    select e.artifact_id, e.organization_id, e.event_type, e.pipeline_stage, e."timestamp",
           e.error_code, e.error_message
    from raw_events as e
    anti join losers using (filename, file_row_number)
    semi join failed using (artifact_id)
),

details as (
    select
        failed.artifact_id,
        failed.failed_at,
        max(e.organization_id) as organization_id,
        arg_max(e.pipeline_stage, e."timestamp")
            filter (where suffix(e.event_type, '_failed') and e.pipeline_stage is not null)
            as failed_stage,
        arg_max(e.error_code, e."timestamp")
            filter (where e.error_code is not null or e.error_message is not null) as error_code,
        arg_max(e.error_message, e."timestamp")
            filter (where e.error_code is not null or e.error_message is not null)
            as error_message,
        count(*) filter (where suffix(e.event_type, '_failed')) as failure_events,
        count(*) filter (where e.event_type = 'retry_initiated') as retries
    from failed
    join failed_events as e
        on e.artifact_id = failed.artifact_id and e."timestamp" <= failed.failed_at
    group by failed.artifact_id, failed.failed_at
),

after_cursor as (
    select *
    from details
    where $after_ts is null
       or failed_at < $after_ts
       or (failed_at = $after_ts and artifact_id < $after_id)
),

final as (
    select
        artifact_id, organization_id, failed_at, failed_stage, error_code, error_message,
        failure_events, retries
    from after_cursor
    order by failed_at desc, artifact_id desc
    limit $limit
)

select * from final
