-- alerts: one row per alert, its current state folded from the alert store's lifecycle
-- records (alerts/date=*/*.parquet: raised, escalated, acknowledged, resolved). Every record
-- repeats the alert's identity, so an alert stays whole when retention has dropped the partition of its
-- raise; a record briefly in two files is de-duplicated by record_id. An alert is acknowledged
-- once (a second acknowledgement is refused); should a lake hold two, the first is shown. The Python
-- `active_alerts`/`alert_history` use this same view over the same files. An alert's severity is
-- the highest it reached: an `escalated` record (a check found its condition at a higher
-- severity while it was active) carries the new severity, message, value and threshold, and
-- every later record of the alert repeats them; an alert never de-escalates.
create or replace view alerts as
with records as (
    select *
    from raw_alerts
    qualify row_number() over (partition by record_id order by record_id) = 1
),

ranked as (
    select
        *,
        -- the record of the highest severity, the latest of those (record_id sorts in write
        -- order) holds what the alert says now; a log written before escalations repeats the
        -- same values on every record of an alert, so it reads as before
        coalesce(list_position(['low', 'medium', 'high', 'critical'], severity), 0)::varchar
        || record_id as said_key
    from records
),

folded as (
    select
        alert_id,
        any_value(alert_type) as alert_type,
        any_value(organization_id) as organization_id,
        arg_max({'severity': severity, 'message': message, 'value': value,
                 'threshold': threshold}, said_key) as said,
        any_value(raised_at) as raised_at,
        -- a resolution never precedes its raise: a run at a `now` before it (a replay at a
        -- later --now came first) resolves the alert at its raise. greatest() skips nulls.
        case when count(*) filter (where record_type = 'resolved') > 0 then greatest(
            min(recorded_at) filter (where record_type = 'resolved'), any_value(raised_at))
        end as resolved_at,
        -- when it reached its severity (its latest escalation), never before its raise
        case when count(*) filter (where record_type = 'escalated') > 0 then greatest(
            max(recorded_at) filter (where record_type = 'escalated'), any_value(raised_at))
        end as escalated_at,
        min_by(recorded_at, record_id) filter (where record_type = 'acknowledged')
            as acknowledged_at,
        min_by(acknowledged_by, record_id) filter (where record_type = 'acknowledged')
            as acknowledged_by,
        min_by(note, record_id) filter (where record_type = 'acknowledged')
            as acknowledged_note
    from ranked
    group by alert_id
),

final as (
    select
        alert_id, alert_type, organization_id, said.severity as severity,
        case when resolved_at is null then 'active' else 'resolved' end as status,
        said.message as message, said.value as value, said.threshold as threshold,
        raised_at, resolved_at, acknowledged_at, acknowledged_by, acknowledged_note, escalated_at
    from folded
)

select * from final
