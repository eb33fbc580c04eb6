-- stage_daily: one row per (day, scope, processing stage)
-- with the contract's columns (§6), defined by the macro stage_snapshot
-- in sql/macros/snapshots.sql. Times are UTC.
create or replace view stage_daily as
select * from stage_snapshot('day')
