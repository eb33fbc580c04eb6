-- losing_copies: the landed rows that are NOT the event (a later copy of an event_id in the
-- same hour partition), named by file and row; first landed wins (see landing_rank in
-- sql/macros/landing_rank.sql). Only keys that occur more than once are ranked, because
-- copies are rare.
create or replace view losing_copies as
with landed as (
    select event_id, "date", "hour", ingested_at, filename, file_row_number from raw_events
),

repeated_keys as (
    select event_id, "date", "hour"
    from landed
    group by all
    having count(*) > 1
),

final as (
    select filename, file_row_number
    from landed
    semi join repeated_keys using (event_id, "date", "hour")
    qualify landing_rank(event_id, "date", "hour", ingested_at, filename, file_row_number) > 1
)

select * from final
