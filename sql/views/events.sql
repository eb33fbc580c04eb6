-- events: every landed event once: the raw log without its losing copies (see
-- losing_copies.sql for the first-landed-wins rule). `date`/`hour` are the UTC partition
-- keys of `timestamp`. An anti join keeps filters on this view reaching the Parquet scan.
create or replace view events as
with landed as (
    select * from raw_events
),

final as (
    select landed.* exclude (filename, file_row_number)
    from landed
    anti join losing_copies using (filename, file_row_number)
)

select * from final
