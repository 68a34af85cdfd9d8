"""Backends: their health and the models they serve."""
