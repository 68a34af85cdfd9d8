"""The classifier's prompt (bounded transcript, pending calls whole) and the strict parse."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.review.classifier import (
    LINE_LIMIT,
    SYSTEM_PROMPT,
    ToolCall,
    calls_in_reply,
    classifier_prompt,
    classifier_request,
    parse_verdicts,
    transcript_lines,
)
from gateway.review.results import Verdict, flagged, not_flagged, unavailable
from gateway.schemas.anthropic import parse_messages_request
from gateway.translate.request import anthropic_to_openai

IDS = ["toolu_A", "toolu_B"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '{"verdicts": {"toolu_A": {"flagged": false, "explanation": "fine"},'
            ' "toolu_B": {"flagged": true, "explanation": "  Deletes the\\n home directory. "}}}',
            {
                "toolu_A": not_flagged("classifier"),
                "toolu_B": flagged("classifier", "Deletes the home directory."),
            },
        ),
        (
            'Sure! ```json\n{"verdicts": {"toolu_A": {"flagged": false}, "toolu_B": '
            '{"flagged": true}}}\n``` hope that helps',
            {
                "toolu_A": not_flagged("classifier"),
                "toolu_B": flagged("classifier", "The review model flagged this action."),
            },
        ),
        (
            '{"verdicts": {"toolu_A": {"flagged": "false"}, "toolu_B": {"flagged": 0}}}',
            {
                "toolu_A": unavailable("error", "classifier"),
                "toolu_B": unavailable("error", "classifier"),
            },
        ),
        (
            '{"verdicts": {"toolu_A": {"flagged": false}}}',
            {"toolu_A": not_flagged("classifier"), "toolu_B": unavailable("error", "classifier")},
        ),
        (
            '{"verdicts": {"toolu_A": {"flagged": true, "explanation": 5}, "toolu_B": []}}',
            {
                "toolu_A": unavailable("error", "classifier"),
                "toolu_B": unavailable("error", "classifier"),
            },
        ),
        ("<block>no</block>", dict.fromkeys(IDS, unavailable("error", "classifier"))),
        (
            '{"verdicts": {"toolu_A": {"flagged": false}',
            dict.fromkeys(IDS, unavailable("error", "classifier")),
        ),
        ('{"verdicts": [true, false]}', dict.fromkeys(IDS, unavailable("error", "classifier"))),
        ("[]", dict.fromkeys(IDS, unavailable("error", "classifier"))),
        ("", dict.fromkeys(IDS, unavailable("error", "classifier"))),
        ("} {", dict.fromkeys(IDS, unavailable("error", "classifier"))),
    ],
)
def test_answers_are_parsed_strictly(text: str, expected: dict[str, Verdict]) -> None:
    assert parse_verdicts(text, IDS) == expected


def test_a_refusal_gives_refused_and_nothing_unreadable_is_ever_not_flagged() -> None:
    assert parse_verdicts("I can't help with that.", IDS, stop_reason="refusal") == dict.fromkeys(
        IDS, unavailable("refused", "classifier")
    )
    for text in ["", "{", '{"verdicts": {}}', '{"verdicts": {"toolu_A": {}}}', "no"]:
        assert all(v.outcome != "not_flagged" for v in parse_verdicts(text, IDS).values())


def test_a_long_explanation_is_one_clipped_line() -> None:
    text = orjson.dumps({"verdicts": {"toolu_A": {"flagged": True, "explanation": "x " * 400}}})
    verdict = parse_verdicts(text.decode(), ["toolu_A"])["toolu_A"]
    assert verdict.outcome == "flagged" and 290 <= len(verdict.explanation) <= 300
    assert verdict.explanation.endswith(" [truncated]") and "\n" not in verdict.explanation


def test_calls_in_reply_and_the_one_cut_off_by_max_tokens() -> None:
    content: list[dict[str, Any]] = [
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}},
        {"type": "tool_use", "id": "toolu_2", "name": "Write", "input": {"file_path": "/r/a"}},
    ]
    calls, cut = calls_in_reply(content, "tool_use")
    assert calls == [
        ToolCall("toolu_1", "Bash", {"command": "ls"}),
        ToolCall("toolu_2", "Write", {"file_path": "/r/a"}),
    ]
    assert cut == []
    calls, cut = calls_in_reply(content, "max_tokens")
    assert [call.id for call in calls] == ["toolu_1"] and cut == ["toolu_2"]
    assert calls_in_reply([{"type": "text", "text": "done"}], "end_turn") == ([], [])


def conversation(turns: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Fix the failing test in app.py"}]
    for n in range(turns):
        messages.append(
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "secret reasoning", "signature": "s"},
                    {"type": "text", "text": f"Step {n}"},
                    {
                        "type": "tool_use",
                        "id": f"t{n}",
                        "name": "Bash",
                        "input": {"command": f"run {n}"},
                    },
                ],
            }
        )
        messages.append(
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": f"t{n}", "content": "r" * 900}],
            }
        )
    return messages


def test_the_transcript_has_one_line_per_turn_and_never_the_system_or_thinking() -> None:
    messages = [
        {"role": "system", "content": "# Environment\nsecret system text"},
        *conversation(1),
    ]
    lines = transcript_lines(messages, [{"type": "text", "text": "Now I will run it."}])
    assert [orjson.loads(line) for line in lines] == [
        {"user": "Fix the failing test in app.py"},
        {"assistant": "Step 0"},
        {"assistant_tool_call": {"name": "Bash", "input": {"command": "run 0"}}},
        {"tool_result": "r" * 488 + " [truncated]"},
        {"assistant": "Now I will run it."},
    ]
    joined = "\n".join(lines)
    assert "secret" not in joined


def test_long_lines_are_clipped_and_a_long_transcript_keeps_the_first_and_newest_lines() -> None:
    long_user = [{"role": "user", "content": "u" * 5000}]
    (line,) = transcript_lines(long_user)
    assert len(orjson.loads(line)["user"]) == LINE_LIMIT
    lines = transcript_lines(conversation(200), budget=3000)
    assert sum(len(line) + 1 for line in lines) <= 3000
    assert orjson.loads(lines[0]) == {"user": "Fix the failing test in app.py"}
    assert orjson.loads(lines[1]) == {"meta": "earlier turns omitted"}
    assert orjson.loads(lines[-1])["tool_result"].startswith("rrr")
    assert orjson.loads(lines[-2]) == {
        "assistant_tool_call": {"name": "Bash", "input": {"command": "run 199"}}
    }


def test_the_prompt_carries_the_environment_transcript_and_the_pending_calls_whole() -> None:
    context = {
        "v": 1,
        "permission_mode": "auto",
        "live_cwd": "/repo",
        "trusted_directories": {"primary": {"path": "/repo"}},
        "auto_mode": {"hard_deny": ["Never deploy"]},
        "not_for_the_model": "x",
    }
    huge = {"content": "y" * 50_000, "file_path": "/repo/big.txt"}
    system, user = classifier_prompt(
        context, conversation(300), [ToolCall("toolu_Z", "Write", huge)], budget=5000
    )
    assert system == SYSTEM_PROMPT
    environment, rest = user.removeprefix("Agent environment:\n").split("\n\n", 1)
    assert orjson.loads(environment) == {
        "permission_mode": "auto",
        "live_cwd": "/repo",
        "trusted_directories": {"primary": {"path": "/repo"}},
        "auto_mode": {"hard_deny": ["Never deploy"]},
    }
    transcript, pending = rest.split("\n\nTool calls to classify:\n")
    assert transcript.startswith("Conversation so far, one JSON line per turn:\n")
    assert len(transcript) < 5100
    assert orjson.loads(pending) == [{"id": "toolu_Z", "name": "Write", "input": huge}]


def test_the_classifier_request_is_a_plain_messages_request() -> None:
    body = classifier_request("qwen3-4b", "sys", "judge this")
    assert body == {
        "model": "qwen3-4b",
        "max_tokens": 1024,
        "system": "sys",
        "messages": [{"role": "user", "content": "judge this"}],
        "temperature": 0,
        "thinking": {"type": "disabled"},
        "output_config": {
            "format": {"type": "json_schema", "schema": body["output_config"]["format"]["schema"]}
        },
        "stream": False,
    }
    assert body["output_config"]["format"]["schema"]["required"] == ["verdicts"]


def test_the_classifier_request_goes_through_the_gateways_own_translation() -> None:
    system, user = classifier_prompt(
        {"live_cwd": "/repo"}, conversation(2), [ToolCall("toolu_Z", "Bash", {"command": "ls"})]
    )
    req = parse_messages_request(orjson.dumps(classifier_request("small", system, user)))
    body = anthropic_to_openai(req, "qwen3-4b", stream=False).body
    assert body["messages"] == [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": user},
    ]
    assert body["response_format"]["json_schema"]["schema"]["required"] == ["verdicts"]
    assert body["chat_template_kwargs"] == {"enable_thinking": False}
    assert body["temperature"] == 0 and "tools" not in body
