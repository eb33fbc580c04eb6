-- quarantine: rejected input, raw, with the reason and its category (a short code to group by,
-- see sql/macros/reason_category.sql; derived from the reason for files written before landing
-- stored it); `date` is the UTC day it was received.
create or replace view quarantine as
with rejected as (
    select * from raw_quarantine
),

final as (
    select
        raw, reason, coalesce(reason_category, reason_category_of(reason)) as reason_category,
        source, received_at, "date"
    from rejected
)

select * from final
