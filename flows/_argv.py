"""The command line of `python flows/<flow>.py [NOW]` (not a flow), read before Prefect is
imported: Prefect takes seconds to import, and a mistyped NOW should be refused at once.

Flow files import it first, as a sibling module, and check their arguments before their other
imports when run as a script.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

from voice_monitor.arguments import iso_time


def script_now(argv: list[str]) -> datetime | None:
    """`python flows/<flow>.py [NOW]`: NOW as a time (None when not given), checked before
    Prefect starts; anything else is one line on stderr naming it and the fix, exit 2
    (contract §11), where Prefect printed its multi-line parameter validation error."""
    script, given = Path(argv[0]).name, argv[1:]
    try:
        if len(given) > 1:
            raise ValueError(f"takes at most one argument, now, got {len(given)}: "
                             f"{' '.join(map(repr, given))}; use e.g. python flows/{script} "
                             f"2026-02-16T14:30:00Z")
        return iso_time(given[0], "now") if given else None
    except ValueError as exc:
        print(f"{script}: usage error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
