-- Whether the files of one event hour ($files) hold any event stamped at or before $now
-- (inactivity is silent on a lake with no events yet as of $now).

with source as (
    select "timestamp" from read_parquet($files, union_by_name = true)
),

final as (
    select count(*) > 0 as has_events from source where "timestamp" <= $now
)

select * from final
