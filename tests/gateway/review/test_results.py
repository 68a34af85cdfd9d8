"""`safeguard_results` in the shapes the reference gives, non-streamed and streamed."""

from __future__ import annotations

import pytest

from gateway.review.results import (
    available_results,
    flagged,
    not_flagged,
    unavailable,
    unavailable_for,
    unsupported_results,
    with_results_in_delta,
    with_results_in_message,
)

VERDICTS = {
    "toolu_A": not_flagged("rules"),
    "toolu_B": flagged("classifier", "one sentence"),
    "toolu_C": unavailable("timeout"),
}
EXPECTED = [
    {
        "type": "dangerous_tool_use",
        "status": {
            "type": "available",
            "tool_uses": {
                "toolu_A": {"type": "evaluated", "outcome": "not_flagged"},
                "toolu_B": {
                    "type": "evaluated",
                    "outcome": "flagged",
                    "explanation": "one sentence",
                },
                "toolu_C": {"type": "unavailable", "reason": "timeout"},
            },
        },
    }
]


def test_available_results_have_the_reference_shape() -> None:
    assert available_results(VERDICTS) == EXPECTED
    assert available_results({}) == [
        {"type": "dangerous_tool_use", "status": {"type": "available", "tool_uses": {}}}
    ]
    assert unsupported_results() == [
        {"type": "dangerous_tool_use", "status": {"type": "unsupported"}}
    ]


def test_unknown_reasons_become_error_and_one_reason_covers_many_ids() -> None:
    assert unavailable("exploded").reason == "error"
    for reason in ("timeout", "error", "refused", "input_too_long", "truncated"):
        assert unavailable(reason).reason == reason
    assert unavailable_for(["a", "b"], "input_too_long", "classifier") == {
        "a": unavailable("input_too_long", "classifier"),
        "b": unavailable("input_too_long", "classifier"),
    }
    assert flagged("rules", "").explanation == "This action was judged dangerous."


def test_results_go_top_level_in_a_message_and_into_the_final_delta() -> None:
    message = {"id": "msg_1", "type": "message", "stop_reason": "tool_use"}
    assert with_results_in_message(message, EXPECTED) == {**message, "safeguard_results": EXPECTED}
    assert "safeguard_results" not in message
    event = {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {"output_tokens": 45},
    }
    assert with_results_in_delta(event, EXPECTED) == {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None, "safeguard_results": EXPECTED},
        "usage": {"output_tokens": 45},
    }
    assert "safeguard_results" not in event["delta"]
    with pytest.raises(ValueError, match="message_delta"):
        with_results_in_delta({"type": "message_stop"}, EXPECTED)


def test_the_explanation_goes_out_without_its_full_stop() -> None:
    # Claude Code adds one: "Reason: It force-pushes.." otherwise. The record keeps the sentence.
    verdict = flagged("rules", "It force-pushes main.")
    assert verdict.explanation == "It force-pushes main."
    assert verdict.as_json()["explanation"] == "It force-pushes main"
    assert flagged("rules", "...").as_json()["explanation"] == "..."
