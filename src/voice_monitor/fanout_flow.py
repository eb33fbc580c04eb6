"""The Prefect side of fanout.py: one task per snapshot period, and the flow that submits them.

Its own module so that only a run with a Dask cluster imports Prefect; Dask workers unpickle
`build_period` from here, so they need voice-monitor installed.
"""

from __future__ import annotations

from datetime import datetime

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from voice_monitor.lake import Lake
from voice_monitor.rollups import RollupReport, build_periods

IO_RETRIES = 2
# Bounded like the deployed flows (flows/_shared.py): one period is one day's rollup at most,
# and a fan-out (a backfill of weeks) is bounded too, so a hung query frees its worker slot.
PERIOD_TIMEOUT = 150 * 60
FAN_OUT_TIMEOUT = 24 * 3600


def _retry_on_io(task, task_run, state) -> bool:
    # as the flows' retry condition: transient I/O only (a timeout would only time out again)
    return isinstance(state.data, OSError) and not isinstance(state.data, TimeoutError)


@task(name="build-period", task_run_name="build-{kind}-{period}", cache_policy=NO_CACHE,
      retries=IO_RETRIES, retry_delay_seconds=2, retry_condition_fn=_retry_on_io,
      timeout_seconds=PERIOD_TIMEOUT)
def build_period(kind: str, root: str, period: datetime, force: bool,
                 now: datetime) -> RollupReport:
    """Build one hourly or daily snapshot period (runs on a Dask worker)."""
    return build_periods(kind, Lake(root), [period], force, now)


@flow(name="rollup-fan-out", validate_parameters=False, timeout_seconds=FAN_OUT_TIMEOUT)
def fan_out(kind: str, root: str, periods: list[datetime], force: bool,
            now: datetime) -> RollupReport:
    """Build snapshot periods of one kind as parallel tasks; the report lists them in order."""
    futures = [build_period.submit(kind, root, period, force, now) for period in periods]
    report = RollupReport()
    for future in futures:  # in submission order: the same report as the in-process run
        report.add(future.result())
    return report
