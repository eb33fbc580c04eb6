-- The hour's events counted and summed per (organization, event type): a few thousand rows
-- that both hourly rollups aggregate further, instead of scanning every event twice.
-- Read straight from the hour's rows (`hour_in` less the later copies in `hour_losers`): the
-- event-type table is joined to the few thousand groups, not to every event.
-- Doubles are summed exactly (sql/staging/exact_sum.sql): a sum in scan order differs in the
-- last bits with the order the threads read the files in, which differs from run to run and
-- between a local and an object-store lake; a rerun, or the same events on another store or
-- after compaction, must give identical rows. Each group keeps the exact parts of its sums
-- (`exact_parts`), so a scope's sum over many groups is rounded once, in pipeline_hourly.sql.
with landed as (
    select
        organization_id,
        event_type,
        confidence_score,
        case when event_type = 'transcription_completed' then confidence_score end
            as transcript_confidence,
        case when event_type = 'claims_extracted' then confidence_score * claim_count end
            as claim_confidence_weighted,
        claim_count,
        entity_count,
        auto_resolved_count,
        disambiguation_count,
        draft_count,
        ai_cost_usd
    from hour_in
    anti join hour_losers using (filename, file_row_number)
),

per_type as (
    select
        organization_id,
        event_type,
        count(*) as events,
        exact_parts(transcript_confidence) as confidence_sum,
        count(confidence_score) as confidence_count,
        exact_parts(claim_confidence_weighted) as claim_confidence_weighted_sum,
        sum(claim_count) as claim_count,
        sum(entity_count) as entity_count,
        sum(auto_resolved_count) as auto_resolved_count,
        sum(disambiguation_count) as disambiguation_count,
        sum(draft_count) as draft_count,
        exact_parts(ai_cost_usd) as ai_cost_usd
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
