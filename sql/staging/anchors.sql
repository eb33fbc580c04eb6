-- The events latencies are paired with, for the artifacts that need pairing this hour:
-- `<stage>_started` (anchor = the stage) and `artifact_received` (anchor = 'e2e'), from the
-- hour itself (`hour_events`, already de-duplicated) and from the 24 look-back hours
-- (`lookback_raw`). Look-back copies are de-duplicated per (event_id, hour) among ALL copies
-- of a candidate id, so a later copy that differs can never win.
with hour_events as (
    select * from hour_events
),

lookback as (
    select * from lookback_raw
),

event_types as (
    select * from event_types
),

pending as (
    select distinct artifact_id from hour_events where needs_pairing
),

candidate_ids as (
    select distinct lookback.event_id
    from lookback
    join event_types using (event_type)
    where event_types.anchor is not null
        and lookback.artifact_id in (select artifact_id from pending)
),

lookback_landed as (
    select *
    from lookback
    where event_id in (select event_id from candidate_ids)
    qualify row_number() over (
        partition by event_id, date_trunc('hour', "timestamp")
        order by ingested_at, filename, file_row_number
    ) = 1
),

lookback_anchors as (
    select lookback_landed.artifact_id, event_types.anchor, lookback_landed."timestamp"
    from lookback_landed
    join event_types using (event_type)
    where event_types.anchor is not null
        and lookback_landed.artifact_id in (select artifact_id from pending)
),

hour_anchors as (
    select hour_events.artifact_id, event_types.anchor, hour_events."timestamp"
    from hour_events
    join event_types using (event_type)
    where event_types.anchor is not null
        and hour_events.artifact_id in (select artifact_id from pending)
),

final as (
    select * from hour_anchors
    union all
    select * from lookback_anchors
)

select * from final
