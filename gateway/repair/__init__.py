"""Repairs for what native Anthropic backends get wrong: pure, no I/O, no clock, no globals."""
