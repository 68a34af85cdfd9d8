"""The benchmark: what the gateway adds to a fast backend, per transport (python -m tests.bench)."""
