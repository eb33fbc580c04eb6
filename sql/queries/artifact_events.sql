-- artifact_events: the de-duplicated events of one artifact, oldest first.
-- Only hours that hold a row of the artifact are read (the caller lists them), and within them
-- every copy of those event ids, so that first-landed-wins is decided on all copies. A non-null
-- $now hides every event stamped after it (a read at a past $now sees the artifact as it was then).
with landed as (
    select * from raw_events
),

candidate_ids as (
    select distinct event_id, "date", "hour" from landed where artifact_id = $artifact_id
),

first_landed as (
    -- every copy of those event ids, ranked: first landed wins (sql/macros/landing_rank.sql)
    select landed.*
    from landed
    semi join candidate_ids using (event_id, "date", "hour")
    qualify landing_rank(event_id, "date", "hour", ingested_at, filename, file_row_number) = 1
),

final as (
    select * exclude ("date", "hour", filename, file_row_number)
    from first_landed
    where artifact_id = $artifact_id
      and ($event_types is null or list_contains($event_types, event_type))
      and ($now is null or "timestamp" <= $now)
    order by "timestamp", event_id
)

select * from final
