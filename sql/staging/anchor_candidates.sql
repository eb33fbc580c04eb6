-- The anchor-type rows that some event of this hour waits for (`pending_anchors`), from the
-- hour itself (`hour_in`, less its later copies in `hour_losers`: first landed wins) and from
-- the look-back hours (`lookback_raw`: the 24 hours before this one). One query for both, so
-- the pending pairs are hashed once. `in_hour` tells them apart: look-back rows count only if
-- they are the first landed copy of their id (sql/staging/anchors.sql checks, by `event_id`,
-- which hour rows do not need). Look-back rows are few: only artifacts alive across the hour
-- boundary.
with anchor_types as (
    select event_type, anchor from event_types where anchor is not null
),

rows as (
    select
        true as in_hour, null::VARCHAR as event_id, artifact_id, event_type, "timestamp",
        filename, file_row_number
    from hour_in
    anti join hour_losers using (filename, file_row_number)
    union all
    select
        false as in_hour, event_id, artifact_id, event_type, "timestamp", filename,
        file_row_number
    from lookback_raw
),

final as (
    select
        rows.in_hour, rows.event_id, rows.artifact_id, anchor_types.anchor, rows."timestamp",
        rows.filename, rows.file_row_number
    from rows
    join anchor_types using (event_type)
    semi join pending_anchors using (artifact_id, anchor)
)

select * from final
