"""The native Messages API: POST …/messages with the client's own body (the model renamed, the
billing block and metadata removed, max_tokens fitted), answers through gateway/repair."""

from __future__ import annotations

from typing import Any

from gateway.repair.message import repair_message
from gateway.repair.stream import AnthropicStreamRepairer
from gateway.translate.conversation import BILLING_PREFIX
from gateway.translate.request import refuse_mcp_connector
from gateway.translate.sse import AnthropicSSEDecoder
from gateway.translate.stream import Event
from gateway.translate.toolset import TOOL_CHANGES, effective_tools
from gateway.upstream.client import Upstream
from gateway.upstream.protocol import (
    Fed,
    FramedDecoder,
    Outgoing,
    ReplySpec,
    StreamDecoder,
    UpstreamProtocol,
    UpstreamRequest,
    native_error,
    read_object,
)

__all__ = ["IMAGE_NOTE", "AnthropicMessages"]

# Betas that a native backend is known to refuse; none are known for the local servers today.
_REFUSED_BETAS: dict[str, frozenset[str]] = {}
_FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta")
IMAGE_NOTE = "[image omitted: this model has no vision]"


class AnthropicMessages(UpstreamProtocol):
    name = "anthropic"

    def build(self, out: Outgoing, upstream: Upstream) -> UpstreamRequest:
        if not (out.info and out.info.remote):
            # A local server's Messages API cannot reach MCP servers either; a remote
            # Anthropic-compatible provider may run the connector itself.
            refuse_mcp_connector(out.req)
        kind = out.info.kind if out.info else ""
        return UpstreamRequest(
            out.backend_id,
            upstream.url("messages"),
            _native_body(out),
            _native_headers(out.client_headers, kind),
            out.retries,
        )

    def decoder(self, reply: ReplySpec) -> StreamDecoder:
        repairer = AnthropicStreamRepairer(
            client_model=reply.client_model,
            message_id=reply.message_id,
            tool_names=reply.tool_names,
            show_thinking=reply.show_thinking,
        )
        return _EventDecoder(repairer, reply.backend, reply.max_line)

    def parse(self, body: bytes, reply: ReplySpec) -> tuple[dict[str, Any], list[str]]:
        payload = read_object(body, reply.backend)
        if payload.get("type") == "error" and isinstance(payload.get("error"), dict):
            raise native_error(payload["error"], reply.backend)
        return repair_message(
            payload,
            client_model=reply.client_model,
            tool_names=reply.tool_names,
            message_id=reply.message_id,
            show_thinking=reply.show_thinking,
        )


class _EventDecoder(FramedDecoder[Any]):
    state: AnthropicStreamRepairer

    def __init__(self, repairer: AnthropicStreamRepairer, backend: str, max_line: int) -> None:
        super().__init__(repairer, backend)
        self.framing = self.sse = AnthropicSSEDecoder(max_line)

    def consume(self, items: list[Any]) -> Fed:
        events: list[Event] = []
        for event in items:
            events += self.state.feed(event)
            error = self.state.error
            if error is not None:
                # The relay sends the error itself, worded like the HTTP error would be.
                kept = [e for e in events if e[0] != "error"]
                return kept, True, native_error(error, self.backend)
        return events, False, None

    def notes(self) -> tuple[list[str], list[str]]:
        return list(self.state.repairs), list(self.sse.warnings)


def _native_body(out: Outgoing) -> dict[str, Any]:
    raw = out.raw
    body = {k: v for k, v in raw.items() if k != "metadata"}
    if "metadata" in raw:
        out.changes.append("metadata dropped")  # it carries Claude Code's device id
    body["model"] = out.model_name
    body["max_tokens"] = out.max_tokens
    body["stream"] = out.stream
    if not (out.info and out.info.remote):
        _tools_in_effect(body, out)
    system = raw.get("system")
    if isinstance(system, list):
        kept = [
            b
            for b in system
            if not (isinstance(b, dict) and str(b.get("text", "")).startswith(BILLING_PREFIX))
        ]
        if len(kept) != len(system):
            out.changes.append("billing header removed")
            body["system"] = kept
    elif isinstance(system, str) and system.startswith(BILLING_PREFIX):
        out.changes.append("billing header removed")
        body["system"] = system.partition("\n")[2].lstrip("\n")
    if out.model is not None and out.model.vision is False:
        body["messages"], count = _without_images(body["messages"])
        if count:
            out.changes.append(f"{count} image(s) replaced by a note")
            out.warnings.append(f"{out.model_name} has no vision: {count} image(s) not sent")
    return body


def _tools_in_effect(body: dict[str, Any], out: Outgoing) -> None:
    """A local server's Messages API knows neither deferred tools nor mid-conversation tool
    changes: it gets the tools in effect now (translate.toolset), and no tool-change blocks."""
    declared = out.req.get("tools") or []
    tools, warnings = effective_tools(out.req)
    out.warnings.extend(warnings)
    deferred = any(tool.get("defer_loading") for tool in tools)
    if (
        deferred
        or len(tools) != len(declared)
        or any(a is not b for a, b in zip(tools, declared, strict=False))
    ):
        kept = {id(tool) for tool in tools}
        withheld = sum(1 for tool in declared if id(tool) not in kept)
        if withheld:
            out.changes.append(f"{withheld} deferred or removed tool(s) withheld from the backend")
        body["tools"] = [{k: v for k, v in t.items() if k != "defer_loading"} for t in tools]
    messages: list[Any] = []
    changes = 0
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        if message.get("role") != "system" or not isinstance(content, list):
            messages.append(message)
            continue
        rest = [b for b in content if not (isinstance(b, dict) and b.get("type") in TOOL_CHANGES)]
        changes += len(content) - len(rest)
        if rest:
            messages.append({**message, "content": rest})
    if changes:
        body["messages"] = messages
        out.changes.append(f"{changes} tool change(s) applied to the tool list, not sent")


def _without_images(messages: list[Any]) -> tuple[list[Any], int]:
    count = 0

    def blocks(content: Any) -> Any:
        nonlocal count
        if not isinstance(content, list):
            return content
        out = []
        for block in content:
            if isinstance(block, dict) and block.get("type") == "image":
                count += 1
                out.append({"type": "text", "text": IMAGE_NOTE})
            elif isinstance(block, dict) and block.get("type") == "tool_result":
                out.append({**block, "content": blocks(block.get("content"))})
            else:
                out.append(block)
        return out

    result = [
        {**m, "content": blocks(m.get("content"))} if isinstance(m, dict) else m for m in messages
    ]
    return result, count


def _native_headers(client_headers: dict[str, str], kind: str) -> dict[str, str]:
    """anthropic-version/-beta forwarded; never the client's own credentials."""
    headers = {k: client_headers[k] for k in _FORWARDED_HEADERS if k in client_headers}
    headers.setdefault("anthropic-version", "2023-06-01")
    refused = _REFUSED_BETAS.get(kind)
    if refused and "anthropic-beta" in headers:
        kept = [b for b in headers["anthropic-beta"].split(",") if b.strip() not in refused]
        headers["anthropic-beta"] = ",".join(kept)
    return headers
