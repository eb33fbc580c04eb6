"""A bytecode cache of this user's outside the checkout, for processes that may not write
bytecode beside their sources (PYTHONDONTWRITEBYTECODE=1): the test session and the benches'
child processes (`PYTHONPYCACHEPREFIX`)."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


def own_cache(name: str) -> Path | None:
    """`<temp dir>/<name>-<uid>`, made if missing; None if it is another user's, open to
    others, or cannot be made (Python checks each entry against its source file, so a cache
    kept between runs is safe)."""
    cache = Path(tempfile.gettempdir()) / f"{name}-{os.getuid()}"
    try:
        cache.mkdir(mode=0o700, exist_ok=True)
        st = cache.lstat()
    except OSError:
        return None
    mine = stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077
    return cache if mine else None
