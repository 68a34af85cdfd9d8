"""Team mode: client keys, limits, usage, metrics, and replicas sharing a Redis."""
