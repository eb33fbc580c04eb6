-- active_artifacts: artifacts received with no terminal event (artifact_completed/_failed)
-- among the retained events stamped at or before $now (a read at a past $now sees the lake as
-- it was then: no event from its future, so no negative time in stage). The current stage is that of the artifact's latest event that
-- has a stage; time in stage counts from its earliest event in that stage to $now.
-- Longest in stage first, keyset on (stage_entered_at, artifact_id). Each step reads the raw
-- log minus the losing copies (computed once) with its own filter.
with losers as materialized (
    select * from losing_copies
),

lifecycle as (
    select artifact_id, event_type, "timestamp"
    from raw_events
    anti join losers using (filename, file_row_number)
    where event_type in ('artifact_received', 'artifact_completed', 'artifact_failed')
      and artifact_id is not null
      and "timestamp" <= $now
),

received as (
    select artifact_id, min("timestamp") as received_at
    from lifecycle
    where event_type = 'artifact_received'
    group by artifact_id
),

open_artifacts as (
    select *
    from received
    anti join (select artifact_id from lifecycle where event_type <> 'artifact_received')
        using (artifact_id)
),

open_events as (
    select e.artifact_id, e.organization_id, e.pipeline_stage, e.event_type, e.event_id,
           e."timestamp"
    from raw_events as e
    anti join losers using (filename, file_row_number)
    semi join open_artifacts using (artifact_id)
    where e."timestamp" <= $now
),

latest as (
    select artifact_id, pipeline_stage as current_stage, event_type as last_event_type,
           "timestamp" as last_event_at
    from open_events
    where pipeline_stage is not null
    qualify row_number() over (
        partition by artifact_id order by "timestamp" desc, event_id desc
    ) = 1
),

summary as (
    select
        open_artifacts.artifact_id,
        max(e.organization_id) as organization_id,
        open_artifacts.received_at,
        latest.current_stage,
        latest.last_event_type,
        latest.last_event_at,
        min(e."timestamp") filter (where e.pipeline_stage = latest.current_stage)
            as stage_entered_at
    from open_artifacts
    join latest using (artifact_id)
    join open_events as e using (artifact_id)
    group by all
),

after_cursor as (
    select *
    from summary
    where $after_ts is null
       or stage_entered_at > $after_ts
       or (stage_entered_at = $after_ts and artifact_id > $after_id)
),

final as (
    select
        artifact_id, organization_id, received_at, current_stage, last_event_type,
        last_event_at, stage_entered_at,
        epoch($now - stage_entered_at) as time_in_stage_s
    from after_cursor
    order by stage_entered_at, artifact_id
    limit $limit
)

select * from final
