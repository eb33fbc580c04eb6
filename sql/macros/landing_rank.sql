-- landing_rank(...): which copy of an event a landed row is, 1 for the copy that wins. A copy is
-- the same event_id in the same hour partition; the first landed wins: file name (a landing
-- names its file, under the hour's lock, after every file the hour holds, so names sort in
-- landing order whatever the landing's clock or `now`), then row within the file. `ingested_at`
-- (the landing's `now`) decides nothing: it stays a parameter so that queries written for it
-- still run. A window function: call it in `qualify` with the row's columns, e.g.
--   qualify landing_rank(event_id, "date", "hour", ingested_at, filename, file_row_number) = 1
create or replace macro landing_rank(
        event_id, partition_date, partition_hour, ingested_at, filename, file_row) as
    row_number() over (
        partition by event_id, partition_date, partition_hour
        order by filename, file_row
    );
