"""Data files the gateway reads at run time."""
