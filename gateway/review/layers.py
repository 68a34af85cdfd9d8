"""The two layers joined: the rules decide what they can, the classifier the rest."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.review.classifier import ToolCall, calls_in_reply
from gateway.review.context import ReviewContext
from gateway.review.results import Verdict, flagged, not_flagged, unavailable
from gateway.review.rules import judge

__all__ = ["RulesOutcome", "complete", "review_by_rules"]


@dataclass(frozen=True, slots=True)
class RulesOutcome:
    """The rules' verdicts (and a cut-off call's `truncated`), the calls left for the
    classifier, and per id which rule decided (for the request record). `order` is the reply's
    tool_use order."""

    verdicts: dict[str, Verdict]
    undecided: list[ToolCall]
    order: list[str]
    rules: dict[str, str] = field(default_factory=dict)


def review_by_rules(
    content: Sequence[Mapping[str, Any]], stop_reason: str | None, context: ReviewContext
) -> RulesOutcome:
    """Judge the tool calls of a reply (its Anthropic content blocks) by the rules alone."""
    calls, cut = calls_in_reply(content, stop_reason)
    verdicts: dict[str, Verdict] = {}
    undecided: list[ToolCall] = []
    rules: dict[str, str] = {}
    for call in calls:
        verdict = judge(call.name, call.input, context)
        rules[call.id] = verdict.rule
        if verdict.decision == "pass":
            verdicts[call.id] = not_flagged("rules")
        elif verdict.decision == "flag":
            verdicts[call.id] = flagged("rules", verdict.explanation)
        else:
            undecided.append(call)
    for tool_id in cut:
        verdicts[tool_id] = unavailable("truncated")
    order = [call.id for call in calls] + cut
    return RulesOutcome(verdicts, undecided, order, rules)


def complete(
    outcome: RulesOutcome,
    classifier: Mapping[str, Verdict] | None = None,
    *,
    missing: str = "error",
) -> dict[str, Verdict]:
    """A verdict for every tool call, in the reply's order: the rules', else the classifier's,
    else `unavailable` with `missing` as the reason (rules-only mode, or a classifier that
    answered for fewer calls): never `not_flagged` without a real verdict."""
    out: dict[str, Verdict] = {}
    for tool_id in outcome.order:
        verdict = outcome.verdicts.get(tool_id) or (classifier or {}).get(tool_id)
        out[tool_id] = verdict or unavailable(missing)
    return out
