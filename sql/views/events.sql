-- events: every landed event once. A copy is the same event_id in the same hour partition;
-- the first one landed wins: earliest ingested_at, then file name (files are named in landing
-- order), then row within the file. `date`/`hour` are the UTC partition keys of `timestamp`.
-- Only keys that occur more than once are ranked (copies are rare), and the losing copies
-- are removed with an anti join, so filters on this view still reach the Parquet scan.
create or replace view events as
with landed as (
    select * from raw_events
),

repeated_keys as (
    select event_id, "date", "hour"
    from landed
    group by all
    having count(*) > 1
),

losing_copies as (
    select filename, file_row_number
    from landed
    semi join repeated_keys using (event_id, "date", "hour")
    qualify row_number() over (
        partition by event_id, "date", "hour"
        order by ingested_at, filename, file_row_number
    ) > 1
),

final as (
    select landed.* exclude (filename, file_row_number)
    from landed
    anti join losing_copies using (filename, file_row_number)
)

select * from final
