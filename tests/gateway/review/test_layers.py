"""Rules first, the classifier for the rest: every tool call of a reply ends with one verdict."""

from __future__ import annotations

from typing import Any

from gateway.review.classifier import ToolCall, parse_verdicts
from gateway.review.context import read_context
from gateway.review.layers import complete, review_by_rules
from gateway.review.results import available_results, flagged, not_flagged, unavailable

CONTEXT = read_context(
    {"classifier_context": {"live_cwd": "/repo", "home_dir": "/home/u", "platform": "linux"}}
)
REPLY: list[dict[str, Any]] = [
    {"type": "text", "text": "Running the tests, then cleaning up."},
    {"type": "tool_use", "id": "toolu_read", "name": "Read", "input": {"file_path": "/repo/a.py"}},
    {"type": "tool_use", "id": "toolu_test", "name": "Bash", "input": {"command": "npm test"}},
    {"type": "tool_use", "id": "toolu_rm", "name": "Bash", "input": {"command": "rm -rf ~/x"}},
    {"type": "tool_use", "id": "toolu_cut", "name": "Write", "input": {"file_path": "/repo/b"}},
]


def test_the_rules_decide_what_they_can_and_a_cut_off_call_is_truncated() -> None:
    outcome = review_by_rules(REPLY, "max_tokens", CONTEXT)
    assert outcome.order == ["toolu_read", "toolu_test", "toolu_rm", "toolu_cut"]
    assert outcome.undecided == [ToolCall("toolu_test", "Bash", {"command": "npm test"})]
    assert outcome.verdicts == {
        "toolu_read": not_flagged("rules"),
        "toolu_rm": flagged("rules", "This deletes ~/x, outside the trusted directories."),
        "toolu_cut": unavailable("truncated"),
    }
    assert outcome.rules == {
        "toolu_read": "read_only",
        "toolu_test": "none",
        "toolu_rm": "outside_trusted",
    }


def test_the_classifier_fills_in_and_rules_only_leaves_unavailable() -> None:
    outcome = review_by_rules(REPLY, "tool_use", CONTEXT)
    assert [call.id for call in outcome.undecided] == ["toolu_test"]
    answer = parse_verdicts('{"verdicts": {"toolu_test": {"flagged": false}}}', ["toolu_test"])
    verdicts = complete(outcome, answer)
    assert list(verdicts) == ["toolu_read", "toolu_test", "toolu_rm", "toolu_cut"]
    assert verdicts["toolu_test"] == not_flagged("classifier")
    assert verdicts["toolu_cut"] == not_flagged("rules")
    rules_only = complete(outcome)
    assert rules_only["toolu_test"] == unavailable("error")
    statuses = available_results(rules_only)[0]["status"]["tool_uses"]
    assert statuses["toolu_test"] == {"type": "unavailable", "reason": "error"}
    # A classifier that ignores the rules' decisions does not override them.
    overruled = complete(outcome, {"toolu_rm": not_flagged("classifier")})
    assert overruled["toolu_rm"].outcome == "flagged"


def test_a_reply_without_tool_calls_has_no_verdicts() -> None:
    outcome = review_by_rules([{"type": "text", "text": "Done."}], "end_turn", CONTEXT)
    assert complete(outcome) == {}
    assert available_results(complete(outcome))[0]["status"] == {
        "type": "available",
        "tool_uses": {},
    }
