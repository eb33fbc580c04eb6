"""The server's background threads, each let finish (or stop) before the interpreter ends.

A daemon thread still inside DuckDB or Arrow when the interpreter finalizes is ended by an
unwind that their C++ code catches and does not rethrow: the process aborts ("FATAL: exception
not rethrown", exit status 134) instead of exiting. A `serve` stopped just after it started, or
a test session that opened a page a moment before it ended, would end that way. So at exit
`stopping` is set (a long task checks it between steps) and each thread started here is
joined, for `EXIT_WAIT_S` in all at most.
"""

from __future__ import annotations

import atexit
import threading
import time
import weakref

EXIT_WAIT_S = 60.0
stopping = threading.Event()
_started: weakref.WeakSet[threading.Thread] = weakref.WeakSet()


def start(target, *args, name: str) -> threading.Thread:
    """Run `target(*args)` on a daemon thread that the interpreter's exit waits for."""
    thread = threading.Thread(target=target, args=args, daemon=True, name=name)
    _started.add(thread)
    thread.start()
    return thread


@atexit.register
def _finish() -> None:
    stopping.set()
    deadline = time.monotonic() + EXIT_WAIT_S
    for thread in list(_started):
        thread.join(max(0.0, deadline - time.monotonic()))
