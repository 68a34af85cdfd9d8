"""Whether each prompt a backend gets starts with the previous prompt of its conversation.

A local server reuses its prompt cache (llama.cpp's KV cache, LM Studio's, Ollama's) only for
the tokens at the front of a prompt that are the same as last time; anything that changes early
in a Claude Code conversation (~20k tokens of system prompt and tools) makes the next turn
re-read the whole of it. `PrefixWatch` compares each request's rendered prompt, as the chosen
protocol sends it, with the previous one of the same conversation, and says where and why it
stopped being a prefix: the request record's `prefix_note`.

The prompt's parts (`prompt_parts`): the tools, the system prompt (native Messages API only:
chat completions and /api/chat carry it as their first message), then each message, each
serialised as the gateway sends it. On the native protocol `cache_control` is left out and a
string content counts as one text block: a local server's chat template renders neither
difference (Claude Code moves its cache marker to the newest block every turn, and resends its
first system message as a string). A conversation is the client's session (Claude Code's
`x-claude-code-session-id`) and its first message: side requests, subagents and a compacted
history each start a conversation of their own. Only a hash per part is kept, for a bounded
number of conversations, so watching costs one serialisation of the messages per request.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["PrefixWatch", "prompt_parts"]

# Conversations remembered; the least recently seen goes first. 256 × (a few hundred hashes)
# stays well under a megabyte.
MAX_CONVERSATIONS = 256


@dataclass(frozen=True, slots=True)
class _Prompt:
    target: str  # backend/model
    protocol: str
    parts: tuple[int, ...]  # a hash of each part, in order
    labels: tuple[str, ...]  # what each part is, for the note (shared, never copied per part)
    tools: tuple[str, ...]  # the tool names, to say which were added or removed


def prompt_parts(protocol: str, body: dict[str, Any]) -> list[bytes]:
    """The prompt of an upstream body as its parts, in the order the backend renders them: the
    tools, the system prompt (native protocol), then each message. Each part is the JSON the
    gateway sends, normalised on the native protocol (see the module docstring)."""
    if protocol == "anthropic":
        parts = [orjson.dumps([_plain(tool) for tool in body.get("tools") or ()])]
        parts.append(orjson.dumps(_content(body.get("system") or [])))
        parts += [orjson.dumps(_plain_message(m)) for m in body.get("messages") or ()]
        return parts
    parts = [orjson.dumps(body.get("tools") or [])]
    parts += [orjson.dumps(m) for m in body.get("messages") or ()]
    return parts


class PrefixWatch:
    """The last prompt of each conversation, to say when the next one is not its continuation."""

    def __init__(self, max_conversations: int = MAX_CONVERSATIONS) -> None:
        self._max = max_conversations
        self._prompts: OrderedDict[int, _Prompt] = OrderedDict()

    def __len__(self) -> int:
        return len(self._prompts)

    def observe(
        self,
        session: str | None,
        client_messages: Sequence[Any],
        *,
        target: str,
        protocol: str,
        body: dict[str, Any],
    ) -> str | None:
        """Remember this prompt; the note for the record when it does not continue the previous
        prompt of its conversation (None when it does, or when it starts a conversation)."""
        if not client_messages:
            return None
        key = hash((session, orjson.dumps(_plain_message(client_messages[0]))))
        parts = prompt_parts(protocol, body)
        tools = tuple(_tool_names(body.get("tools")))
        current = _Prompt(
            target,
            protocol,
            tuple(hash(part) for part in parts),
            _labels(protocol, body),
            tools,
        )
        previous = self._prompts.pop(key, None)
        self._prompts[key] = current
        if len(self._prompts) > self._max:
            self._prompts.popitem(last=False)
        if previous is None:
            return None
        return _difference(previous, current)


def _difference(previous: _Prompt, current: _Prompt) -> str | None:
    if previous.target != current.target:
        return (
            f"prefix changed: the model is now {current.target} (was {previous.target}); "
            "the whole prompt is read again"
        )
    if previous.protocol != current.protocol:
        return (
            f"prefix changed: sent as {current.protocol} (was {previous.protocol}); "
            "the whole prompt is read again"
        )
    old, new = previous.parts, current.parts
    shared = min(len(old), len(new))
    at = next((i for i in range(shared) if old[i] != new[i]), shared)
    if at == shared:
        return None  # the same prompt continued (or an earlier one again: still a prefix)
    label = previous.labels[at]
    if label == "tools":
        added = [name for name in current.tools if name not in previous.tools]
        removed = [name for name in previous.tools if name not in current.tools]
        what = ", ".join([*(f"+{n}" for n in added), *(f"-{n}" for n in removed)]) or "reordered"
        return f"prefix changed at the tools ({what}): the whole prompt is read again"
    if label == "system":
        return "prefix changed at the system prompt: the whole prompt is read again"
    return (
        f"prefix changed at {label} of {len(old) - _first_message(previous.labels)}: "
        "the messages before it are reused"
    )


def _labels(protocol: str, body: dict[str, Any]) -> tuple[str, ...]:
    head = ("tools", "system") if protocol == "anthropic" else ("tools",)
    messages = body.get("messages") or ()
    return head + tuple(
        f"message {i + 1} ({m.get('role', '?') if isinstance(m, dict) else '?'})"
        for i, m in enumerate(messages)
    )


def _first_message(labels: tuple[str, ...]) -> int:
    return 2 if labels[1:2] == ("system",) else 1


def _tool_names(tools: Any) -> list[str]:
    names: list[str] = []
    for tool in tools or ():
        if not isinstance(tool, dict):
            continue
        function = tool.get("function")  # chat completions and /api/chat nest the name
        name = function.get("name") if isinstance(function, dict) else tool.get("name")
        if isinstance(name, str):
            names.append(name)
    return names


def _plain_message(message: Any) -> Any:
    if not isinstance(message, dict) or "content" not in message:
        return message
    return {**message, "content": _content(message["content"])}


def _content(content: Any) -> Any:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, list):
        return [_plain(block) for block in content]
    return content


def _plain(block: Any) -> Any:
    """A block without `cache_control` (a tool result's blocks too)."""
    if not isinstance(block, dict):
        return block
    if "cache_control" in block:
        block = {k: v for k, v in block.items() if k != "cache_control"}
    if block.get("type") == "tool_result" and isinstance(block.get("content"), list):
        block = {**block, "content": [_plain(part) for part in block["content"]]}
    return block
