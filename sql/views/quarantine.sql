-- quarantine: rejected input, raw, with the reason; `date` is the UTC day it was received.
create or replace view quarantine as
with rejected as (
    select * from raw_quarantine
),

final as (
    select raw, reason, source, received_at, "date" from rejected
)

select * from final
