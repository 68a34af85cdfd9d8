"""Anthropic system + messages as chat-completions messages that strict chat templates accept.

Strict templates (Gemma's, many Jinja templates in LM Studio and llama.cpp) want: one system
message, first; user and assistant alternating; tool messages only right after the assistant
turn that called them, answering each of its calls. Claude Code's traffic breaks each rule
(mid-conversation `role: "system"`, consecutive user turns), so the conversation is reshaped.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson

from gateway.schemas.anthropic import Message, MessagesRequest
from gateway.translate.documents import PdfReader, render_document, render_search_result
from gateway.translate.toolset import TOOL_CHANGES

__all__ = [
    "BILLING_PREFIX",
    "IMAGE_BELOW",
    "MISSING_RESULT",
    "NO_VISION",
    "convert_conversation",
]

# Claude Code's first system block; it changes on every request, which would defeat the
# backend's prefix cache for the whole prompt behind it.
BILLING_PREFIX = "x-anthropic-billing-header:"
NO_VISION = "[image omitted: this model has no vision]"
IMAGE_BELOW = "[image attached below]"
MISSING_RESULT = "[no result was recorded for this tool call]"

Part = dict[str, Any]
Turn = tuple[str, list[dict[str, Any]]]


class _Log:
    """What the reshaping changed, summed up once at the end (one line per kind of change)."""

    __slots__ = (
        "billing",
        "documents",
        "images",
        "merged",
        "pdf",
        "missing",
        "orphans",
        "replaced",
        "searches",
        "system",
        "thinking",
        "tool_changes",
        "unreadable",
    )

    def __init__(self, pdf: PdfReader | None = None) -> None:
        self.pdf = pdf  # how a PDF is read (a cache in front of the reader), or the default
        self.billing = False
        self.system = 0
        self.merged = 0
        self.thinking = 0
        self.orphans = 0
        self.missing = 0
        self.images = 0
        self.documents = 0  # also the next document's index (citations count from 0)
        self.searches = 0
        self.unreadable = 0
        self.tool_changes = 0
        self.replaced: Counter[str] = Counter()

    def report(self) -> tuple[list[str], list[str]]:
        changes: list[str] = []
        warnings: list[str] = []
        if self.billing:
            changes.append("billing header removed")
        if self.system:
            changes.append(f"{_n(self.system, 'system message')} merged into user turns")
        if self.merged:
            changes.append(f"{_n(self.merged, 'consecutive turn')} merged")
        if self.replaced:
            kinds = ", ".join(f"{kind} ×{count}" for kind, count in sorted(self.replaced.items()))
            changes.append(f"{_n(self.replaced.total(), 'block')} replaced ({kinds})")
            warnings.extend(
                f"{kind} block replaced by a placeholder" + (f" (×{count})" if count > 1 else "")
                for kind, count in sorted(self.replaced.items())
            )
        if self.documents:
            changes.append(f"{_n(self.documents, 'document')} given to the model as text")
        if self.searches:
            changes.append(f"{_n(self.searches, 'search result')} given to the model as text")
        if self.tool_changes:
            changes.append(f"{_n(self.tool_changes, 'tool change')} applied to the tool list")
        if self.unreadable:
            warnings.append(f"{_n(self.unreadable, 'PDF')} without extractable text (scanned?)")
        if self.thinking:
            changes.append(f"thinking history dropped ({_n(self.thinking, 'block')})")
        if self.images:
            changes.append(f"{_n(self.images, 'image')} replaced by a note")
            warnings.append(f"{_n(self.images, 'image')} omitted: this model has no vision")
        if self.orphans:
            changes.append(f"{_n(self.orphans, 'unmatched tool result')} sent as text")
            warnings.append(f"{_n(self.orphans, 'tool result')} did not answer a tool call")
        if self.missing:
            changes.append(f"{_n(self.missing, 'missing tool result')} filled in")
            warnings.append(f"{_n(self.missing, 'tool call')} had no result in the next turn")
        return changes, warnings


def convert_conversation(
    req: MessagesRequest,
    *,
    vision: bool,
    reasoning_roundtrip: bool = False,
    pdf: PdfReader | None = None,
) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """Return (OpenAI messages, changes, warnings). `reasoning_roundtrip`: thinking goes back as
    `reasoning_content` on assistant turns that call tools (DeepSeek answers 400 without it).
    `pdf` reads a base64 PDF (translate.documents)."""
    log = _Log(pdf)
    out: list[dict[str, Any]] = []
    system = _system_text(req.get("system"), log)
    if system:
        out.append({"role": "system", "content": system})
    calls: list[str] = []  # the previous assistant turn's tool call ids, still to be answered
    for role, blocks in _fold(req["messages"], log):
        if role == "assistant":
            message, calls = _assistant(blocks, log, reasoning_roundtrip)
            out.append(message)
        else:
            _user(blocks, calls, out, log, vision)
            calls = []
    changes, warnings = log.report()
    return out, changes, warnings


def _system_text(system: str | list[Any] | None, log: _Log) -> str:
    if not system:
        return ""
    if isinstance(system, str):
        if system.startswith(BILLING_PREFIX):
            log.billing = True
            return system.partition("\n")[2].lstrip("\n")
        return system
    texts: list[str] = []
    for block in system:
        text = block["text"]
        if text.startswith(BILLING_PREFIX):
            log.billing = True
        elif text:
            texts.append(text)
    return "\n\n".join(texts)


def _fold(messages: list[Message], log: _Log) -> list[Turn]:
    """Fold `role: system` messages into user turns and merge same-role neighbours."""
    turns: list[Turn] = []
    prefix: list[dict[str, Any]] = []
    i, n = 0, len(messages)
    while i < n:
        role = messages[i]["role"]
        if role == "system":
            j = i
            reminders: list[dict[str, Any]] = []
            while j < n and messages[j]["role"] == "system":
                reminder = _reminder(messages[j]["content"], log)
                if reminder is not None:
                    reminders.append(reminder)
                j += 1
            log.system += j - i
            if j < n and messages[j]["role"] in ("user", "human"):
                prefix = reminders
            elif turns and turns[-1][0] == "user":
                turns[-1][1].extend(reminders)
            else:
                turns.append(("user", reminders))
            i = j
            continue
        content = messages[i]["content"]
        blocks: list[dict[str, Any]] = (
            [{"type": "text", "text": content}] if isinstance(content, str) else list(content)  # type: ignore[arg-type]
        )
        if prefix:
            blocks, prefix = prefix + blocks, []
        role = "user" if role == "human" else role
        if turns and turns[-1][0] == role:
            turns[-1][1].extend(blocks)
            log.merged += 1
        else:
            turns.append((role, blocks))
        i += 1
    return turns


def _reminder(content: str | list[Any], log: _Log) -> dict[str, Any] | None:
    """A system message as a reminder; its tool changes are not text (translate.toolset
    applies them to the tool list), so a message of tool changes alone gives none."""
    if isinstance(content, str):
        text = content
    else:
        texts = []
        for block in content:
            if block["type"] in TOOL_CHANGES:
                log.tool_changes += 1
            else:
                texts.append(
                    block["text"] if block["type"] == "text" else _placeholder(block["type"], log)
                )
        if not texts:
            return None
        text = "\n\n".join(texts)
    return {"type": "text", "text": f"<system-reminder>\n{text}\n</system-reminder>"}


def _assistant(
    blocks: list[dict[str, Any]], log: _Log, reasoning_roundtrip: bool = False
) -> tuple[dict[str, Any], list[str]]:
    texts: list[str] = []
    thoughts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for block in blocks:
        kind = block["type"]
        if kind == "text":
            if block["text"]:
                texts.append(block["text"])
        elif kind == "tool_use":
            arguments = orjson.dumps(block["input"]).decode()
            function = {"name": block["name"], "arguments": arguments}
            tool_calls.append({"id": block["id"], "type": "function", "function": function})
        elif kind == "thinking":
            log.thinking += 1
            thoughts.append(block["thinking"])
        else:
            texts.append(_placeholder(kind, log))
    # Content is "" rather than null or missing: llama-cpp-python answers 422 and 500 to those.
    message: dict[str, Any] = {"role": "assistant", "content": "\n\n".join(texts)}
    if tool_calls:
        message["tool_calls"] = tool_calls
        if reasoning_roundtrip and thoughts:
            message["reasoning_content"] = "\n\n".join(thoughts)
    return message, [call["id"] for call in tool_calls]


def _user(
    blocks: list[dict[str, Any]],
    calls: list[str],
    out: list[dict[str, Any]],
    log: _Log,
    vision: bool,
) -> None:
    tool_messages: list[dict[str, Any]] = []
    result_images: list[Part] = []
    parts: list[Part] = []
    answered: set[str] = set()
    for block in blocks:
        kind = block["type"]
        if kind == "text":
            if block["text"]:
                parts.append({"type": "text", "text": block["text"]})
        elif kind == "image":
            parts.append(_image(block) if vision else _note(log))
        elif kind == "tool_result":
            call_id = block["tool_use_id"]
            text, images = _result(block, log, vision)
            if call_id in calls and call_id not in answered:
                answered.add(call_id)
                tool_messages.append({"role": "tool", "tool_call_id": call_id, "content": text})
                result_images.extend(images)
            else:
                # A tool message must answer a call of the turn just before; this one does not
                # (a compacted history, a duplicate), so the model still sees it, as text.
                log.orphans += 1
                parts.append({"type": "text", "text": f"[tool result for {call_id}]\n{text}"})
                parts.extend(images)
        elif kind == "thinking":
            log.thinking += 1
        elif kind in ("document", "search_result"):
            text, images = _readable(block, log, vision)
            parts.append({"type": "text", "text": text})
            parts.extend(images)
        else:
            parts.append({"type": "text", "text": _placeholder(kind, log)})
    for call_id in calls:
        if call_id not in answered:
            log.missing += 1
            tool_messages.append(
                {"role": "tool", "tool_call_id": call_id, "content": MISSING_RESULT}
            )
    out.extend(tool_messages)
    parts = result_images + parts
    if parts or not tool_messages:
        out.append({"role": "user", "content": _content(parts)})


def _result(block: dict[str, Any], log: _Log, vision: bool) -> tuple[str, list[Part]]:
    content = block.get("content")
    images: list[Part] = []
    if not content:
        text = ""
    elif isinstance(content, str):
        text = content
    else:
        texts: list[str] = []
        for part in content:
            kind = part["type"]
            if kind == "text":
                texts.append(part["text"])
            elif kind == "image":
                # Tool messages carry text only; the image follows in a user message.
                if vision:
                    images.append(_image(part))
                    texts.append(IMAGE_BELOW)
                else:
                    log.images += 1
                    texts.append(NO_VISION)
            elif kind == "tool_reference" and isinstance(part.get("tool_name"), str):
                texts.append(f"[tool {part['tool_name']} loaded: it can be called now]")
            elif kind in ("document", "search_result"):
                # Claude Code's Read of a PDF answers with a document block here.
                readable, more = _readable(part, log, vision)
                texts.append(readable)
                images.extend(more)
            else:
                texts.append(_placeholder(kind, log))
        text = "\n".join(texts)
    if block.get("is_error"):
        text = f"Error: {text}" if text else "Error"
    return text, images


def _readable(block: dict[str, Any], log: _Log, vision: bool) -> tuple[str, list[Part]]:
    """A document or search result as text (and a content document's images); a block without
    a source the API would take keeps the placeholder."""
    if block["type"] == "search_result":
        text = render_search_result(block, log.searches)
        if text is None:
            return _placeholder("search_result", log), []
        log.searches += 1
        return text, []
    rendered = render_document(block, log.documents, vision=vision, pdf=log.pdf)
    if rendered is None:
        return _placeholder("document", log), []
    log.documents += 1
    log.images += rendered.omitted_images
    log.unreadable += rendered.unreadable_pdf
    return rendered.text, [_image(image) for image in rendered.images]


def _image(block: dict[str, Any]) -> Part:
    source = block["source"]
    if source["type"] == "base64":
        url = f"data:{source['media_type']};base64,{source['data']}"
    else:
        url = source["url"]
    return {"type": "image_url", "image_url": {"url": url}}


def _note(log: _Log) -> Part:
    log.images += 1
    return {"type": "text", "text": NO_VISION}


def _placeholder(kind: str, log: _Log) -> str:
    log.replaced[kind] += 1
    return f"[{kind} omitted]"


def _content(parts: list[Part]) -> str | list[Part]:
    if all(part["type"] == "text" for part in parts):
        return "\n\n".join(part["text"] for part in parts)
    return parts


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
