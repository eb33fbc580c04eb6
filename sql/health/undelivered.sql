-- undelivered: webhook notifications not accepted yet, one row per (alert, event) whose latest
-- delivery record in the alert log (by record_id, the write order) is 'undelivered'.
-- `note` holds the event (raised | escalated | resolved) on these records. See health/outbox.py.
with deliveries as (
    select alert_id, note as event, record_type
    from raw_alerts
    where record_type in ('undelivered', 'delivered')
    qualify row_number() over (partition by alert_id, note order by record_id desc) = 1
),

final as (
    select alert_id, event
    from deliveries
    where record_type = 'undelivered'
    order by alert_id, event
)

select * from final
