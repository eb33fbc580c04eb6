-- pipeline_daily: one row per (day, scope) with the contract's columns (§6), defined by
-- the macro pipeline_snapshot in sql/macros/snapshots.sql. Times are UTC.
create or replace view pipeline_daily as
select * from pipeline_snapshot('day')
