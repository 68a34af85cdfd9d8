"""The Reviewer the relay is handed: what it holds back of a stream, the verdicts it puts in the
final message_delta (keyed by the ids the client got), how a failing review model is answered,
and the request a backend gets without `safeguards`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import httpx
import pytest

from gateway.api.record import RecordDraft
from gateway.api.reviewer import BETA, Reviewer, without_safeguards
from gateway.errors import PromptTooLong, UpstreamError, UpstreamTimeout
from gateway.review.context import read_context
from gateway.review.results import Verdict, flagged
from gateway.schemas.anthropic import MessagesRequest
from gateway.translate.stream import Event

CONTEXT = read_context({"classifier_context": {"live_cwd": "/p", "home_dir": "/h"}})
INLINE = {"command": "python3 -c 'print(1)'"}


def stream(*calls: tuple[str, str, dict[str, Any]], stop: str = "tool_use") -> list[Event]:
    """A stream's events with each call's input split over two deltas."""
    events: list[Event] = [("message_start", {"type": "message_start", "message": {}})]
    for index, (tool_id, name, tool_input) in enumerate(calls):
        block = {"type": "tool_use", "id": tool_id, "name": name, "input": {}}
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": block},
            )
        )
        text = json.dumps(tool_input)
        for part in (text[:5], text[5:]):
            delta = {"type": "input_json_delta", "partial_json": part}
            events.append(
                (
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": delta},
                )
            )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    final = {"type": "message_delta", "delta": {"stop_reason": stop}, "usage": {}}
    events += [("message_delta", final), ("message_stop", {"type": "message_stop"})]
    return events


def reviewer(classify: Any = None, mode: str = "classifier") -> Reviewer:
    draft = RecordDraft("req_1", "POST", "/v1/messages")
    return Reviewer(CONTEXT, [], draft, mode=mode, classify=classify)


def test_the_final_delta_waits_and_carries_the_verdicts_for_the_ids_the_client_got() -> None:
    asked: list[Sequence[str]] = []

    async def classify(system: str, user: str, ids: Sequence[str]) -> dict[str, Verdict]:
        asked.append(ids)
        # The input as a whole, from the two deltas it came in.
        assert '"input":{"command":"python3 -c \'print(1)\'"}' in user
        return {ids[0]: flagged("classifier", "It runs a script.")}

    review = reviewer(classify)
    events = stream(("toolu_A", "Read", {"file_path": "/p/a"}), ("toolu_B", "Bash", INLINE))
    passed = review.hold(events[:4]) + review.hold(events[4:])
    assert [name for name, _ in passed] == [name for name, _ in events[:-2]]

    end = asyncio.run(review.release())

    assert [name for name, _ in end] == ["message_delta", "message_stop"]
    delta = end[0][1]["delta"]
    assert delta["stop_reason"] == "tool_use"
    (result,) = delta["safeguard_results"]
    assert result["status"]["tool_uses"] == {
        "toolu_A": {"type": "evaluated", "outcome": "not_flagged"},
        "toolu_B": {"type": "evaluated", "outcome": "flagged", "explanation": "It runs a script"},
    }
    assert asked == [["toolu_B"]]
    verdicts = review.draft.extra["review"]["verdicts"]
    assert verdicts["toolu_A"]["layer"] == "rules" and verdicts["toolu_B"]["layer"] == "classifier"


def test_a_call_cut_off_by_max_tokens_is_truncated_and_not_asked_about() -> None:
    async def classify(system: str, user: str, ids: Sequence[str]) -> dict[str, Verdict]:
        raise AssertionError("nothing to ask")

    review = reviewer(classify)
    review.hold(stream(("toolu_A", "Bash", INLINE), stop="max_tokens"))
    (_, delta), _ = asyncio.run(review.release())
    tool_uses = delta["delta"]["safeguard_results"][0]["status"]["tool_uses"]
    assert tool_uses == {"toolu_A": {"type": "unavailable", "reason": "truncated"}}


def test_a_call_whose_input_is_not_json_is_truncated() -> None:
    review = reviewer()
    events = stream(("toolu_A", "Bash", INLINE), ("toolu_B", "Read", {"file_path": "/p/a"}))
    events[2] = (
        events[2][0],
        {**events[2][1], "delta": {"type": "input_json_delta", "partial_json": "{"}},
    )
    review.hold(events)
    (_, delta), _ = asyncio.run(review.release())
    tool_uses = delta["delta"]["safeguard_results"][0]["status"]["tool_uses"]
    assert tool_uses == {
        "toolu_A": {"type": "unavailable", "reason": "truncated"},
        "toolu_B": {"type": "evaluated", "outcome": "not_flagged"},
    }


@pytest.mark.parametrize(
    ("failure", "reason", "warning"),
    [
        (TimeoutError(), "timeout", "did not answer in time"),
        (UpstreamTimeout("the backend did not answer"), "timeout", "did not answer in time"),
        (PromptTooLong(40000, 32768), "input_too_long", "prompt too long"),
        (UpstreamError("the backend failed"), "error", "the backend failed"),
        (httpx.ConnectError("refused"), "error", "ConnectError: refused"),
    ],
)
def test_a_failing_review_model_is_unavailable_with_its_reason(
    failure: Exception, reason: str, warning: str
) -> None:
    async def classify(system: str, user: str, ids: Sequence[str]) -> dict[str, Verdict]:
        raise failure

    review = reviewer(classify)
    message = {"content": [{"type": "tool_use", "id": "toolu_A", "name": "Bash", "input": INLINE}]}
    answered = asyncio.run(review.on_message({**message, "stop_reason": "tool_use"}))
    tool_uses = answered["safeguard_results"][0]["status"]["tool_uses"]
    assert tool_uses == {"toolu_A": {"type": "unavailable", "reason": reason}}
    (said,) = review.draft.warnings
    assert said.startswith("the review model") and warning in said, said


def test_a_backend_gets_no_safeguards_and_no_beta() -> None:
    raw: dict[str, Any] = {"model": "m", "messages": [], "safeguards": [{"type": "x"}]}
    req: MessagesRequest = {"model": "m", "messages": [], "max_tokens": 1, "safeguards": []}
    headers = {"anthropic-beta": f"a-1, {BETA},b-2", "anthropic-version": "2023-06-01"}

    out_req, out_raw, out_headers = without_safeguards(req, raw, headers)

    assert "safeguards" not in out_req and "safeguards" not in out_raw
    assert out_headers == {"anthropic-beta": "a-1,b-2", "anthropic-version": "2023-06-01"}
    assert "safeguards" in raw  # the client's own body is left as it was
    _, _, only = without_safeguards(out_req, out_raw, {"anthropic-beta": BETA})
    assert only == {}
