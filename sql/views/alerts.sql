-- alerts: one row per alert, its current state folded from the alert store's lifecycle
-- records (alerts/date=*/*.parquet: raised, acknowledged, resolved). Every record repeats the
-- alert's identity, so an alert stays whole when retention has dropped the partition of its
-- raise; a record briefly in two files is de-duplicated by record_id. An alert is acknowledged
-- once (a second acknowledgement is refused); should a lake hold two, the first is shown. The Python
-- `active_alerts`/`alert_history` use this same view over the same files.
create or replace view alerts as
with records as (
    select *
    from raw_alerts
    qualify row_number() over (partition by record_id order by record_id) = 1
),

folded as (
    select
        alert_id,
        any_value(alert_type) as alert_type,
        any_value(organization_id) as organization_id,
        any_value(severity) as severity,
        any_value(message) as message,
        any_value(value) as value,
        any_value(threshold) as threshold,
        any_value(raised_at) as raised_at,
        -- a resolution never precedes its raise: a run at a `now` before it (a replay at a
        -- later --now came first) resolves the alert at its raise. greatest() skips nulls.
        case when count(*) filter (where record_type = 'resolved') > 0 then greatest(
            min(recorded_at) filter (where record_type = 'resolved'), any_value(raised_at))
        end as resolved_at,
        min_by(recorded_at, record_id) filter (where record_type = 'acknowledged')
            as acknowledged_at,
        min_by(acknowledged_by, record_id) filter (where record_type = 'acknowledged')
            as acknowledged_by,
        min_by(note, record_id) filter (where record_type = 'acknowledged')
            as acknowledged_note
    from records
    group by alert_id
),

final as (
    select
        alert_id, alert_type, organization_id, severity,
        case when resolved_at is null then 'active' else 'resolved' end as status,
        message, value, threshold, raised_at, resolved_at,
        acknowledged_at, acknowledged_by, acknowledged_note
    from folded
)

select * from final
