"""Typed shapes of the payloads the gateway reads and writes."""
