"""voice-monitor: monitoring and analytics for the voice-note processing pipeline."""

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
    "Lake",
    "LandingResult",
    "Page",
    "Producer",
    "active_artifacts",
    "artifact_timeline",
    "failed_artifacts",
    "historical_metrics",
    "ingest_file",
    "land_lines",
    "land_records",
    "org_breakdown",
    "realtime_metrics",
    "recent_events",
    "retry_history",
    "stage_breakdown",
]
