-- The later copies in the hour's files: every row but the first landed of its event_id.
-- A copy is the same event_id in the same hour partition; landing order is (ingested_at,
-- file name, row in file) because file names start with a nanosecond clock. `hour_raw` is the
-- hour's files read with filename and file_row_number.
-- Copies are rare: ids are first grouped by their 64-bit hash (much cheaper than grouping the
-- strings); only rows whose hash repeats are ranked by the real event_id, so a hash collision
-- costs a little work and never a wrong answer.
with raw as not materialized (
    select event_id, ingested_at, filename, file_row_number from hour_raw
),

repeated_hashes as (
    select hash(event_id) as id_hash from raw group by id_hash having count(*) > 1
),

final as (
    select filename, file_row_number
    from raw
    where hash(event_id) in (select id_hash from repeated_hashes)
    qualify row_number() over (
        partition by event_id order by ingested_at, filename, file_row_number
    ) > 1
)

select * from final
