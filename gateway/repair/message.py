"""A native backend's complete (non-streamed) message made right, and the field rules the
stream repairer shares: the client's model name, usage always present, a known stop reason."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Final

from gateway.translate.arguments import parse_arguments
from gateway.translate.response import anthropic_message, tool_use_id
from gateway.translate.textcalls import CallPiece, extract_tool_calls
from gateway.translate.thinking import SIGNATURE

__all__ = [
    "STOP_REASONS",
    "merge_usage",
    "repair_message",
    "stop_reason_of",
    "text_call",
    "usage_of",
]

STOP_REASONS: Final = frozenset(
    {"end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"}
)
# OpenAI's words, which some converters pass through unmapped.
_OPENAI_REASONS: Final = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}
_USAGE_KEYS: Final = (
    "input_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "output_tokens",
)


def usage_of(value: Any) -> dict[str, int]:
    """Anthropic usage with all four counts; what is missing or not a count is 0."""
    usage = dict.fromkeys(_USAGE_KEYS, 0)
    if isinstance(value, dict):
        merge_usage(usage, value)
    return usage


def merge_usage(usage: dict[str, int], value: Any) -> None:
    """Counts only grow during a message: a later positive count replaces an earlier one, a
    later 0 (Ollama's message_start before it has counted) does not."""
    if not isinstance(value, dict):
        return
    for key in _USAGE_KEYS:
        count = value.get(key)
        if isinstance(count, int) and not isinstance(count, bool) and count > 0:
            usage[key] = count


def stop_reason_of(value: Any, repairs: list[str]) -> str | None:
    """A stop reason Claude Code knows, or None when the backend gave none."""
    if not isinstance(value, str) or not value:
        return None
    if value in STOP_REASONS:
        return value
    reason = _OPENAI_REASONS.get(value, "end_turn")
    _note(repairs, f"stop_reason {value!r} is not Anthropic's; {reason} sent")
    return reason


def repair_message(
    message: dict[str, Any],
    *,
    client_model: str,
    tool_names: Collection[str] = (),
    message_id: str | None = None,
    show_thinking: bool = True,
) -> tuple[dict[str, Any], list[str]]:
    """The message as Claude Code needs it, and what was repaired. The input is not changed.
    With `message_id` (the gateway's), the message and its tool calls get ids made from it;
    without `show_thinking` (`thinking.display: "omitted"`), it has no thinking blocks."""
    repairs: list[str] = []
    if message_id is None:
        backend_id = message.get("id")
        if isinstance(backend_id, str) and backend_id:
            message_id = backend_id
        else:
            message_id = "msg_lmgate"
            repairs.append("message id missing; one was given")
    content: list[dict[str, Any]] = []
    raw = message.get("content")
    if isinstance(raw, str):
        raw = [{"type": "text", "text": raw}]
    for block in raw if isinstance(raw, list) else ():
        if not show_thinking and isinstance(block, dict) and block.get("type") == "thinking":
            continue
        _block(block, content, message_id, tool_names, repairs)
    had_tool_use = any(block["type"] == "tool_use" for block in content)
    stop_reason = stop_reason_of(message.get("stop_reason"), repairs)
    if stop_reason is None:
        stop_reason = "tool_use" if had_tool_use else "end_turn"
        repairs.append(f"stop_reason missing; {stop_reason} sent")
    elif had_tool_use and stop_reason == "end_turn":
        stop_reason = "tool_use"
        repairs.append("stop_reason end_turn with a tool call; tool_use sent")
    if not isinstance(message.get("usage"), dict):
        repairs.append("usage missing; zeros sent")
    stop_sequence = message.get("stop_sequence")
    usage = usage_of(message.get("usage"))
    sequence = stop_sequence if isinstance(stop_sequence, str) else None
    return anthropic_message(
        message_id, client_model, content, stop_reason, usage, sequence
    ), repairs


def _block(
    block: Any,
    content: list[dict[str, Any]],
    message_id: str,
    tool_names: Collection[str],
    repairs: list[str],
) -> None:
    kind = block.get("type") if isinstance(block, dict) else None
    if kind == "text":
        text = block.get("text")
        text = text if isinstance(text, str) else ""
        if not tool_names:
            content.append({**block, "text": text})
            return
        pieces, warnings = extract_tool_calls(text, tool_names)
        repairs += warnings
        for piece in pieces:
            if isinstance(piece, CallPiece):
                content.append(text_call(piece, tool_use_id(message_id, len(content)), repairs))
            else:
                content.append({"type": "text", "text": piece.text})
    elif kind == "thinking":
        thinking = block.get("thinking")
        signature = block.get("signature")
        if not isinstance(signature, str) or not signature:
            signature = SIGNATURE
            _note(repairs, "thinking block without a signature signed")
        thinking = thinking if isinstance(thinking, str) else ""
        content.append({**block, "thinking": thinking, "signature": signature})
    elif kind == "tool_use":
        name = block.get("name")
        if not isinstance(name, str) or not name:
            _note(repairs, "tool_use block without a name dropped")
            return
        # The gateway's id, never the backend's (some reuse one id on every turn).
        call_id = tool_use_id(message_id, len(content))
        tool_input = block.get("input")
        if isinstance(tool_input, str):
            tool_input, _ = parse_arguments(tool_input)
            _note(repairs, "tool input sent as a string parsed")
        elif not isinstance(tool_input, dict):
            tool_input = {}
        content.append({"type": "tool_use", "id": call_id, "name": name, "input": tool_input})
    elif isinstance(kind, str):
        content.append(block)
    else:
        _note(repairs, "content that is not a block dropped")


def text_call(call: CallPiece, call_id: str, repairs: list[str]) -> dict[str, Any]:
    """A call written as text as the tool_use block it meant."""
    repairs.append(call.note)
    return {"type": "tool_use", "id": call_id, "name": call.name, "input": call.input}


def _note(repairs: list[str], note: str) -> None:
    if note not in repairs:
        repairs.append(note)
