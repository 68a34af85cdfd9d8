"""Fake LM Studio, Ollama and llama.cpp servers for the gateway's tests and benchmarks."""

from __future__ import annotations

from tests.fakes.replies import (
    DEFAULT_TEXT,
    CutAfter,
    Error,
    Gate,
    HeadersThenSilence,
    Held,
    Huge,
    MalformedJSON,
    MalformedSSE,
    Reasoning,
    Reply,
    Respond,
    SilenceAfter,
    Stall,
    Text,
    Think,
    ToolCall,
    ToolCalls,
    Usage,
    context_length_exceeded,
)
from tests.fakes.server import FLAVOURS, FakeBackend, RecordedRequest, free_port
from tests.fakes.strict import ALTERNATION_ERROR

__all__ = [
    "ALTERNATION_ERROR",
    "DEFAULT_TEXT",
    "FLAVOURS",
    "CutAfter",
    "Error",
    "FakeBackend",
    "Gate",
    "HeadersThenSilence",
    "Held",
    "Huge",
    "MalformedJSON",
    "MalformedSSE",
    "Reasoning",
    "RecordedRequest",
    "Reply",
    "Respond",
    "SilenceAfter",
    "Stall",
    "Text",
    "Think",
    "ToolCall",
    "ToolCalls",
    "Usage",
    "context_length_exceeded",
    "free_port",
]
