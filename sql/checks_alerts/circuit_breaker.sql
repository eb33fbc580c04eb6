-- The latest circuit breaker event in the window; on a tie at the same instant, "opened" wins
-- (the safer reading for on-call).

with breaker as (
    select event_type, "timestamp"
    from check_events
    where event_type in ('circuit_breaker_opened', 'circuit_breaker_closed')
),

final as (
    select event_type as latest_event, "timestamp" as latest_at
    from breaker
    order by "timestamp" desc, (event_type = 'circuit_breaker_opened') desc
    limit 1
)

select * from final
