-- The digest of one event hour partition that the health checks need (files bound as $files):
-- one row per artifact with the latest time of each relevant kind of event, plus one summary
-- row (artifact_id null) with the hour's latest artifact_received and latest circuit breaker
-- event. De-duplicated exactly like every reader (contract §3): within one hour partition, one
-- copy per event_id, first landed wins. Closed hours are digested once and cached.

with source as (
    select event_id, event_type, artifact_id, "timestamp", filename, file_row_number
    from read_parquet($files, filename = true, file_row_number = true, union_by_name = true)
    where "timestamp" <= $now
),

deduped as (
    select event_type, artifact_id, "timestamp"
    from source
    qualify row_number() over (
        partition by event_id order by filename, file_row_number) = 1
),

relevant as (
    select *
    from deduped
    where event_type in (
        'artifact_received', 'artifact_completed', 'artifact_failed',
        'entity_needs_disambiguation', 'entity_resolution_completed',
        'circuit_breaker_opened', 'circuit_breaker_closed')
),

per_artifact as (
    select
        artifact_id,
        max("timestamp") filter (where event_type = 'artifact_received') as received_at,
        max("timestamp") filter (where event_type in ('artifact_completed', 'artifact_failed')) as terminal_at,
        max("timestamp") filter (where event_type = 'entity_needs_disambiguation') as needs_at,
        max("timestamp") filter (where event_type = 'entity_resolution_completed') as resolved_at,
        null::varchar as breaker_event,
        null::timestamptz as breaker_at
    from relevant
    where artifact_id is not null
        and event_type not in ('circuit_breaker_opened', 'circuit_breaker_closed')
    group by artifact_id
),

-- on a tie at the same instant "opened" wins: the safer reading for on-call
latest_breaker as (
    select event_type as breaker_event, "timestamp" as breaker_at
    from relevant
    where event_type in ('circuit_breaker_opened', 'circuit_breaker_closed')
    order by "timestamp" desc, (event_type = 'circuit_breaker_opened') desc
    limit 1
),

summary as (
    select
        null::varchar as artifact_id,
        (select max("timestamp") from relevant where event_type = 'artifact_received') as received_at,
        null::timestamptz as terminal_at,
        null::timestamptz as needs_at,
        null::timestamptz as resolved_at,
        (select breaker_event from latest_breaker) as breaker_event,
        (select breaker_at from latest_breaker) as breaker_at
),

final as (
    select * from per_artifact
    union all
    select * from summary
)

select * from final
