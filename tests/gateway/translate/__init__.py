"""Tests of the pure translators (gateway/translate)."""
