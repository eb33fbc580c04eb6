-- The hour's latency distributions per scope, for each latency kind ('stage' per processing
-- stage, 'e2e' with no stage): the platform (organization_id null: all events) and every
-- organization. Count, exact sum (sql/staging/exact_sum.sql), min, max, the exact
-- p50/p95/p99 (quantile_cont) and the mergeable sketch (keys and counts in key order, a group
-- by and two ordered lists: much cheaper than histogram() and its map). pipeline_hourly reads
-- the 'e2e' rows, stage_hourly the 'stage' rows.
with latencies as (
    select * from hour_latencies
),

stats as (
    select
        latency_kind,
        stage,
        organization_id,
        count(*) as latency_count,
        exact_sum(latency_ms) as latency_sum_ms,
        min(latency_ms) as latency_min_ms,
        max(latency_ms) as latency_max_ms,
        quantile_cont(latency_ms, [0.5, 0.95, 0.99]) as latency_quantiles
    from latencies
    group by grouping sets ((latency_kind, stage), (latency_kind, stage, organization_id))
    having grouping(organization_id) = 1 or organization_id is not null
),

buckets as (
    select latency_kind, stage, organization_id, sketch_key, count(*) as n
    from latencies
    group by grouping sets (
        (latency_kind, stage, sketch_key), (latency_kind, stage, organization_id, sketch_key)
    )
    having grouping(organization_id) = 1 or organization_id is not null
),

sketches as (
    select
        latency_kind,
        stage,
        organization_id,
        list(sketch_key order by sketch_key) as sketch_keys,
        list(n order by sketch_key) as sketch_counts
    from buckets
    group by latency_kind, stage, organization_id
),

final as (
    select stats.*, sketches.sketch_keys, sketches.sketch_counts
    from stats
    join sketches
        on stats.latency_kind = sketches.latency_kind
        and stats.stage is not distinct from sketches.stage
        and stats.organization_id is not distinct from sketches.organization_id
)

select * from final
