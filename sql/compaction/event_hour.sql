-- event_hour: every row of one event hour partition ($files), for rewriting as one file.
-- No row is dropped (the raw log keeps every copy). Rows are sorted for artifact lookups
-- (row-group min/max on artifact_id), with each event's copies together in landing order:
-- they sit under their first-landed copy's artifact and time, so in the new file (named
-- after the newest it replaces) file_row_number still ranks copies as (file name, row) did,
-- and first-landed-wins picks the same copy.
with landed as (
    select * from read_parquet($files, union_by_name = true, filename = true,
                               file_row_number = true)
),

ranked as (
    select
        *,
        row_number() over (
            partition by event_id order by filename, file_row_number
        ) as copy_rank
    from landed
),

first_copies as (
    select event_id, artifact_id as first_artifact_id, "timestamp" as first_timestamp
    from ranked
    where copy_rank = 1
),

final as (
    select ranked.* exclude (filename, file_row_number, copy_rank)
    from ranked
    join first_copies using (event_id)
    order by first_artifact_id nulls last, first_timestamp, event_id, copy_rank
)

select * from final
