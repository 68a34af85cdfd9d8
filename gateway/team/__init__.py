"""Team mode: client keys, their limits, usage per key and model, and what replicas share."""
