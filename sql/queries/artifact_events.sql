-- artifact_events: the de-duplicated events of one artifact, oldest first.
-- Only hours that hold a row of the artifact are read (the caller lists them), and within them
-- every copy of those event ids, so that first-landed-wins is decided on all copies.
with landed as (
    select * from raw_events
),

candidate_ids as (
    select distinct event_id, "date", "hour" from landed where artifact_id = $artifact_id
),

copies as (
    select landed.*
    from landed
    semi join candidate_ids using (event_id, "date", "hour")
),

first_landed as (
    select *
    from copies
    qualify row_number() over (
        partition by event_id, "date", "hour"
        order by ingested_at, filename, file_row_number
    ) = 1
),

final as (
    select * exclude ("date", "hour", filename, file_row_number)
    from first_landed
    where artifact_id = $artifact_id
      and ($event_types is null or list_contains($event_types, event_type))
    order by "timestamp", event_id
)

select * from final
