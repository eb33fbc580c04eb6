-- organizations: the user-supplied names (dimensions/organizations.parquet), one row per id.
create or replace view organizations as
with dimension as (
    select * from raw_organizations
),

final as (
    select organization_id, name from dimension
)

select * from final
