"""voice-monitor: monitoring and analytics for the voice-note processing pipeline."""

from voice_monitor.alerts import (
    Alert,
    CheckReport,
    acknowledge_alert,
    active_alerts,
    alert_history,
    prune_alerts,
    run_checks,
)
from voice_monitor.checks import AlertConfig
from voice_monitor.counters import realtime_metrics
from voice_monitor.lake import Lake
from voice_monitor.landing import LandingResult, ingest_file, land_lines, land_records
from voice_monitor.producer import Producer
from voice_monitor.queries import (
    Page,
    active_artifacts,
    artifact_timeline,
    failed_artifacts,
    historical_metrics,
    org_breakdown,
    recent_events,
    retry_history,
    stage_breakdown,
)

__version__ = "0.1.0"

__all__ = [
    "Alert",
    "AlertConfig",
    "CheckReport",
    "Lake",
    "LandingResult",
    "Page",
    "Producer",
    "acknowledge_alert",
    "active_alerts",
    "active_artifacts",
    "alert_history",
    "artifact_timeline",
    "failed_artifacts",
    "historical_metrics",
    "ingest_file",
    "land_lines",
    "land_records",
    "org_breakdown",
    "prune_alerts",
    "realtime_metrics",
    "recent_events",
    "retry_history",
    "run_checks",
    "stage_breakdown",
]
