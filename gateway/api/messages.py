"""`POST /v1/messages` and `POST /v1/messages/count_tokens`."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

import httpx
import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway.api.completion import completion, context_management_notes
from gateway.api.error_answers import error_response
from gateway.api.guard import read_body
from gateway.api.hops import Hop, Hops
from gateway.api.plan import counts_prompt, make_plan, swap_warning
from gateway.api.record import RecordDraft, new_id, redact_headers
from gateway.api.relay import FixedAnswer, MessagesRelay
from gateway.api.safeguards import wants_review, without_safeguards
from gateway.api.state import GatewayState
from gateway.api.targets import targets_for
from gateway.backends.catalogue import CatalogueSnapshot
from gateway.candidates import Choice
from gateway.errors import GatewayError
from gateway.routing import ROLE_MODELS, Route, resolve
from gateway.schemas.anthropic import (
    CountTokensRequest,
    MessagesRequest,
    parse_count_tokens_request,
    parse_messages_object,
    parse_messages_request_raw,
)
from gateway.team.gate import client_of
from gateway.threads import open_turn
from gateway.tokens import count_tokens
from gateway.tokens import is_loaded as tokens_loaded
from gateway.translate.conversation import BILLING_PREFIX
from gateway.translate.request import is_web_search_request
from gateway.translate.response import text_message
from gateway.upstream.client import Upstream

__all__ = ["router"]

router = APIRouter()
# A body up to this size is planned (and its prompt counted) on the event loop: at most ~2 ms.
_INLINE_PLAN = 16 * 1024

WEB_SEARCH_NOTICE = (
    "Web search is not available through a local model: LM Gate does not search the web and "
    "will not invent results. Answer from what you know, or fetch a specific URL instead."
)

_JSON_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


def _state(request: Request) -> GatewayState:
    state: GatewayState = request.app.state.gateway
    return state


@router.post("/v1/messages", openapi_extra=_JSON_BODY, response_model=None)
async def create_message(request: Request) -> Response | MessagesRelay | FixedAnswer:
    state = _state(request)
    config = state.config
    draft = RecordDraft(new_id("req_"), "POST", request.url.path)
    headers = request.scope["headers"]
    draft.session = request.headers.get("x-claude-code-session-id")
    client = client_of(request.scope)
    draft.client = client.name if client else None
    try:
        body = await read_body(request.receive, config.max_body_bytes)
        req, raw = parse_messages_request_raw(body)
        # A thread's continue becomes the whole conversation before anything reads it.
        turn, whole, notes = await open_turn(state.threads, raw)
        if whole is not raw:
            req, raw = parse_messages_object(whole), whole
        draft.changes.extend(notes)
        stream = bool(req.get("stream"))
        draft.client_model = req["model"]
        draft.stream = stream
        if config.capture_bodies and len(body) <= config.capture_max_bytes:
            draft.request_body = redacted_request(req)
            draft.extra["headers"] = redact_headers(headers)
        review = None
        if wants_review(req):
            # Auto mode's rules and classifier are loaded with the first request that asks.
            from gateway.api.reviewer import reviewer_for

            review = reviewer_for(req, state, draft)
        req, raw, client_headers = without_safeguards(req, raw, request.headers)
        if is_web_search_request(req):
            draft.route_rule = draft.request_class = "web-search"
            draft.warnings.append("web search is not available through a local model")
            message = text_message(
                WEB_SEARCH_NOTICE, client_model=req["model"], message_id=new_id("msg_")
            )
            if review is not None:
                message = await review.on_message(message)
            return FixedAnswer(message, stream=stream, draft=draft, bus=state.bus)
        registry = state.registry
        assert registry is not None
        index = registry.index()
        route = resolve(req["model"], config, index)
        draft.backend, draft.backend_model, draft.route_rule = (
            route.backend_id,
            route.model,
            route.rule,
        )
        draft.route = route.role
        snapshot = registry.snapshot()
        # Counting is pure Python (~0.1 ms per KB not seen before) and the first count loads the
        # BPE tables (~0.3 s): a large body, or the first, is routed and planned off the event loop.
        inline = tokens_loaded() and len(body) <= _INLINE_PLAN
        choosing = partial(
            targets_for, req, client_headers, route, config, index, snapshot, state.counter
        )
        chosen = choosing() if inline or not config.routes.long_context else None
        if chosen is None:
            chosen = await asyncio.to_thread(choosing)
        if chosen.scenario is not None:
            draft.route, draft.route_reason = chosen.scenario.name, chosen.scenario.reason
        draft.warnings.extend(chosen.warnings)
        choices, skipped = state.router.order(chosen.targets)
        first = choices[0]
        offload = not inline and counts_prompt(
            snapshot.backend(first.backend_id), snapshot.model(first.backend_id, first.model)
        )
        hops = Hops(
            choices,
            registry.upstream,
            partial(
                _hop,
                state,
                req,
                raw,
                route,
                snapshot,
                stream=stream,
                client_headers=client_headers,
            ),
            draft=draft,
            snapshot=snapshot,
            skipped=skipped,
            offload=offload,
        )
        hop = await hops.first()
        plan = hop.plan
        draft.backend, draft.backend_model = hop.choice.backend_id, hop.choice.model
        model_info = snapshot.model(hop.choice.backend_id, hop.choice.model)
        # Only a model that is not loaded can be swapped in: check that before routing the other.
        if route.role in ("big", "small") and model_info is not None and model_info.loaded is False:
            other_role = ROLE_MODELS["small" if route.role == "big" else "big"]
            try:
                other = resolve(other_role, config, index)
            except GatewayError:
                other = None
            hop_route = Route(hop.choice.backend_id, hop.choice.model, route.rule, route.role)
            swap = swap_warning(hop_route, other, snapshot)
            if swap:
                draft.warnings.append(swap)
        draft.request_class = plan.request_class
        draft.extra["protocol"] = plan.protocol.name
        draft.prefix_note = state.prefixes.observe(
            draft.session,
            req["messages"],
            target=f"{hop.choice.backend_id}/{hop.choice.model}",
            protocol=plan.protocol.name,
            body=plan.request.body,
        )
        draft.changes.extend(plan.changes)
        draft.warnings.extend(plan.warnings)
        if req.get("context_management"):
            changes, warnings = context_management_notes(req["context_management"])
            draft.changes.extend(changes)
            draft.warnings.extend(warnings)
        message_id = new_id("msg_")
    except GatewayError as exc:
        draft.status, draft.error = exc.status, exc.message
        draft.publish(state.bus)
        return error_response(exc, draft.request_id)
    except ConnectionAbortedError:
        draft.status, draft.error = 499, "the client closed the connection"
        draft.publish(state.bus)
        return Response(status_code=499)
    return MessagesRelay(
        hop=hop,
        hops=hops if hops.remaining else None,
        router=state.router,
        stream=stream,
        message_id=message_id,
        client_model=req["model"],
        draft=draft,
        bus=state.bus,
        commit_after=config.commit_after,
        ping_interval=config.ping_interval,
        on_unreachable=registry.probe_soon,
        capture=config.capture_bodies,
        review=review,
        # Once the answer is whole: a thread turn stored under the id the client gets, and the
        # fields the gateway answers itself (context_management).
        on_complete=completion(
            threads=state.threads,
            message_id=message_id,
            thread_request=raw if turn else None,
            context_management=bool(req.get("context_management")),
            continues=turn.previous_message_id if turn else None,
        ),
        max_line=config.max_stream_line_bytes,
    )


def _hop(
    state: GatewayState,
    req: MessagesRequest,
    raw: dict[str, Any],
    route: Route,
    snapshot: CatalogueSnapshot,
    choice: Choice,
    upstream: Upstream,
    *,
    stream: bool,
    client_headers: dict[str, str],
) -> Hop:
    """One choice planned: its protocol, its window fit, its queue."""
    info = snapshot.backend(choice.backend_id)
    plan = make_plan(
        req,
        raw,
        Route(choice.backend_id, choice.model, route.rule, route.role),
        info,
        snapshot.model(choice.backend_id, choice.model),
        upstream,
        state.counter,
        protocols=state.protocols,
        stream=stream,
        client_headers=client_headers,
        pdf=state.pdf_texts,
        load_context=state.config.load_context,
    )
    return Hop(choice, upstream, plan, state.queue_for(choice.backend_id, info))


@router.post("/v1/messages/count_tokens", openapi_extra=_JSON_BODY, response_model=None)
async def count_message_tokens(request: Request) -> Response:
    state = _state(request)
    draft = RecordDraft(new_id("req_"), "POST", request.url.path)
    draft.session = request.headers.get("x-claude-code-session-id")
    client = client_of(request.scope)
    draft.client = client.name if client else None
    try:
        body = await read_body(request.receive, state.config.max_body_bytes)
        req = parse_count_tokens_request(body)
        draft.client_model = req["model"]
        count = await _backend_count(state, req, draft) if state.registry else None
        if count is None:
            count = await asyncio.to_thread(partial(count_tokens, req, pdf=state.pdf_texts))
            draft.extra["counter"] = "bpe"
    except GatewayError as exc:
        draft.status, draft.error = exc.status, exc.message
        draft.publish(state.bus)
        return error_response(exc, draft.request_id)
    except ConnectionAbortedError:
        return Response(status_code=499)
    draft.status = 200
    draft.usage = {"input_tokens": count}
    draft.publish(state.bus)
    return Response(
        b'{"input_tokens":%d}' % count,
        media_type="application/json",
        headers={"request-id": draft.request_id},
    )


async def _backend_count(
    state: GatewayState, req: CountTokensRequest, draft: RecordDraft
) -> int | None:
    """The backend's own count where it has one (llama.cpp and SGLang answer
    /v1/messages/count_tokens with the model's real tokenizer); None → count here."""
    registry = state.registry
    assert registry is not None
    try:
        route = resolve(req["model"], state.config, registry.index())
    except GatewayError:
        return None
    info = registry.snapshot().backend(route.backend_id)
    if info is None or "messages" not in info.features or info.state != "up":
        return None
    draft.backend, draft.backend_model, draft.route_rule = route.backend_id, route.model, route.rule
    body: dict[str, Any] = {k: v for k, v in req.items() if v is not None}
    body["model"] = route.model
    if isinstance(body.get("system"), list):
        body["system"] = [b for b in body["system"] if not b["text"].startswith(BILLING_PREFIX)]
    upstream = registry.upstream(route.backend_id)
    try:
        async with asyncio.timeout(10):
            async with upstream.post(upstream.url("messages/count_tokens"), body) as response:
                answer = orjson.loads(await response.aread())
        count = answer["input_tokens"]
        if not isinstance(count, int):
            raise TypeError
    except (
        GatewayError,
        TimeoutError,
        httpx.HTTPError,
        orjson.JSONDecodeError,
        KeyError,
        TypeError,
    ) as exc:
        draft.warnings.append(f"the backend could not count ({type(exc).__name__}); counted here")
        return None
    draft.extra["counter"] = "backend"
    return count


def redacted_request(req: MessagesRequest) -> dict[str, Any]:
    """The request as the record keeps it: no metadata (a device id), image data elided."""
    out: dict[str, Any] = {k: v for k, v in req.items() if k != "metadata"}
    out["messages"] = [_elide_images(m) for m in req["messages"]]
    return out


def _elide_images(message: Any) -> Any:
    content = message.get("content")
    if not isinstance(content, list):
        return message
    return {**message, "content": [_elide_block(b) for b in content]}


def _elide_block(block: Any) -> Any:
    if block.get("type") == "image" and block["source"].get("type") == "base64":
        data = block["source"]["data"]
        return {**block, "source": {**block["source"], "data": f"<{len(data)} base64 chars>"}}
    if block.get("type") == "tool_result" and isinstance(block.get("content"), list):
        return {**block, "content": [_elide_block(b) for b in block["content"]]}
    return block
