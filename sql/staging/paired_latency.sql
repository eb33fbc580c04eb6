-- Latencies found by pairing, for the hour's events that carry neither duration_ms nor both
-- stage times. Stage success: minus the LATEST `<stage>_started` of the artifact at or before
-- it (a retry's start wins; if that one is > 24 h old, all are). artifact_completed: minus the
-- EARLIEST `artifact_received` of the artifact within the 24 h before it. Either only within
-- 24 h (inclusive), in milliseconds. One hash join and max/min: an artifact has one or two
-- anchors of a kind, cheaper than ASOF.
with needing as (
    select
        rowid as latency_row,  -- the event's row in hour_latency_events: an integer key
        artifact_id,
        latency_kind,
        case when latency_kind = 'e2e' then 'e2e' else stage end as anchor,
        "timestamp"
    from hour_latency_events
    where needs_pairing
),

anchors as (
    select * from anchors
),

pairs as (
    select
        needing.latency_row,
        epoch_us(needing."timestamp") - case
            when needing.latency_kind = 'stage' then max(epoch_us(anchors."timestamp"))
            else min(epoch_us(anchors."timestamp"))
        end as gap_us
    from needing
    join anchors
        on needing.artifact_id = anchors.artifact_id
        and needing.anchor = anchors.anchor
        and anchors."timestamp" <= needing."timestamp"
        and (needing.latency_kind = 'stage'
            or anchors."timestamp" >= needing."timestamp" - interval 24 hours)
    group by needing.latency_row, needing."timestamp", needing.latency_kind
),

final as (
    select latency_row, gap_us / 1000.0 as paired_latency_ms
    from pairs
    where gap_us <= 24 * 3600 * 1000000::BIGINT
)

select * from final
