"""Prefect's temporary API server, given time to start on a busy machine.

A flow run with no Prefect server configured (`PREFECT_API_URL` unset) starts a temporary local
server and waits `PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS` for it, 20 s by default. On a
loaded 2-core host the server takes longer than that, and the run failed before doing anything
("Timed out while attempting to connect to ephemeral Prefect API server"). The runs voice-monitor
starts itself (`python flows/<flow>.py`, the Dask fan-out) wait up to `STARTUP_TIMEOUT_S`
instead, unless the user set a timeout (environment, profile or prefect.toml), even one equal
to Prefect's default: an explicit 20 stands.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

STARTUP_TIMEOUT_S = 120
SETTING = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"


def user_set() -> bool:
    """Whether the user set the startup timeout, to any value (Prefect's default one too)."""
    from prefect.settings import get_current_settings

    # the fields a source gave (environment, profile, prefect.toml), not those left at default
    return "startup_timeout_seconds" in get_current_settings().server.ephemeral.model_fields_set


@contextlib.contextmanager
def patient_start() -> Iterator[None]:
    """Within it, a temporary Prefect server is waited for `STARTUP_TIMEOUT_S` (see above)."""
    from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS as timeout
    from prefect.settings import temporary_settings

    if user_set():  # the user's own choice stands, 20 s too
        yield
        return
    with temporary_settings(updates={timeout: STARTUP_TIMEOUT_S}):
        yield


def did_not_start(exc: BaseException) -> bool:
    """Whether `exc` is Prefect's refusal to run because its temporary server did not start."""
    return isinstance(exc, RuntimeError) and "ephemeral Prefect API server" in str(exc)
