"""Talking to backends: one pooled HTTP client per backend, and their errors in our taxonomy."""
