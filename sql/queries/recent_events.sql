-- recent_events: one page of events, newest first, keyset on (timestamp, event_id).
-- Filters apply to the de-duplicated event, all together; a null parameter means "no filter";
-- `errors_only` keeps *_failed events and any with an error code or message.
-- De-duplication (first copy landed wins, as in the `events` view) is decided only for the
-- newest $scan_limit rows that pass the filters: a winning copy that passes the filters is
-- itself such a row, so dropping the losers among them is exact. All $scan_limit rows come
-- back flagged `first_copy`; if too few are, the caller asks again with a larger $scan_limit.
with landed as (
    select * from raw_events
),

filtered as (
    select *
    from landed
    where ($event_types is null or list_contains($event_types, event_type))
      and ($stage is null or pipeline_stage = $stage)
      and ($organization_id is null or organization_id = $organization_id)
      and ($artifact_id is null or artifact_id = $artifact_id)
      and ($start is null or "timestamp" >= $start)
      and ($end is null or "timestamp" < $end)
      and (not $errors_only
           or suffix(event_type, '_failed')
           or error_code is not null
           or error_message is not null)
      and ($after_ts is null
           or "timestamp" < $after_ts
           or ("timestamp" = $after_ts and event_id < $after_id))
),

newest as (
    select * from filtered order by "timestamp" desc, event_id desc limit $scan_limit
),

first_landed as (
    -- the winning copy of each of those events (sql/macros/landing_rank.sql)
    select event_id, "date", "hour", filename, file_row_number
    from landed
    semi join newest using (event_id, "date", "hour")
    qualify landing_rank(event_id, "date", "hour", ingested_at, filename, file_row_number) = 1
),

final as (
    select
        newest.* exclude ("date", "hour", filename, file_row_number),
        first_landed.event_id is not null as first_copy
    from newest
    left join first_landed using (event_id, "date", "hour", filename, file_row_number)
    order by "timestamp" desc, event_id desc
)

select * from final
