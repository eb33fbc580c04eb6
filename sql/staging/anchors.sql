-- The events latencies are paired with, for the latency events that need pairing this hour:
-- `<stage>_started` (anchor = the stage) and `artifact_received` (anchor = 'e2e') of the same
-- artifact and the anchor that event needs (`pending_anchors`), from the hour itself
-- (`hour_in`, less its later copies) and from the look-back candidates. A candidate counts
-- only if it is the first landed copy of its id in its hour: `candidate_hours_raw` holds the
-- look-back hours that have candidates (a copy lives in the folder of its hour), and every
-- copy of a candidate id there is ranked, so a later copy that differs can never win.
with anchor_types as (
    select event_type, anchor from event_types where anchor is not null
),

copies as (
    -- every copy of a candidate id, read with only the columns that rank it
    select event_id, "timestamp", ingested_at, filename, file_row_number
    from candidate_hours_raw
    semi join (select distinct event_id from lookback_candidates) using (event_id)
),

first_landed as (
    select filename, file_row_number
    from copies
    qualify row_number() over (
        partition by event_id, date_trunc('hour', "timestamp")
        order by ingested_at, filename, file_row_number
    ) = 1
),

lookback_anchors as (
    select artifact_id, anchor, "timestamp"
    from lookback_candidates
    semi join first_landed using (filename, file_row_number)
),

hour_anchors as (
    -- the hour's own anchors, de-duplicated like its other events (first landed wins)
    select hour_in.artifact_id, anchor_types.anchor, hour_in."timestamp"
    from hour_in
    join anchor_types using (event_type)
    semi join pending_anchors using (artifact_id, anchor)
    anti join hour_losers using (filename, file_row_number)
),

final as (
    select * from hour_anchors
    union all
    select * from lookback_anchors
)

select * from final
