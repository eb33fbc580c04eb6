-- pipeline_hourly: one row per (hour, scope) with the contract's columns (§6), defined by
-- the macro pipeline_snapshot in sql/macros/snapshots.sql. Times are UTC.
create or replace view pipeline_hourly as
select * from pipeline_snapshot('hour')
