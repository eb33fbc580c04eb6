"""A lake this process cannot write to: a read-only mount (a snapshot, an analyst's mount) or a
folder without write permission for this user.

Reading works on such a lake (real-time counts come from the lake's files then, not the counter
store, which SQLite can only open for writing); a command that must write fails with one line
naming the lake, the file and what to do (`message`).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

DENIED = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})


def denied(exc: BaseException) -> bool:
    """Whether `exc` is the OS refusing access (read-only file system, permission)."""
    return isinstance(exc, OSError) and exc.errno in DENIED


def unwritable(path: Path) -> int | None:
    """EROFS or EACCES when this process cannot create or change `path` (it, or the nearest
    folder above it that exists, is not writable); None when it can."""
    target = Path(path)
    while not target.exists() and target != target.parent:
        target = target.parent
    folder = target if target.is_dir() else target.parent
    if os.access(target, os.W_OK) and os.access(folder, os.W_OK):
        return None
    try:
        return errno.EROFS if os.statvfs(folder).f_flag & os.ST_RDONLY else errno.EACCES
    except OSError:
        return errno.EACCES


def message(root: str | os.PathLike[str], exc: OSError) -> str:
    """One line for a command that could not write to the lake at `root`."""
    where = f" ({exc.filename})" if exc.filename else ""
    if exc.errno == errno.EROFS:
        return (f"the lake {root} is on a read-only file system{where}; this command writes to "
                "the lake: run it where the lake is mounted read-write, with write access "
                "(reading commands such as metrics, sql and events work as it is)")
    return (f"permission denied in the lake {root}{where}: {exc.strerror or 'no access'}; give "
            "this user write access to the lake's folders (or run as the lake's owner); "
            "reading commands such as metrics, sql and events need read access only")


def across_file_systems(root: str | os.PathLike[str], exc: BaseException) -> str | None:
    """One line for a write the OS refused because the lake's folders lie on different file
    systems (EXDEV: a folder inside the lake, such as events/, a symbolic link to or a mount of
    another disk), or None for any other error. Every lake file is written in the lake's .tmp/
    and renamed into place, so that it appears whole; a rename cannot cross file systems."""
    if not isinstance(exc, OSError) or exc.errno != errno.EXDEV:
        return None
    moved = f" ({exc.filename} -> {exc.filename2})" if exc.filename and exc.filename2 else ""
    return (f"the lake {root} spans more than one file system{moved}: its files are written in "
            "its .tmp/ folder and renamed into place, which cannot cross file systems; keep "
            "the whole lake on one file system (move or link the lake folder itself, not a "
            "folder inside it)")
