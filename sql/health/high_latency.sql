-- Platform end-to-end p95 of the hour $hour against its baseline: the mean platform hourly p95
-- over [$baseline_start, $hour), counting only hours with completions. The caller passes only
-- the snapshot files of those hours as $files. If a partition briefly holds two files, the
-- latest computed row of a period wins.

with hourly as (
    select period_start, e2e_latency_p95_ms, e2e_latency_count
    from read_parquet($files, union_by_name = true)
    where organization_id is null
    qualify row_number() over (partition by period_start order by computed_at desc) = 1
),

latest as (
    select e2e_latency_p95_ms as p95_ms, e2e_latency_count as completions
    from hourly
    where period_start = $hour
),

baseline as (
    select avg(e2e_latency_p95_ms) as baseline_ms, count(*) as baseline_hours
    from hourly
    where period_start >= $baseline_start
        and period_start < $hour
        and e2e_latency_count > 0
),

final as (
    select latest.p95_ms, latest.completions, baseline.baseline_ms, baseline.baseline_hours
    from baseline
    left join latest on true
)

select * from final
