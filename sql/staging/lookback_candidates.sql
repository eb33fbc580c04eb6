-- Look-back rows (`lookback_raw`: the 24 hours before this one) that are anchors some event of
-- this hour waits for (`hour_pending`: the same artifact and anchor), if they are the first
-- landed copy of their id: sql/staging/anchors.sql keeps those. Few rows: only artifacts alive
-- across the hour boundary. Without their timestamps: anchors.sql reads those with the copies
-- it ranks, for these few rows only (the file says which hour a row is in).
with anchor_types as (
    select event_type, anchor from event_types where anchor is not null
),

final as (
    select lookback_raw.event_id, lookback_raw.artifact_id, anchor_types.anchor,
        lookback_raw.filename, lookback_raw.file_row_number
    from lookback_raw
    join anchor_types using (event_type)
    semi join hour_pending using (artifact_id, anchor)
)

select * from final
