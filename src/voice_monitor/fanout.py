"""Rollups fanned out on a Dask cluster: one Prefect task per period (contract §13).

With VOICE_MONITOR_DASK=tcp://scheduler:8786, `voice-monitor backfill`, `rollup hourly|daily`
and the rollup flows build their periods as Prefect tasks of a `rollup-fan-out` flow that runs
on Prefect's Dask task runner (prefect-dask): the hours of a rebuild in parallel, then — in a
second fan-out, once every hour is written — the days built from them. Each task builds one
period with the same code as the in-process run (rollups.build_periods) and writes only that
period's partitions and manifest, atomically, so parallel tasks never touch the same file.

Dask workers import this package and read and write the lake at the same path (or the same
object store), so every worker host needs voice-monitor installed and the lake mounted alike.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from voice_monitor import storage
from voice_monitor.lake import Lake
from voice_monitor.rollups import RollupReport
from voice_monitor.temporary_server import SETTING, did_not_start, patient_start

DASK_ENV = "VOICE_MONITOR_DASK"
WORKERS_WAIT_S = 30.0  # for a worker of a scheduler that has none yet (a cluster starting)


class NoWorkersError(ConnectionError):
    """The Dask scheduler answers but has no worker to run the fan-out's tasks."""


class DaskPeriods:
    """A rollups.PeriodMap that builds each period as a Prefect task on a Dask cluster."""

    def __init__(self, address: str):
        if not well_formed(address):
            raise ValueError(f"bad Dask scheduler address {address!r} in {DASK_ENV}; "
                             f"expected e.g. tcp://scheduler:8786")
        self.address = address

    def __call__(self, kind: str, lake: Lake, periods: list[datetime], force: bool,
                 now: datetime) -> RollupReport:
        if not periods:
            return RollupReport()
        # Prefect and Dask are imported only when a cluster is configured
        from prefect.context import TaskRunContext
        from prefect_dask import DaskTaskRunner

        from voice_monitor.fanout_flow import fan_out

        runner = DaskTaskRunner(address=self.address)
        # workers may run elsewhere: give them the lake's URL or absolute path, not our cwd
        root = storage.shared_url(lake.root) if lake.remote else str(lake.root.absolute())

        def run() -> RollupReport:
            # prefect-dask sends the submitting task's run context with every task; called from
            # a flow's task (flows/hourly_rollup.py), that names the task's function in a module
            # the scheduler and workers cannot import ("Error during deserialization of the
            # task graph"). The fan-out needs none of it: it is a subflow of the calling flow.
            TaskRunContext.__var__.set(None)
            with patient_start():  # the fan-out's flow may start Prefect's temporary server
                return fan_out.with_options(task_runner=runner)(kind, root, periods, force, now)

        try:
            self._reach()  # before Prefect's temporary server starts (~30 s) for the fan-out
            return contextvars.copy_context().run(run)
        except NoWorkersError:
            raise
        except Exception as exc:
            said = on_workers(exc, lake, self.address)
            if said is None:
                if not isinstance(exc, OSError | RuntimeError):
                    raise
                self._say(exc)
                raise
            failed = exc
        # the store refusing or missing this host too is not the workers' (asked outside the
        # handler: an error of its own would else be read along the workers' as theirs)
        _answers_here(lake)
        raise said from failed

    def _say(self, exc: OSError | RuntimeError) -> None:
        """Raise the one-line error for a scheduler out of reach, or a Prefect server that did
        not start; return for any other `exc`."""
        if isinstance(exc, OSError):
            if self.address not in str(exc):
                return
            # Dask's "Timed out trying to connect to tcp://…" named no setting and no fix
            raise ConnectionError(
                f"cannot reach the Dask scheduler in {DASK_ENV}: {exc}; check that it runs "
                f"and listens at {self.address}, or unset {DASK_ENV} to build in this "
                "process") from exc
        if isinstance(exc, RuntimeError):
            if not did_not_start(exc):
                return
            # an I/O failure (a flow retries it), with the fix: Prefect's own says none
            raise ConnectionError(
                f"the Dask fan-out ({DASK_ENV}) runs as a Prefect flow, and Prefect's temporary "
                f"API server did not start in time ({exc}); point PREFECT_API_URL at a running "
                "Prefect server (prefect server start), or allow it longer with "
                f"{SETTING}=300") from exc

    def _reach(self) -> None:
        """Connect to a tcp:// scheduler once, as Dask would (its connect timeout, its OSError):
        an absent scheduler is named at once, not after Prefect's temporary server started.
        A scheduler with no worker is given WORKERS_WAIT_S for one to register, then named:
        the fan-out's tasks queued there for its 24-hour timeout, the command silent. An
        adaptive cluster at minimum 0 is named too (it starts a worker for queued tasks only):
        waiting on it was the silent wait again for a lone scheduler, which no probe tells apart
        from it; a minimum of one worker is its fix."""
        if not self.address.startswith("tcp://"):
            return  # (tls needs the cluster's security settings: the fan-out's own connect)
        from distributed.comm import connect
        from distributed.core import rpc

        async def probe() -> int:
            comm = await connect(self.address)
            await comm.close()
            deadline = time.monotonic() + WORKERS_WAIT_S
            async with rpc(self.address) as scheduler:
                while True:
                    workers = (await scheduler.identity()).get("n_workers", 1)
                    if workers or time.monotonic() >= deadline:
                        return workers
                    await asyncio.sleep(0.5)

        # on a thread of its own: the caller may be inside an event loop (a Prefect task)
        with ThreadPoolExecutor(1) as one:
            workers = one.submit(asyncio.run, probe()).result()
        if not workers:
            raise NoWorkersError(
                f"the Dask scheduler in {DASK_ENV}={self.address} has no worker (none "
                f"registered within {WORKERS_WAIT_S:g} s), so nothing would build; start "
                f"workers with 'dask worker {self.address} --preload voice_monitor.fanout_flow' "
                "(docs/scaling.md); a cluster that scales from zero starts none before tasks "
                "are queued, which the fan-out does once a worker is there: keep one running "
                f"(adapt(minimum=1)); or unset {DASK_ENV} to build in this process")


