-- The latest circuit breaker event in the window, from the hour digests' summary rows; on a tie
-- at the same instant "opened" wins.

with breaker as (
    select breaker_event, breaker_at
    from check_digest
    where artifact_id is null and breaker_event is not null
),

final as (
    select breaker_event as latest_event, breaker_at as latest_at
    from breaker
    order by breaker_at desc, (breaker_event = 'circuit_breaker_opened') desc
    limit 1
)

select * from final
