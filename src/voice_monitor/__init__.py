"""voice-monitor: monitoring and analytics for the voice-note processing pipeline.

The public API is importable from here; each name loads its module on first use, so that
`import voice_monitor` (and every CLI command) stays quick.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "Alert": "health.alerts",
    "CheckReport": "health.alerts",
    "acknowledge_alert": "health.alerts",
    "active_alerts": "health.alerts",
    "alert_history": "health.alerts",
    "prune_alerts": "health.alerts",
    "run_checks": "health.alerts",
    "AlertConfig": "health.checks",
    "realtime_metrics": "counters",
    "Lake": "lake",
    "LandingResult": "landing",
    "ingest_file": "landing",
    "land_lines": "landing",
    "land_records": "landing",
    "EventFilesUnreadableWarning": "queries",
    "Producer": "producer",
    "Page": "queries",
    "PeriodsNotBuiltWarning": "queries",
    "SnapshotFilesUnreadableWarning": "queries",
    "active_artifacts": "queries",
    "artifact_timeline": "queries",
    "failed_artifacts": "queries",
    "historical_metrics": "queries",
    "org_breakdown": "queries",
    "periods_without_snapshot": "queries",
    "recent_events": "queries",
    "retry_history": "queries",
    "stage_breakdown": "queries",
    "stage_history": "queries",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'voice_monitor' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"voice_monitor.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, eagerly
    from voice_monitor.counters import realtime_metrics  # noqa: F401
    from voice_monitor.health.alerts import (  # noqa: F401
        Alert,
        CheckReport,
        acknowledge_alert,
        active_alerts,
        alert_history,
        prune_alerts,
        run_checks,
    )
    from voice_monitor.health.checks import AlertConfig  # noqa: F401
    from voice_monitor.lake import Lake  # noqa: F401
    from voice_monitor.landing import LandingResult, ingest_file, land_lines, land_records  # noqa: F401
    from voice_monitor.producer import Producer  # noqa: F401
    from voice_monitor.queries import (  # noqa: F401
        EventFilesUnreadableWarning,
        Page,
        PeriodsNotBuiltWarning,
        SnapshotFilesUnreadableWarning,
        active_artifacts,
        artifact_timeline,
        failed_artifacts,
        historical_metrics,
        org_breakdown,
        periods_without_snapshot,
        recent_events,
        retry_history,
        stage_breakdown,
        stage_history,
    )
