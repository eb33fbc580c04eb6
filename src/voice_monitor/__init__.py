"""voice-monitor: monitoring and analytics for the voice-note processing pipeline."""

from voice_monitor.counters import realtime_metrics
from voice_monitor.lake import Lake
from voice_monitor.landing import LandingResult, ingest_file, land_lines, land_records
from voice_monitor.producer import Producer

__version__ = "0.1.0"

__all__ = [
    "Lake",
    "LandingResult",
    "Producer",
    "ingest_file",
    "land_lines",
    "land_records",
    "realtime_metrics",
]
