-- recent_events: one page of events, newest first, keyset on (timestamp, event_id).
-- Filters apply to the de-duplicated event (the first copy landed), all together; a null
-- parameter means "no filter". `errors_only` keeps *_failed events and any with an error.
with deduplicated as (
    select * from events
),

filtered as (
    select *
    from deduplicated
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
),

after_cursor as (
    select *
    from filtered
    where $after_ts is null
       or "timestamp" < $after_ts
       or ("timestamp" = $after_ts and event_id < $after_id)
),

final as (
    select * exclude ("date", "hour")
    from after_cursor
    order by "timestamp" desc, event_id desc
    limit $limit
)

select * from final
