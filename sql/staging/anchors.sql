-- The events latencies are paired with, for the latency events that need pairing this hour:
-- `<stage>_started` (anchor = the stage) and `artifact_received` (anchor = 'e2e') of the same
-- artifact and the anchor that event needs, from the hour itself (`hour_in`, less its later
-- copies) and from the 24 look-back hours (`lookback_raw`). Look-back copies are
-- de-duplicated per (event_id, hour) among ALL copies of a candidate id, so a later copy that
-- differs can never win.
with needing as (
    select artifact_id, case when latency_kind = 'e2e' then 'e2e' else stage end as anchor
    from hour_latency_events
    where needs_pairing
),

event_types as (
    select event_type, anchor from event_types where anchor is not null
),

pending as (
    select distinct artifact_id, anchor from needing
),

candidates as (
    -- look-back rows that would be anchors if they are the first landed copy of their id
    select lookback_raw.event_id, lookback_raw.artifact_id, event_types.anchor,
        lookback_raw."timestamp", lookback_raw.filename, lookback_raw.file_row_number
    from lookback_raw
    join event_types using (event_type)
    semi join pending using (artifact_id, anchor)
),

copies as (
    -- every copy of a candidate id, read with only the columns that rank it
    select event_id, "timestamp", ingested_at, filename, file_row_number
    from lookback_raw
    semi join (select distinct event_id from candidates) using (event_id)
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
    from candidates
    semi join first_landed using (filename, file_row_number)
),

hour_anchors as (
    -- the hour's own anchors, de-duplicated like its other events (first landed wins)
    select hour_in.artifact_id, event_types.anchor, hour_in."timestamp"
    from hour_in
    join event_types using (event_type)
    semi join pending using (artifact_id, anchor)
    anti join hour_losers using (filename, file_row_number)
),

final as (
    select * from hour_anchors
    union all
    select * from lookback_anchors
)

select * from final
