"""Auto mode's review on the request path: the `Reviewer` a relay is handed when a request carries
`safeguards`, and the classifier model asked through the gateway's own backends.

The relay knows three calls: `hold` (the final `message_delta` and what follows it wait while
the stream goes on), `release` (the verdicts go into that delta) and `on_message` (a whole
answer gets them at the top level). The judging itself is gateway/review (pure).

What Claude Code 2.1.332 does with each answer (measured with tests/fixtures/capture.py's fake):
`not_flagged` runs the action; `flagged` denies it and tells the model why; `unavailable`
denies it ("Not run · auto mode's check had no usable answer"; the model may try once more and
after 10 replies in a row without a verdict the turn stops); `unsupported` (and no results at
all) shows "Auto mode can't check actions in this session" and, interactively, asks the user to
approve each action that needs the check (in `-p` mode such actions are refused); the next
reply with verdicts is honoured again. So with the rules alone, a reply the rules cannot fully
judge is answered `unsupported` (the user decides, and keeps working) unless a call in it is
flagged (then `flagged` blocks it and the undecided ones are `unavailable`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from gateway.api.plan import make_plan
from gateway.api.record import RecordDraft, new_id
from gateway.api.safeguards import BETA, without_safeguards
from gateway.api.state import GatewayState
from gateway.config import ReviewConfig
from gateway.errors import GatewayError, PromptTooLong, UpstreamTimeout
from gateway.review.classifier import (
    ToolCall,
    classifier_prompt,
    classifier_request,
    parse_verdicts,
)
from gateway.review.context import ReviewContext, find_safeguard, read_context
from gateway.review.layers import RulesOutcome, complete, review_by_rules
from gateway.review.results import (
    Verdict,
    available_results,
    unavailable_for,
    unsupported_results,
    with_results_in_delta,
    with_results_in_message,
)
from gateway.routing import ROLE_MODELS, ROLES, resolve
from gateway.schemas.anthropic import MessagesRequest, parse_messages_request_raw
from gateway.translate.stream import Event
from gateway.upstream.client import MAX_JSON_BODY
from gateway.upstream.protocol import ReplySpec

__all__ = [
    "BETA",
    "Classify",
    "Reviewer",
    "ask_classifier",
    "reviewer_for",
    "without_safeguards",
]

# Classify(system, user, ids) → a verdict per id (or raises: the reviewer maps the failure).
Classify = Callable[[str, str, Sequence[str]], Awaitable[dict[str, Verdict]]]
_FINAL = ("message_delta", "message_stop")


@dataclass
class Reviewer:
    """One request's review. `classify` is None with the rules alone; `mode` "off" answers
    every reply `unsupported`."""

    context: ReviewContext
    messages: Sequence[Mapping[str, Any]]
    draft: RecordDraft
    mode: str = "classifier"
    classify: Classify | None = None
    model: str = ""  # the classifier's model, for the record
    _held: list[Event] = field(default_factory=list)
    _blocks: dict[int, dict[str, Any]] = field(default_factory=dict)  # as the client gets them
    _stop_reason: str | None = None

    # --- a stream ---------------------------------------------------------------------------

    def hold(self, events: list[Event]) -> list[Event]:
        """What may go to the client now: everything before the final `message_delta`. The
        content is read as it passes, so the verdicts are keyed by the ids the client sees."""
        out: list[Event] = []
        for event in events:
            name, data = event
            if self._held or name in _FINAL:
                self._held.append(event)
                if name == "message_delta":
                    delta = data.get("delta") or {}
                    self._stop_reason = delta.get("stop_reason") or self._stop_reason
                continue
            self._read(name, data)
            out.append(event)
        return out

    async def release(self) -> list[Event]:
        """The held end of the stream, with the verdicts in the final `message_delta`."""
        held, self._held = self._held, []
        content, cut = self._content()
        results = await self.results(content, self._stop_reason, cut=cut)
        out: list[Event] = []
        placed = False
        for name, data in held:
            if name == "message_delta" and not placed:
                data = with_results_in_delta(data, results)
                placed = True
            out.append((name, data))
        if not placed:
            # A stream that ended without a message_delta is an error the relay reports.
            self.draft.warnings.append("the stream had no message_delta for safeguard_results")
        return out

    def _read(self, name: str, data: dict[str, Any]) -> None:
        index = data.get("index")
        if not isinstance(index, int):
            return
        if name == "content_block_start":
            block = data.get("content_block") or {}
            self._blocks[index] = {**block, "_json": ""}
        elif name == "content_block_delta" and index in self._blocks:
            delta = data.get("delta") or {}
            block = self._blocks[index]
            if delta.get("type") == "input_json_delta":
                block["_json"] += str(delta.get("partial_json") or "")
            elif delta.get("type") == "text_delta":
                block["text"] = str(block.get("text") or "") + str(delta.get("text") or "")

    def _content(self) -> tuple[list[dict[str, Any]], list[str]]:
        """The content as the client assembles it, and the tool calls whose input is not JSON
        (cut off: `truncated`, never shown to the classifier)."""
        content: list[dict[str, Any]] = []
        cut: list[str] = []
        for index in sorted(self._blocks):
            block = {k: v for k, v in self._blocks[index].items() if k != "_json"}
            if block.get("type") == "tool_use":
                text = self._blocks[index]["_json"]
                try:
                    block["input"] = orjson.loads(text) if text.strip() else block.get("input", {})
                except orjson.JSONDecodeError:
                    cut.append(str(block.get("id")))
                    block["input"] = {}
            content.append(block)
        return content, cut

    # --- a whole answer ---------------------------------------------------------------------

    async def on_message(self, message: dict[str, Any]) -> dict[str, Any]:
        """A whole message with `safeguard_results` at the top level."""
        content = message.get("content")
        blocks = [b for b in content if isinstance(b, Mapping)] if isinstance(content, list) else []
        results = await self.results(blocks, message.get("stop_reason"))
        return with_results_in_message(message, results)

    # --- the verdicts -----------------------------------------------------------------------

    async def results(
        self,
        content: Sequence[Mapping[str, Any]],
        stop_reason: str | None,
        *,
        cut: Collection[str] = (),
    ) -> list[dict[str, Any]]:
        """`safeguard_results` for a reply, recorded on the draft."""
        if self.mode == "off":
            self._record({}, "review is off: answered unsupported")
            return unsupported_results()
        outcome = review_by_rules(content, stop_reason, self.context)
        if cut:
            outcome.verdicts.update(unavailable_for(cut, "truncated"))
            outcome.undecided[:] = [call for call in outcome.undecided if call.id not in cut]
        if not outcome.undecided:
            verdicts = complete(outcome)
            self._record(verdicts, "", outcome)
            return available_results(verdicts)
        if self.classify is None:
            return self._rules_only(outcome)
        started = time.perf_counter()
        found = await self._ask(outcome.undecided, content)
        self.draft.extra.setdefault("review", {})["classifier_ms"] = round(
            (time.perf_counter() - started) * 1000, 2
        )
        verdicts = complete(outcome, found)
        self._record(verdicts, "", outcome)
        return available_results(verdicts)

    def _rules_only(self, outcome: RulesOutcome) -> list[dict[str, Any]]:
        flagged = [v for v in outcome.verdicts.values() if v.outcome == "flagged"]
        if not flagged:
            # Claude Code asks the user for each action the check did not clear.
            ids = ", ".join(call.id for call in outcome.undecided)
            note = f"the rules left {ids} undecided: answered unsupported, the user decides"
            self._record(outcome.verdicts, note, outcome)
            return unsupported_results()
        verdicts = complete(outcome, missing="error")
        self._record(verdicts, "", outcome)
        return available_results(verdicts)

    async def _ask(
        self, calls: list[ToolCall], content: Sequence[Mapping[str, Any]]
    ) -> dict[str, Verdict]:
        assert self.classify is not None
        ids = [call.id for call in calls]
        system, user = classifier_prompt(self.context.raw, self.messages, calls, content)
        try:
            return await self.classify(system, user, ids)
        except (TimeoutError, UpstreamTimeout):
            reason, said = "timeout", "did not answer in time"
        except PromptTooLong:
            reason, said = "input_too_long", "got a prompt too long for its window"
        except (GatewayError, httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            reason, said = "error", f"failed: {_describe(exc)}"
        self.draft.warnings.append(f"the review model {said}; its calls have no verdict")
        return unavailable_for(ids, reason, "classifier")

    def _record(
        self, verdicts: Mapping[str, Verdict], note: str, outcome: RulesOutcome | None = None
    ) -> None:
        rules = outcome.rules if outcome is not None else {}
        entry = self.draft.extra.setdefault("review", {})
        entry["mode"] = self.mode
        if self.model:
            entry["model"] = self.model
        entry["verdicts"] = {
            tool_id: _verdict_record(verdict, rules.get(tool_id))
            for tool_id, verdict in verdicts.items()
        }
        if note:
            entry["note"] = note
        parts = [
            f"{tool_id} {_short(verdict)} by {_layer(verdict)}"
            for tool_id, verdict in verdicts.items()
        ]
        if parts:
            summary = "; ".join(parts) + (f" ({note})" if note else "")
        else:
            summary = note or "no tool calls"
        self.draft.changes.append("safeguards answered by the gateway: " + summary)


def _verdict_record(verdict: Verdict, rule: str | None) -> dict[str, str]:
    out = {"outcome": verdict.outcome, "layer": _layer(verdict)}
    if verdict.explanation:
        out["explanation"] = verdict.explanation
    if verdict.reason:
        out["reason"] = verdict.reason
    if rule and verdict.layer == "rules":
        out["rule"] = rule
    return out


def _layer(verdict: Verdict) -> str:
    return "none" if verdict.layer == "gateway" else verdict.layer


def _short(verdict: Verdict) -> str:
    if verdict.outcome == "unavailable":
        return f"unavailable ({verdict.reason})"
    return verdict.outcome


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:200] if text else type(exc).__name__


def reviewer_for(req: MessagesRequest, state: GatewayState, draft: RecordDraft) -> Reviewer | None:
    """The request's reviewer when it carries a `dangerous_tool_use` safeguard, else None."""
    entry = find_safeguard(req.get("safeguards"))
    if entry is None:
        return None
    settings = state.config.review
    classify: Classify | None = None
    if settings.mode == "classifier":

        async def classify(system: str, user: str, ids: Sequence[str]) -> dict[str, Verdict]:
            return await ask_classifier(state, settings, system, user, ids, draft)

    return Reviewer(
        context=read_context(entry),
        messages=req["messages"],
        draft=draft,
        mode=settings.mode,
        classify=classify,
        model=settings.model if settings.mode == "classifier" else "",
    )


