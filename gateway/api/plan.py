"""How one request goes upstream: protocol, URL, body, headers, context fit, tool handling.

Protocols (what `BackendInfo.protocol` says, decided per backend and version in
gateway/backends/protocols.py):
  openai     POST …/chat/completions, the Anthropic request translated (gateway/translate)
  anthropic  POST …/messages, the client's own body with only the model renamed, the billing
             block and metadata removed, max_tokens fitted; answers go through gateway/repair
  ollama     POST /api/chat with options.num_ctx. Also chosen per request for an Ollama
             backend whose loaded context is too small for the request: Ollama's OpenAI and
             Anthropic endpoints ignore num_ctx and silently truncate the prompt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.backends.catalogue import BackendInfo, CatalogueSnapshot, ModelInfo
from gateway.backends.presets import PRESETS
from gateway.context import PromptCounter, WindowFit, fit_window
from gateway.queueing import MAIN, SIDE
from gateway.repair.tool_choice import ToolRequirement, required_tool, with_instruction
from gateway.routing import Route
from gateway.schemas.anthropic import MessagesRequest
from gateway.translate.conversation import BILLING_PREFIX
from gateway.translate.ollama import num_ctx_for, openai_to_ollama_chat
from gateway.translate.request import BackendTraits, anthropic_to_openai
from gateway.upstream.client import Upstream

__all__ = ["Plan", "counts_prompt", "make_plan", "swap_warning", "traits_for"]

# Betas that a native backend is known to refuse; none are known for the local servers today.
_REFUSED_BETAS: dict[str, frozenset[str]] = {}
_FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta")
IMAGE_NOTE = "[image omitted: this model has no vision]"


@dataclass
class Plan:
    dialect: str  # "openai" | "anthropic" | "ollama"
    url: str
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    stream_upstream: bool = False
    tool_names: tuple[str, ...] = ()
    requirement: ToolRequirement | None = None  # tool_choice emulated by the gateway
    retries: int = 0
    priority: int = MAIN
    request_class: str = "main"
    prompt_tokens: int | None = None
    changes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def traits_for(info: BackendInfo | None, model: ModelInfo | None, model_name: str) -> BackendTraits:
    """The translator's knobs for a backend and model (the per-backend quirk table)."""
    vision = not (model is not None and model.vision is False)
    if info is None or not info.remote:
        # Local servers: llama.cpp, vLLM, SGLang, LM Studio and Ollama's OpenAI endpoint take
        # chat_template_kwargs.enable_thinking and ignore what they do not know.
        return BackendTraits(vision=vision)
    preset = PRESETS.get(info.kind)
    reasoning_model = bool(preset and preset.uses_max_completion_tokens(model_name))
    return BackendTraits(
        vision=vision,
        thinking_switch=False,  # remote APIs refuse unknown parameters
        reasoning_effort=reasoning_model,
        max_tokens_field="max_completion_tokens" if reasoning_model else "max_tokens",
        reasoning_roundtrip=bool(preset and preset.reasoning_roundtrip),
        clean_json_schema=bool(preset and preset.clean_json_schema),
    )


