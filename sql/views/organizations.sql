-- organizations: the user-supplied names (dimensions/organizations.parquet), one row per id.
create or replace view organizations as
with dimension as (
    select * from raw_organizations
),

-- the file is user-supplied: ids and names are read as text, a row without an id is no
-- organization, and an id given twice keeps one name (the least, so the answer is stable)
final as (
    select organization_id::varchar as organization_id, min(name::varchar) as name
    from dimension
    where organization_id is not null
    group by all
)

select * from final