async def ask_classifier(
    state: GatewayState,
    settings: ReviewConfig,
    system: str,
    user: str,
    ids: Sequence[str],
    draft: RecordDraft,
) -> dict[str, Verdict]:
    """One non-streamed request to the review model through the gateway's own routing, plan
    and protocols, within `settings.timeout`; its answer parsed strictly."""
    registry = state.registry
    assert registry is not None
    name = ROLE_MODELS[settings.model] if settings.model in ROLES else settings.model
    async with asyncio.timeout(settings.timeout):
        route = resolve(name, state.config, registry.index())
        body = classifier_request(name, system, user)
        req, raw = parse_messages_request_raw(orjson.dumps(body))
        upstream = registry.upstream(route.backend_id)
        snapshot = registry.snapshot()
        plan = await asyncio.to_thread(
            make_plan,
            req,
            raw,
            route,
            snapshot.backend(route.backend_id),
            snapshot.model(route.backend_id, route.model),
            upstream,
            state.counter,
            protocols=state.protocols,
            stream=False,
            client_headers={},
            load_context=state.config.load_context,
        )
        changes: list[str] = []
        async with plan.protocol.open(upstream, plan.request, changes) as response:
            parts: list[bytes] = []
            size = 0
            async for data in response.aiter_bytes():
                size += len(data)
                if size > MAX_JSON_BODY:
                    raise ValueError("the review model's answer is too large")
                parts.append(data)
        reply = ReplySpec(new_id("msg_"), name, plan.prompt_tokens or 0, (), upstream.base_url)
        message, _ = plan.protocol.parse(b"".join(parts), reply)
    draft.extra.setdefault("review", {})["classifier_route"] = f"{route.backend_id}/{route.model}"
    text = "".join(
        str(block.get("text") or "")
        for block in message.get("content") or ()
        if isinstance(block, Mapping) and block.get("type") == "text"
    )
    return parse_verdicts(text, ids, stop_reason=message.get("stop_reason"))
