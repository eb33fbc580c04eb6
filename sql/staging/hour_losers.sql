-- The later copies in the hour's files: every row but the first landed of its event_id.
-- A copy is the same event_id in the same hour partition; landing order is (file name, row
-- in file): a landing names its file after every file of the hour (sql/macros/landing_rank.sql).
-- `hour_raw` is the hour's files read with filename and file_row_number.
-- Copies are rare: `repeated_hashes` holds the 64-bit hashes of event_id that occur more than
-- once in the hour (rollup_session.py finds them by sorting the hashes); only rows with such a
-- hash are ranked, by the real event_id, so a hash collision costs a little work and never a
-- wrong answer.
with repeated as (
    select event_id, filename, file_row_number
    from hour_raw
    where hash(event_id) in (select id_hash from repeated_hashes)
),

final as (
    select filename, file_row_number
    from repeated
    qualify row_number() over (
        partition by event_id order by filename, file_row_number
    ) > 1
)

select * from final
