"""Health checks and alerts: the checks (`checks`), the hour digests they read (`digest`), the
alert lifecycle and history (`alerts`) and the webhook (`notify`). SQL in `sql/health/`."""
