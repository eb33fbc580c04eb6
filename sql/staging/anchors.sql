-- The look-back anchors latencies are paired with, for the latency events that need pairing
-- this hour: `<stage>_started` (anchor = the stage) and `artifact_received` (anchor = 'e2e') of
-- the same artifact and the anchor that event needs, from the look-back candidates
-- (lookback_candidates.sql). A candidate counts only if it is the first landed copy of its id
-- in its hour: `candidate_hours_raw` holds the look-back hours that have candidates (a copy
-- lives in the folder of its hour), and every copy of a candidate id there is ranked, so a
-- later copy that differs can never win. The hour's own anchors are read where they are paired
-- (paired_latency.sql).
with copies as (
    -- every copy of a candidate id, read with only the columns that rank it
    select event_id, "timestamp", ingested_at, filename, file_row_number
    from candidate_hours_raw
    semi join (select distinct event_id from lookback_candidates) using (event_id)
),

first_landed as (
    select filename, file_row_number, "timestamp"
    from copies
    qualify row_number() over (
        partition by event_id, date_trunc('hour', "timestamp")
        order by ingested_at, filename, file_row_number
    ) = 1
),

lookback_anchors as (
    select lookback_candidates.artifact_id, lookback_candidates.anchor, first_landed."timestamp"
    from lookback_candidates
    join first_landed using (filename, file_row_number)
),

final as (
    select * from lookback_anchors
)

select * from final
