"""Tests of the repairs for native Anthropic backends (gateway/repair)."""