def on_workers(exc: BaseException, lake: Lake, address: str) -> Exception | None:
    """The lake's store refusing or not answering a Dask worker (a task's error, `exc`), as
    one line naming the workers and their settings; else None (said only once the store has
    answered this process: `_answers_here`). Said as a failure of this process, it named the
    fix where it did not help: "... set AWS_ACCESS_KEY_ID ... where this command runs", which
    had them (a worker reads the lake with its own environment)."""
    if not lake.remote:
        return None
    cause = storage.refused(exc)
    kind: type[Exception] = storage.StoreAccessError
    if cause is None:
        cause, kind = storage.unreachable(exc), storage.StoreUnreachableError
        if cause is None:
            return None
    reason = " ".join(str(cause).split()) or type(cause).__name__
    what = ("cannot reach" if kind is storage.StoreUnreachableError
            else "was refused by")
    return kind(f"a Dask worker of {DASK_ENV}={address} {what} the object store of the lake at "
                f"{lake.root} ({type(cause).__name__}: {reason}); the workers read and write "
                "the lake with their own environment: give every worker the lake's AWS_* "
                "settings (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or AWS_PROFILE, "
                "AWS_ENDPOINT_URL for a store other than AWS S3) and a route to the store, or "
                f"unset {DASK_ENV} to build in this process")


def _answers_here(lake: Lake) -> None:
    """Ask the store of the lake at `lake` for its top level (one LIST): return if it answers
    this process, else raise this process's StoreAccessError or StoreUnreachableError (a store
    that is down, a bucket that refuses every key: the fix is the store's or everyone's, not
    the workers' environment, which blaming them sent the user to check)."""
    try:
        with storage.reaching(lake.root):
            lake.root.fs.ls(lake.root.path, refresh=True)
    except FileNotFoundError:
        pass  # answered: the lake's objects are not the question here


def well_formed(address: str) -> bool:
    """Whether `address` is scheme://host:port with a host and a numeric port (the network
    schemes), or another scheme Dask has. Checked before Prefect's temporary server starts (~30 s): a port
    that is not a number failed only after it, in Dask's own words ("invalid literal for int()
    with base 10: 'x'"), naming neither the setting nor its form."""
    from urllib.parse import urlsplit

    scheme, sep, _ = address.partition("://")
    if not sep or scheme not in ("tcp", "tls", "ws", "wss", "inproc", "ucx"):
        return False
    if scheme in ("inproc", "ucx"):
        return True
    try:
        parts = urlsplit(address)
        return parts.port is not None and bool(parts.hostname)  # 'tcp://:8786' names no host
    except ValueError:  # a port that is not a number, or out of range
        return False


def period_mapper(address: str | None) -> DaskPeriods | None:
    """The Dask fan-out for a scheduler address ($VOICE_MONITOR_DASK), or None: in-process."""
    address = (address or "").strip()
    return DaskPeriods(address) if address else None


__all__ = ["DASK_ENV", "DaskPeriods", "NoWorkersError", "period_mapper"]
