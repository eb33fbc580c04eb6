-- The hour's events counted and summed per (organization, event type): a few thousand rows
-- that both hourly rollups aggregate further, instead of scanning every event twice.
-- Doubles are summed with fsum (Kahan): parallel plain sums differ in the last bits from run
-- to run, and a rerun must give identical rows.
with hour_events as (
    select * from hour_events
),

final as (
    select
        organization_id,
        event_type,
        any_value(stage) as stage,
        any_value(kind) as kind,
        count(*) as events,
        fsum(confidence_score) as confidence_sum,
        count(confidence_score) as confidence_count,
        fsum(confidence_score * claim_count) as claim_confidence_weighted_sum,
        sum(claim_count) as claim_count,
        sum(entity_count) as entity_count,
        sum(auto_resolved_count) as auto_resolved_count,
        sum(disambiguation_count) as disambiguation_count,
        sum(draft_count) as draft_count,
        fsum(ai_cost_usd) as ai_cost_usd
    from hour_events
    group by organization_id, event_type
)

select * from final
