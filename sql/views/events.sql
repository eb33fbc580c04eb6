-- events: every landed event once. A copy is the same event_id in the same hour partition;
-- the first one landed wins: earliest ingested_at, then file name (files are named in landing
-- order), then row within the file. `date`/`hour` are the UTC partition keys of `timestamp`.
create or replace view events as
with landed as (
    select * from raw_events
),

first_landed as (
    select *
    from landed
    qualify row_number() over (
        partition by event_id, "date", "hour"
        order by ingested_at, filename, file_row_number
    ) = 1
),

final as (
    select * exclude (filename, file_row_number) from first_landed
)

select * from final
