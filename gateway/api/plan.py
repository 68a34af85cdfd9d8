"""How one request goes upstream: the protocol, the context fit, tool handling, the request class.

The protocol is chosen in gateway/backends/protocol_choice.py and encodes the request itself
(gateway/upstream/protocol.py); this module settles what every protocol needs first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.backends.catalogue import BackendInfo, CatalogueSnapshot, ModelInfo
from gateway.backends.protocol_choice import ProtocolChoice
from gateway.context import PromptCounter, WindowFit, fit_window
from gateway.queueing import MAIN, SIDE
from gateway.repair.tool_choice import ToolRequirement, required_tool, with_instruction
from gateway.routing import Route
from gateway.schemas.anthropic import MessagesRequest
from gateway.translate.documents import PdfReader
from gateway.translate.request import backend_tool_names, shows_thinking
from gateway.upstream.client import Upstream
from gateway.upstream.protocol import Outgoing, UpstreamProtocol, UpstreamRequest

__all__ = ["Plan", "counts_prompt", "make_plan", "swap_warning"]


@dataclass
class Plan:
    """One request's way upstream: who speaks, what is sent, and what the record says of it."""

    protocol: UpstreamProtocol
    request: UpstreamRequest
    stream_upstream: bool = False
    tool_names: tuple[str, ...] = ()
    requirement: ToolRequirement | None = None  # tool_choice emulated by the gateway
    priority: int = MAIN
    request_class: str = "main"
    prompt_tokens: int | None = None
    show_thinking: bool = True  # False for `thinking.display: "omitted"`
    changes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def make_plan(
    req: MessagesRequest,
    raw: dict[str, Any],
    route: Route,
    info: BackendInfo | None,
    model: ModelInfo | None,
    upstream: Upstream,
    counter: PromptCounter,
    *,
    protocols: ProtocolChoice,
    stream: bool,
    client_headers: dict[str, str],
    pdf: PdfReader | None = None,
    load_context: Mapping[str, int] | None = None,
) -> Plan:
    """`load_context`: the config's context per "backend:model" (what the app loads it with)."""
    changes: list[str] = []
    warnings: list[str] = []
    kind = info.kind if info else "openai"
    configured = _configured(load_context or {}, route, model)
    request_class = _request_class(req, route)

    # tool_choice: Ollama ignores it, so any/tool is asked for in words and checked (relay).
    requirement = required_tool(req) if kind == "ollama" else None
    if requirement is not None:
        req = with_instruction(req, requirement)
        raw = dict(with_instruction(raw, requirement))  # type: ignore[arg-type]
        changes.append(f"tool_choice {requirement.kind} emulated with an instruction")

    window_of = (
        protocols.contexts.window(route.backend_id, model, configured)
        if kind == "ollama" and model is not None
        else None
    )
    fit, window = _fit(req, info, model, counter, window_of)
    if fit is not None and fit.capped_from is not None:
        changes.append(
            f"max_tokens capped from {fit.capped_from} to {fit.max_tokens}: {fit.reason}"
        )
    max_tokens = fit.max_tokens if fit is not None else req["max_tokens"]

    needed = (fit.prompt_tokens + max_tokens) if fit is not None else 0
    protocol, why, num_ctx = protocols.choose(info, model, needed, configured)
    if why is not None:
        changes.append(why)

    can_stream = info.can_stream if info else True
    stream_upstream = stream and can_stream and requirement is None
    if stream and not stream_upstream and not can_stream:
        changes.append("asked the backend without streaming (it cannot stream)")
    # The tools the model may call now (tool additions and removals applied, client tools
    # included): the names a call written as text may use.
    tool_names = backend_tool_names(req)
    show_thinking = shows_thinking(req)
    if not show_thinking:
        changes.append('thinking.display "omitted": no thinking text is sent back')
    out = Outgoing(
        req=req,
        raw=raw,
        backend_id=route.backend_id,
        model_name=route.model,
        max_tokens=max_tokens,
        stream=stream_upstream,
        info=info,
        model=model,
        client_headers=client_headers,
        needed=needed,
        window=window,
        retries=info.retries if info else 0,
        changes=changes,
        warnings=warnings,
        pdf=pdf,
        num_ctx=num_ctx,
    )
    return Plan(
        protocol=protocol,
        request=protocol.build(out, upstream),
        stream_upstream=stream_upstream,
        tool_names=tool_names,
        requirement=requirement,
        priority=SIDE if request_class != "main" else MAIN,
        request_class=request_class,
        prompt_tokens=fit.prompt_tokens if fit is not None else None,
        show_thinking=show_thinking,
        changes=changes,
        warnings=warnings,
    )


def _request_class(req: MessagesRequest, route: Route) -> str:
    if (req.get("output_config") or {}).get("format"):
        return "title"  # Claude Code's structured side requests (session titles)
    return "side" if route.role == "small" else "main"


def swap_warning(route: Route, other: Route | None, snapshot: CatalogueSnapshot) -> str | None:
    """Big and small as two models on one local backend that has only one of them loaded: each
    switch reloads a model (5–30 s). Said on the record, as `lmgate doctor` and the GUI say it."""
    if other is None or other.backend_id != route.backend_id or other.model == route.model:
        return None
    info = snapshot.backend(route.backend_id)
    mine, theirs = (
        snapshot.model(route.backend_id, route.model),
        snapshot.model(other.backend_id, other.model),
    )
    if info is None or info.remote or mine is None or theirs is None:
        return None
    if mine.loaded or not theirs.loaded:
        return None
    return (
        f"{route.model} is not loaded on {route.backend_id} but {other.model} is: big and small "
        "are different models, so each switch reloads one; use the big model for small too "
        "(`lmgate doctor --fix-swap`)"
    )


def counts_prompt(info: BackendInfo | None, model: ModelInfo | None) -> bool:
    """Whether planning this request counts its prompt (there is a window or a ceiling)."""
    window = (model.context_window or model.max_context) if model is not None else None
    return bool(window or (info is not None and info.max_output_tokens))


def _configured(
    load_context: Mapping[str, int], route: Route, model: ModelInfo | None
) -> int | None:
    for name in (model.name if model else None, route.model):
        if name and f"{route.backend_id}:{name}" in load_context:
            return load_context[f"{route.backend_id}:{name}"]
    return None


def _fit(
    req: MessagesRequest,
    info: BackendInfo | None,
    model: ModelInfo | None,
    counter: PromptCounter,
    ollama_window: int | None,
) -> tuple[WindowFit | None, int | None]:
    """Count and fit when there is something to check against; else (None, None).
    `ollama_window`: on Ollama, the context /api/chat gives the model (gateway/backends/
    ollama_context.py), not the one it happens to be loaded with."""
    ceiling = info.max_output_tokens if info else None
    window = ollama_window or (model.context_window if model else None)
    if window is None and ceiling is None:
        return None, None
    prompt = counter.count(req)
    return fit_window(prompt, req["max_tokens"], window, output_ceiling=ceiling), window
