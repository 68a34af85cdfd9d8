"""An OpenAI chat completion (non-streamed) as an Anthropic message."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from gateway.translate.arguments import parse_arguments
from gateway.translate.textcalls import CallPiece, extract_tool_calls
from gateway.translate.thinking import SIGNATURE, ThinkTagSplitter

__all__ = [
    "anthropic_message",
    "map_stop_reason",
    "map_usage",
    "openai_to_anthropic",
    "openai_to_anthropic_with_notes",
    "text_message",
    "tool_use_id",
]

_STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def map_stop_reason(finish_reason: str | None, *, had_tool_use: bool) -> str:
    """OpenAI finish_reason → Anthropic stop_reason.

    Backends that end a tool call with "stop" (Ollama does) still get `tool_use`, or Claude Code
    would not run the tool; a cut-off ("length") stays `max_tokens` because its arguments are
    incomplete, exactly as Anthropic reports it.
    """
    reason = _STOP_REASONS.get(finish_reason or "stop", "end_turn")
    if had_tool_use and reason == "end_turn":
        return "tool_use"
    return reason


def map_usage(usage: dict[str, Any] | None) -> dict[str, int]:
    """OpenAI usage → Anthropic usage; Anthropic's input_tokens excludes cache reads."""
    if not usage or not isinstance(usage, dict):
        return _usage(0, 0, 0)
    prompt = _int(usage.get("prompt_tokens"))
    details = usage.get("prompt_tokens_details")
    cached = _int(details.get("cached_tokens")) if isinstance(details, dict) else 0
    if not cached:
        cached = _int(usage.get("prompt_cache_hit_tokens"))  # DeepSeek's spelling
    cached = min(cached, prompt)
    return _usage(prompt - cached, _int(usage.get("completion_tokens")), cached)


def tool_use_id(message_id: str, index: int) -> str:
    """The id the client sees for the tool call at content `index` of the gateway's message
    `message_id`: Anthropic-shaped and unique across turns, whatever id the backend gave it (the
    backend then sees these ids in the history, each paired with its result)."""
    return f"toolu_{message_id.removeprefix('msg_')}_{index}"


def openai_to_anthropic(
    resp: dict[str, Any],
    *,
    client_model: str,
    message_id: str,
    tool_names: Collection[str] = (),
    show_thinking: bool = True,
) -> dict[str, Any]:
    message, _ = openai_to_anthropic_with_notes(
        resp,
        client_model=client_model,
        message_id=message_id,
        tool_names=tool_names,
        show_thinking=show_thinking,
    )
    return message


def openai_to_anthropic_with_notes(
    resp: dict[str, Any],
    *,
    client_model: str,
    message_id: str,
    tool_names: Collection[str] = (),
    show_thinking: bool = True,
) -> tuple[dict[str, Any], list[str]]:
    """The message and what was changed or could not be: with `tool_names`, calls the model
    wrote as text become tool_use blocks ("tool call written as text repaired (…)"). Without
    `show_thinking` (`thinking.display: "omitted"`) the message has no thinking blocks."""
    notes: list[str] = []
    # A backend's answer is not trusted to have the documented shape: what is off is skipped.
    choices = resp.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else {}
    choice = choice if isinstance(choice, dict) else {}
    message = choice.get("message")
    message = message if isinstance(message, dict) else {}
    content: list[dict[str, Any]] = []

    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        content.append(_thinking(reasoning))
    splitter = ThinkTagSplitter()
    pieces = splitter.feed(_text_of(message.get("content")))
    pieces += splitter.flush()
    answer = ""
    if tool_names:
        # Reasoning never follows the answer's text, so the text can be read whole, at the end.
        answer = "".join(text for kind, text in pieces if kind == "text")
        pieces = [piece for piece in pieces if piece[0] != "text"]
    for kind, text in pieces:
        _add(content, kind, text)
    text_calls = 0
    if answer:
        found, warnings = extract_tool_calls(answer, tool_names)
        notes += warnings
        for piece in found:
            if isinstance(piece, CallPiece):
                content.append(_text_call(piece, message_id, len(content), notes))
                text_calls += 1
            else:
                _add(content, "text", piece.text)

    calls = message.get("tool_calls")
    calls = [c for c in calls if isinstance(c, dict)] if isinstance(calls, list) else []
    if not calls and isinstance(message.get("function_call"), dict):
        calls = [{"function": message["function_call"]}]
    for call in calls:
        function = call.get("function")
        function = function if isinstance(function, dict) else {}
        tool_input, _ = parse_arguments(function.get("arguments"))
        content.append(
            {
                "type": "tool_use",
                # Never the backend's own id: several local servers reuse `call_1` every turn.
                "id": tool_use_id(message_id, len(content)),
                "name": function.get("name") or "",
                "input": tool_input,
            }
        )

    had_tool_use = bool(calls) or text_calls > 0
    if not show_thinking:
        content = [block for block in content if block["type"] != "thinking"]
    finish = choice.get("finish_reason")
    stop_reason = map_stop_reason(
        finish if isinstance(finish, str) else None, had_tool_use=had_tool_use
    )
    usage = map_usage(resp.get("usage"))
    return anthropic_message(message_id, client_model, content, stop_reason, usage), notes


def text_message(text: str, *, client_model: str, message_id: str) -> dict[str, Any]:
    content = [{"type": "text", "text": text}]
    return anthropic_message(message_id, client_model, content, "end_turn", _usage(0, 0, 0))


def anthropic_message(
    message_id: str,
    client_model: str,
    content: list[dict[str, Any]],
    stop_reason: str,
    usage: dict[str, Any],
    stop_sequence: str | None = None,
) -> dict[str, Any]:
    """A complete Anthropic message, its keys in the order the API sends them."""
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": client_model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": usage,
    }


def _add(content: list[dict[str, Any]], kind: str, text: str) -> None:
    last = content[-1] if content else None
    if last is not None and last["type"] == kind:
        last[kind] += text
    elif kind == "thinking":
        content.append(_thinking(text))
    else:
        content.append({"type": "text", "text": text})


def _text_call(call: CallPiece, message_id: str, index: int, notes: list[str]) -> dict[str, Any]:
    notes.append(call.note)
    return {
        "type": "tool_use",
        "id": tool_use_id(message_id, index),
        "name": call.name,
        "input": call.input,
    }


def _thinking(text: str) -> dict[str, Any]:
    return {"type": "thinking", "thinking": text, "signature": SIGNATURE}


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # some servers answer with a list of text parts
        return "".join(p.get("text") or "" for p in content if isinstance(p, dict))
    return ""


def _usage(input_tokens: int, output_tokens: int, cached: int) -> dict[str, int]:
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
        "output_tokens": output_tokens,
    }


def _int(value: Any) -> int:
    return value if isinstance(value, int) and value > 0 else 0
