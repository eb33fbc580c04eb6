-- The hour's events counted and summed per (organization, event type): a few thousand rows
-- that both hourly rollups aggregate further, instead of scanning every event twice.
-- Read straight from the hour's rows (`hour_in` less the later copies in `hour_losers`): the
-- event-type table is joined to the few thousand groups, not to every event.
-- Doubles are summed with fsum (Kahan) over the values in ascending order: a sum in scan order
-- (plain or Kahan) differs in the last bits with the order the threads read the files in, which
-- differs from run to run and between a local and an object-store lake; a rerun, or the same
-- events on another store or after compaction, must give identical rows. Ordering costs a sort,
-- so only the values a rollup reads are sorted: confidence of transcription_completed, weighted
-- claim confidence of claims_extracted (null for the other types), every ai_cost_usd.
with landed as (
    select * from hour_in
    anti join hour_losers using (filename, file_row_number)
),

per_type as (
    select
        organization_id,
        event_type,
        count(*) as events,
        fsum(confidence_score order by confidence_score)
            filter (where event_type = 'transcription_completed' and confidence_score is not null)
            as confidence_sum,
        count(confidence_score) as confidence_count,
        fsum(confidence_score * claim_count order by confidence_score * claim_count)
            filter (where event_type = 'claims_extracted'
                and confidence_score * claim_count is not null)
            as claim_confidence_weighted_sum,
        sum(claim_count) as claim_count,
        sum(entity_count) as entity_count,
        sum(auto_resolved_count) as auto_resolved_count,
        sum(disambiguation_count) as disambiguation_count,
        sum(draft_count) as draft_count,
        fsum(ai_cost_usd order by ai_cost_usd) filter (where ai_cost_usd is not null)
            as ai_cost_usd
    from landed
    group by organization_id, event_type
),

final as (
    select
        per_type.organization_id,
        per_type.event_type,
        event_types.stage,
        event_types.kind,
        per_type.* exclude (organization_id, event_type)
    from per_type
    join event_types using (event_type)
)

select * from final
