-- Every latency of the hour (ms) with its sketch bucket: stage latencies of success events and
-- end-to-end latencies of artifact_completed, each distribution as its `latency_code` (0 end-to-
-- end, 1-4 the processing stages: event_types, rollup_session.prepare). An event's own latency
-- (duration_ms, else its stage times) where it has one; else the paired one (`paired_latency`,
-- for the events of hour_pending). Read straight from the hour's rows (`hour_in` less the later
-- copies in `hour_losers`), once, by hour_latency_stats.sql: a view, not a table.
-- `bucket` packs the distribution and the sketch key into one integer,
-- latency_code · 2^21 + sketch_key + 1 000 000 (a sketch key of a double lies in
-- [−37 300, 35 500], the key of 0 is −1 000 000, so the sum lies in [0, 2^21)): one integer to
-- group on instead of three columns, and ordered like the key within a distribution.
with latency_types as (
    select event_type, latency_kind, latency_code from event_types where latency_kind is not null
),

owned as (
    select
        hour_in.organization_id,
        latency_types.latency_code,
        case
            when hour_in.duration_ms is not null then hour_in.duration_ms
            -- both stage times present: that pair is the latency; a negative one is no latency
            when latency_types.latency_kind = 'stage'
                and hour_in.stage_completed_at >= hour_in.stage_started_at
                then (epoch_us(hour_in.stage_completed_at)
                    - epoch_us(hour_in.stage_started_at)) / 1000.0
        end as latency_ms
    from hour_in
    join latency_types using (event_type)
    anti join hour_losers using (filename, file_row_number)
),

latencies as (
    -- an event with an own latency is never pending, so no event is in both
    select * from owned where latency_ms is not null
    union all
    select organization_id, latency_code, latency_ms from paired_latency
),

final as (
    select *, latency_code * 2097152 + sketch_key(latency_ms) + 1000000 as bucket
    from latencies
)

select * from final
