"""How a read that answers around an unreadable lake file (contract §4) says so.

The reads warn (`queries.SnapshotFilesUnreadableWarning`, `event_log.EventFilesUnreadableWarning`)
under the caller's own line (a notebook's cell); inside `unreadable_noted()` each warning is
also gathered, for a server whose request threads cannot share `warnings.catch_warnings` (it
swaps process-wide state).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import sys
import warnings

# the list `unreadable_noted` gives, in this thread or task (None outside one)
_NOTED: contextvars.ContextVar[list | None] = contextvars.ContextVar("noted", default=None)


@contextlib.contextmanager
def unreadable_noted():
    """A list that gets each unreadable-file warning the reads inside the block give (they
    are warned as well)."""
    noted: list[Warning] = []
    token = _NOTED.set(noted)
    try:
        yield noted
    finally:
        _NOTED.reset(token)


def warn(warning: Warning) -> None:
    """Warn `warning` at the first caller outside voice_monitor, and note it (`unreadable_noted`)."""
    noted = _NOTED.get()
    if noted is not None:
        noted.append(warning)
    warnings.warn(warning, stacklevel=_outside_level())


def _outside_level() -> int:
    """The `stacklevel` of the first caller outside voice_monitor (a notebook's cell, shown
    under it), from the function that calls `warnings.warn`."""
    package = os.path.dirname(__file__)
    frame, level = sys._getframe(2), 2
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    return level
