-- The hour's latency distributions per scope, for each latency kind ('stage' per processing
-- stage, 'e2e' with no stage): the platform (organization_id null: all events) and every
-- organization. Count, exact sum (sql/staging/exact_sum.sql), min, max, the exact
-- p50/p95/p99 (quantile_cont) and the mergeable sketch (keys and counts in key order).
-- pipeline_hourly reads the 'e2e' rows, stage_hourly the 'stage' rows.
-- Grouped on integers (`latency_code`, and `bucket` = code and sketch key packed,
-- hour_latencies.sql), named once per distribution at the end: grouping on the text of kind
-- and stage cost twice as much.
with latencies as (
    select * from hour_latencies
),

stats as (
    select
        latency_code,
        organization_id,
        count(*) as latency_count,
        exact_sum(latency_ms) as latency_sum_ms,
        min(latency_ms) as latency_min_ms,
        max(latency_ms) as latency_max_ms,
        quantile_cont(latency_ms, [0.5, 0.95, 0.99]) as latency_quantiles
    from latencies
    group by grouping sets ((latency_code), (latency_code, organization_id))
    having grouping(organization_id) = 1 or organization_id is not null
),

buckets as (
    -- per organization, and for events without one (organization_id null: a group here)
    select organization_id, bucket, count(*) as n
    from latencies
    group by organization_id, bucket
),

scope_buckets as (
    select organization_id, bucket, n from buckets where organization_id is not null
    union all
    -- the platform's buckets: every group's, organizations' and the organization-less ones
    select null as organization_id, bucket, sum(n)::BIGINT as n from buckets group by bucket
),

sketches as (
    -- a bucket and its count packed as bucket · 2^36 + n (bucket < 5 · 2^21, so < 2^60): one
    -- sort of plain integers per sketch, in key order, instead of two ordered aggregates. A
    -- count that does not fit (2^36 = 68.7e9 latencies in one bucket of one scope in an hour)
    -- stops the build rather than garble the sketch
    select
        organization_id,
        bucket // 2097152 as latency_code,
        list_sort(list(bucket::BIGINT * 68719476736 + case when n < 68719476736 then n
            else error('a latency sketch bucket holds 2^36 or more latencies in one hour') end))
            as packed
    from scope_buckets
    group by organization_id, bucket // 2097152
),

kinds as (
    select distinct latency_code, latency_kind, stage from event_types where latency_code is not null
),

final as (
    select
        kinds.latency_kind,
        kinds.stage,
        stats.organization_id,
        stats.latency_count,
        stats.latency_sum_ms,
        stats.latency_min_ms,
        stats.latency_max_ms,
        stats.latency_quantiles,
        list_transform(sketches.packed,
            lambda p: ((p // 68719476736) % 2097152 - 1000000)::INTEGER) as sketch_keys,
        list_transform(sketches.packed, lambda p: p % 68719476736) as sketch_counts
    from stats
    join sketches
        on stats.latency_code = sketches.latency_code
        and stats.organization_id is not distinct from sketches.organization_id
    join kinds on stats.latency_code = kinds.latency_code
)

select * from final
