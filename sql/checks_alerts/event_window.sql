-- The events the health checks look at: only the types they need, from the hour partitions of
-- the retained window (the caller lists them as $files), up to $now.
-- De-duplicated like every reader (contract §3): one copy per (event_id, hour), first landed
-- wins. The type filter comes first so the window sort only sees the few relevant rows; a copy
-- whose event_type differs from the first landed copy is the only case this treats differently.

with source as (
    select
        event_id,
        event_type,
        artifact_id,
        "timestamp",
        ingested_at,
        filename,
        file_row_number
    from read_parquet($files, filename = true, file_row_number = true, union_by_name = true)
    where event_type in (
            'artifact_received', 'artifact_completed', 'artifact_failed',
            'entity_needs_disambiguation', 'entity_resolution_completed',
            'circuit_breaker_opened', 'circuit_breaker_closed')
        and "timestamp" <= $now
),

deduped as (
    select *
    from source
    qualify row_number() over (
        partition by event_id, date_trunc('hour', "timestamp")
        order by ingested_at, filename, file_row_number) = 1
),

final as (
    select event_type, artifact_id, "timestamp"
    from deduped
)

select * from final
