-- The hour's events counted and summed per (organization, event type): a few thousand rows
-- that both hourly rollups aggregate further, instead of scanning every event twice.
-- Doubles are summed with fsum (Kahan) over the values in ascending order: a sum in scan order
-- (plain or Kahan) differs in the last bits with the order the threads read the files in, which
-- differs from run to run and between a local and an object-store lake; a rerun, or the same
-- events on another store or after compaction, must give identical rows. Ordering costs a
-- sort (nulls filtered out first: most events carry none of these values).
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
        fsum(confidence_score order by confidence_score)
            filter (where confidence_score is not null) as confidence_sum,
        count(confidence_score) as confidence_count,
        fsum(confidence_score * claim_count order by confidence_score * claim_count)
            filter (where confidence_score * claim_count is not null)
            as claim_confidence_weighted_sum,
        sum(claim_count) as claim_count,
        sum(entity_count) as entity_count,
        sum(auto_resolved_count) as auto_resolved_count,
        sum(disambiguation_count) as disambiguation_count,
        sum(draft_count) as draft_count,
        fsum(ai_cost_usd order by ai_cost_usd) filter (where ai_cost_usd is not null) as ai_cost_usd
    from hour_events
    group by organization_id, event_type
)

select * from final
