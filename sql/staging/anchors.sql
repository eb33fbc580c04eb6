-- The look-back anchors latencies are paired with, for the latency events that need pairing
-- this hour: `<stage>_started` (anchor = the stage's latency code, 1-4) and `artifact_received`
-- (anchor = 0, end-to-end; event_types) of the same artifact and the anchor that event needs. From the look-back candidates
-- (lookback_candidates.sql), a candidate counts only if it is the first landed copy of its id
-- in its hour: `candidate_hours_raw` holds the look-back hours that have candidates (a copy
-- lives in the folder of its hour), and every copy of a candidate id there is ranked, so a
-- later copy that differs can never win. An hour whose own rollup recorded its later copies
-- for the same files needs no ranking (recorded_anchors). The hour's own anchors are read
-- where they are paired (paired_latency.sql).
with copies as (
    -- every copy of a candidate id, read with only the columns that rank it
    select event_id, "timestamp", filename, file_row_number
    from candidate_hours_raw
    semi join (select distinct event_id from lookback_candidates) using (event_id)
),

first_landed as (
    select filename, file_row_number, "timestamp"
    from copies
    qualify row_number() over (
        partition by event_id, date_trunc('hour', "timestamp")
        order by filename, file_row_number
    ) = 1
),

lookback_anchors as (
    select lookback_candidates.artifact_id, lookback_candidates.anchor, first_landed."timestamp"
    from lookback_candidates
    join first_landed using (filename, file_row_number)
),

recorded_candidates as materialized (
    -- look-back hours whose own rollup recorded their later copies for these very files
    -- (`lookback_recorded_raw`, `lookback_later_copies`): every anchor but a later copy counts.
    -- Materialized: the few anchors of pending pairs first, then the later copies left out
    select lookback_recorded_raw.artifact_id, anchor_types.anchor,
        lookback_recorded_raw."timestamp", lookback_recorded_raw.file_index,
        lookback_recorded_raw.file_row_number
    from lookback_recorded_raw
    join (select event_type, anchor from event_types where anchor is not null) as anchor_types
        using (event_type)
    semi join hour_pending using (artifact_id, anchor)
),

recorded_anchors as (
    select artifact_id, anchor, "timestamp"
    from recorded_candidates
    anti join lookback_later_copies using (file_index, file_row_number)
),

final as (
    select * from lookback_anchors
    union all
    select * from recorded_anchors
)

select * from final
