"""Platform alerts: the node watches its own health through the values GET /metrics exposes and notifies the
admin channels of `[platform_alerts]`, with no Prometheus (docs/operations/monitoring.md)."""