def make_plan(
    req: MessagesRequest,
    raw: dict[str, Any],
    route: Route,
    info: BackendInfo | None,
    model: ModelInfo | None,
    upstream: Upstream,
    counter: PromptCounter,
    *,
    stream: bool,
    client_headers: dict[str, str],
    stream_options: bool = True,
) -> Plan:
    changes: list[str] = []
    warnings: list[str] = []
    kind = info.kind if info else "openai"
    protocol = info.protocol if info else "openai"
    request_class = _request_class(req, route)

    # tool_choice: Ollama ignores it, so any/tool is asked for in words and checked (relay).
    requirement = required_tool(req) if kind == "ollama" else None
    if requirement is not None:
        req = with_instruction(req, requirement)
        raw = dict(with_instruction(raw, requirement))  # type: ignore[arg-type]
        changes.append(f"tool_choice {requirement.kind} emulated with an instruction")

    fit, window = _fit(req, info, model, counter, kind)
    if fit is not None and fit.capped_from is not None:
        changes.append(
            f"max_tokens capped from {fit.capped_from} to {fit.max_tokens}: {fit.reason}"
        )
    max_tokens = fit.max_tokens if fit is not None else req["max_tokens"]

    loaded = model.context_window if model else None
    needed = (fit.prompt_tokens + max_tokens) if fit is not None else 0
    if kind == "ollama" and loaded and needed > loaded:
        protocol = "ollama"
        changes.append(f"sent through Ollama's /api/chat: it needs a {needed}-token context")

    can_stream = info.can_stream if info else True
    stream_upstream = stream and can_stream and requirement is None
    if stream and not stream_upstream and not can_stream:
        changes.append("asked the backend without streaming (it cannot stream)")
    tool_names = tuple(
        t["name"] for t in req.get("tools") or () if "input_schema" in t or not t.get("type")
    )
    plan = Plan(
        dialect=protocol,
        url="",
        body={},
        stream_upstream=stream_upstream,
        tool_names=tool_names,
        requirement=requirement,
        retries=info.retries if info else 0,
        priority=SIDE if request_class != "main" else MAIN,
        request_class=request_class,
        prompt_tokens=fit.prompt_tokens if fit is not None else None,
        changes=changes,
        warnings=warnings,
    )
    if protocol == "anthropic":
        plan.url = upstream.url("messages")
        plan.body = _native_body(raw, route.model, max_tokens, stream_upstream, model, plan)
        plan.headers = _native_headers(client_headers, kind)
        return plan
    traits = traits_for(info, model, route.model)
    if not stream_options:
        traits = BackendTraits(**{**_fields(traits), "stream_usage": False})
    fitted: MessagesRequest = {**req, "max_tokens": max_tokens}
    translation = anthropic_to_openai(fitted, route.model, stream=stream_upstream, traits=traits)
    changes.extend(translation.changes)
    warnings.extend(translation.warnings)
    if protocol == "ollama":
        num_ctx = num_ctx_for(
            needed, loaded=loaded, maximum=model.max_context if model else None, cap=window
        )
        plan.url = f"{upstream.root_url}/api/chat"
        plan.body = openai_to_ollama_chat(translation.body, num_ctx=num_ctx)
    else:
        plan.url = upstream.url("chat/completions")
        plan.body = translation.body
    return plan


def _fields(traits: BackendTraits) -> dict[str, Any]:
    return {name: getattr(traits, name) for name in traits.__slots__}


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


def _fit(
    req: MessagesRequest,
    info: BackendInfo | None,
    model: ModelInfo | None,
    counter: PromptCounter,
    kind: str,
) -> tuple[WindowFit | None, int | None]:
    """Count and fit when there is something to check against; else (None, None)."""
    ceiling = info.max_output_tokens if info else None
    window = model.context_window if model else None
    if kind == "ollama" and model is not None:
        # /api/chat can give the model its whole trained context.
        window = model.max_context or window
    if window is None and ceiling is None:
        return None, None
    prompt = counter.count(req)
    return fit_window(prompt, req["max_tokens"], window, output_ceiling=ceiling), window


def _native_body(
    raw: dict[str, Any],
    model_name: str,
    max_tokens: int,
    stream: bool,
    model: ModelInfo | None,
    plan: Plan,
) -> dict[str, Any]:
    body = {k: v for k, v in raw.items() if k != "metadata"}
    if "metadata" in raw:
        plan.changes.append("metadata dropped")  # it carries Claude Code's device id
    body["model"] = model_name
    body["max_tokens"] = max_tokens
    body["stream"] = stream
    system = raw.get("system")
    if isinstance(system, list):
        kept = [
            b
            for b in system
            if not (isinstance(b, dict) and str(b.get("text", "")).startswith(BILLING_PREFIX))
        ]
        if len(kept) != len(system):
            plan.changes.append("billing header removed")
            body["system"] = kept
    elif isinstance(system, str) and system.startswith(BILLING_PREFIX):
        plan.changes.append("billing header removed")
        body["system"] = system.partition("\n")[2].lstrip("\n")
    if model is not None and model.vision is False:
        body["messages"], count = _without_images(raw["messages"])
        if count:
            plan.changes.append(f"{count} image(s) replaced by a note")
            plan.warnings.append(f"{model_name} has no vision: {count} image(s) not sent")
    return body


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
