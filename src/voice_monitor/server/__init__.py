"""`voice-monitor serve`: the collector, the reading API, /metrics and the dashboard (contract §12)."""

from voice_monitor.server.app import create_app

__all__ = ["create_app"]
