-- Latencies found by pairing, for the hour's events that carry neither duration_ms nor both
-- stage times. Stage success: minus the LATEST `<stage>_started` of the artifact at or before
-- it (a retry's start wins). artifact_completed: minus the EARLIEST `artifact_received` of the
-- artifact. Either only within 24 h (inclusive), in milliseconds.
with latency_events as (
    select * from hour_latency_events
),

anchors as (
    select * from anchors
),

needing as (
    select event_id, artifact_id, stage, latency_kind, "timestamp"
    from latency_events
    where needs_pairing
),

started as (
    select artifact_id, anchor as stage, "timestamp" from anchors where anchor <> 'e2e'
),

received as (
    select artifact_id, "timestamp" from anchors where anchor = 'e2e'
),

stage_pairs as (
    -- the latest start at or before the success; if that one is > 24 h old, all are. A plain
    -- hash join and max: an artifact has one or two starts per stage, cheaper than ASOF
    select
        needing.event_id,
        epoch_us(needing."timestamp") - max(epoch_us(started."timestamp")) as gap_us
    from needing
    join started
        on needing.artifact_id = started.artifact_id
        and needing.stage = started.stage
        and started."timestamp" <= needing."timestamp"
    where needing.latency_kind = 'stage'
    group by needing.event_id, needing."timestamp"
),

e2e_pairs as (
    select
        needing.event_id,
        epoch_us(needing."timestamp") - min(epoch_us(received."timestamp")) as gap_us
    from needing
    join received
        on needing.artifact_id = received.artifact_id
        and received."timestamp" <= needing."timestamp"
        and received."timestamp" >= needing."timestamp" - interval 24 hours
    where needing.latency_kind = 'e2e'
    group by needing.event_id, needing."timestamp"
),

final as (
    select event_id, gap_us / 1000.0 as paired_latency_ms
    from (select * from stage_pairs union all select * from e2e_pairs)
    where gap_us <= 24 * 3600 * 1000000::BIGINT
)

select * from final
