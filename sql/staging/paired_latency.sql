-- Latencies found by pairing, for the hour's events that carry neither duration_ms nor both
-- stage times (`hour_pending`). Stage success: minus the LATEST `<stage>_started` of the
-- artifact at or before it (a retry's start wins; if that one is > 24 h old, all are).
-- artifact_completed: minus the EARLIEST `artifact_received` of the artifact within the 24 h
-- before it. Either only within 24 h (inclusive), in milliseconds. One hash join and max/min:
-- an artifact has one or two anchors of a kind, cheaper than ASOF. Keyed like
-- hour_latency_stats (latency code, organization): hour_latencies.sql adds these rows to the
-- events' own latencies.
with needing as (
    select
        rowid as pending_row,  -- the event's row in hour_pending: an integer key
        organization_id,
        artifact_id,
        anchor,  -- the latency code (0 end-to-end, 1-4 a stage), also the anchors' (event_types)
        "timestamp"
    from hour_pending
),

anchors as (
    -- the hour's own anchors, de-duplicated like its other events (first landed wins), all of
    -- them: the join below keeps those of a pending event (a semi join first cost as much as
    -- the join itself); and the look-back's (anchors.sql)
    select hour_in.artifact_id, anchor_types.anchor, hour_in."timestamp"
    from hour_in
    join (select event_type, anchor from event_types where anchor is not null) as anchor_types
        using (event_type)
    anti join hour_losers using (filename, file_row_number)
    union all
    select * from anchors
),

pairs as (
    -- grouped by the integer row key alone (the event's time and anchor follow from it): the
    -- latest and the earliest anchor before the event; `final` picks the one its kind needs
    select
        needing.pending_row,
        max(epoch_us(anchors."timestamp")) as latest_us,
        min(epoch_us(anchors."timestamp")) as earliest_us
    from needing
    join anchors
        on needing.artifact_id = anchors.artifact_id
        and needing.anchor = anchors.anchor
        and anchors."timestamp" <= needing."timestamp"
        and (needing.anchor <> 0
            or anchors."timestamp" >= needing."timestamp" - interval 24 hours)
    group by needing.pending_row
),

gaps as (
    select
        needing.organization_id,
        needing.anchor as latency_code,
        epoch_us(needing."timestamp") - case
            when needing.anchor <> 0 then pairs.latest_us else pairs.earliest_us
        end as gap_us
    from pairs
    join needing using (pending_row)
),

final as (
    select
        organization_id,
        latency_code,
        gap_us / 1000.0 as latency_ms
    from gaps
    where gap_us <= 24 * 3600 * 1000000::BIGINT
)

select * from final
