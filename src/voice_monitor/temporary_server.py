"""Prefect's temporary API server, given time to start on a busy machine.

A flow run with no Prefect server configured (`PREFECT_API_URL` unset) starts a temporary local
server and waits `PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS` for it, 20 s by default. On a
loaded 2-core host the server takes longer than that, and the run failed before doing anything
("Timed out while attempting to connect to ephemeral Prefect API server"). The runs voice-monitor
starts itself (`python flows/<flow>.py`, the Dask fan-out) wait up to `STARTUP_TIMEOUT_S`
instead, unless a timeout other than Prefect's default was set (environment or profile).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

STARTUP_TIMEOUT_S = 120
PREFECT_DEFAULT_S = 20  # Prefect's own default for the setting
SETTING = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"


@contextlib.contextmanager
def patient_start() -> Iterator[None]:
    """Within it, a temporary Prefect server is waited for `STARTUP_TIMEOUT_S` (see above)."""
    from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS as timeout
    from prefect.settings import temporary_settings

    if timeout.value() != PREFECT_DEFAULT_S:  # the user's own choice stands
        yield
        return
    with temporary_settings(updates={timeout: STARTUP_TIMEOUT_S}):
        yield


def did_not_start(exc: BaseException) -> bool:
    """Whether `exc` is Prefect's refusal to run because its temporary server did not start."""
    return isinstance(exc, RuntimeError) and "ephemeral Prefect API server" in str(exc)
