"""Verdicts and the `safeguard_results` the client reads: top level of a message, or in the final
`message_delta`'s `delta`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from gateway.review.context import DANGEROUS_TOOL_USE

__all__ = [
    "REASONS",
    "Verdict",
    "available_results",
    "flagged",
    "not_flagged",
    "unavailable",
    "unavailable_for",
    "unsupported_results",
    "with_results_in_delta",
    "with_results_in_message",
]

# The reasons the client knows (LiteLLM's set): anything else is reported as `error`.
REASONS = frozenset({"timeout", "error", "refused", "input_too_long", "truncated"})
Layer = Literal["rules", "classifier", "gateway"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """One tool call's verdict and the layer that gave it (for the request record)."""

    outcome: Literal["not_flagged", "flagged", "unavailable"]
    layer: Layer
    explanation: str = ""  # why it was flagged, one sentence
    reason: str = ""  # why there is no verdict

    def as_json(self) -> dict[str, Any]:
        if self.outcome == "unavailable":
            return {"type": "unavailable", "reason": self.reason}
        if self.outcome == "flagged":
            # Claude Code 2.1.332 shows "Reason: <explanation>." and adds the full stop itself.
            said = self.explanation.rstrip(".") or self.explanation
            return {"type": "evaluated", "outcome": "flagged", "explanation": said}
        return {"type": "evaluated", "outcome": "not_flagged"}


def not_flagged(layer: Layer) -> Verdict:
    return Verdict("not_flagged", layer)


def flagged(layer: Layer, explanation: str) -> Verdict:
    text = " ".join(explanation.split()) or "This action was judged dangerous."
    return Verdict("flagged", layer, explanation=text)


def unavailable(reason: str, layer: Layer = "gateway") -> Verdict:
    return Verdict("unavailable", layer, reason=reason if reason in REASONS else "error")


def unavailable_for(
    ids: Iterable[str], reason: str, layer: Layer = "gateway"
) -> dict[str, Verdict]:
    """The same missing verdict for each id (a classifier timeout, an error)."""
    verdict = unavailable(reason, layer)
    return dict.fromkeys(ids, verdict)


def available_results(verdicts: Mapping[str, Verdict]) -> list[dict[str, Any]]:
    """`safeguard_results` with a verdict per tool_use id, keyed exactly as emitted; a reply
    without tool calls gets an empty map."""
    tool_uses = {tool_id: verdict.as_json() for tool_id, verdict in verdicts.items()}
    return [{"type": DANGEROUS_TOOL_USE, "status": {"type": "available", "tool_uses": tool_uses}}]


def unsupported_results() -> list[dict[str, Any]]:
    """ "This route does not review": Claude Code uses its own classifier for the session."""
    return [{"type": DANGEROUS_TOOL_USE, "status": {"type": "unsupported"}}]


def with_results_in_message(
    message: Mapping[str, Any], results: list[dict[str, Any]]
) -> dict[str, Any]:
    """A non-streamed Message with `safeguard_results` at the top level (a copy)."""
    return {**message, "safeguard_results": results}


def with_results_in_delta(
    event: Mapping[str, Any], results: list[dict[str, Any]]
) -> dict[str, Any]:
    """The final `message_delta` event's data with `safeguard_results` in its `delta`, beside
    `stop_reason` (a copy)."""
    if event.get("type") != "message_delta":
        raise ValueError(f"safeguard_results go in a message_delta, not {event.get('type')!r}")
    delta = event.get("delta")
    return {
        **event,
        "delta": {**(delta if isinstance(delta, Mapping) else {}), "safeguard_results": results},
    }
