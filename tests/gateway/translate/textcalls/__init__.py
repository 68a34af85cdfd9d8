"""Tests of the recovery of tool calls written as text (gateway/translate/textcalls)."""
