-- artifact_hours: which hour partitions hold any row of one artifact (to read only those).
with landed as (
    select "date", "hour", artifact_id from raw_events
),

final as (
    select distinct "date", "hour" from landed where artifact_id = $artifact_id
)

select * from final
