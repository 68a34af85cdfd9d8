"""The protocol decision table: one test per row, the fall-through, and the user's override."""

from __future__ import annotations

import pytest

from gateway.backends.protocol_choice import decide
from gateway.backends.protocols import TABLE, parse_version


@pytest.mark.parametrize(
    ("kind", "version", "features", "protocol", "because"),
    [
        # Ollama: /v1/messages from 0.32.2 on (ollama#17225 fixed the block indexes of #17101)
        ("ollama", "0.32.2", (), "anthropic", "ollama#17225"),
        ("ollama", "0.40.1", (), "anthropic", "ollama#17225"),
        # …before that its native /api/chat (tools since 0.3.0)
        ("ollama", "0.32.1", (), "ollama", "ollama#17101"),
        ("ollama", "0.12.6", (), "ollama", "num_ctx"),
        ("ollama", "0.3.0", (), "ollama", "/api/chat"),
        # LM Studio: /v1/messages from 0.4.1 on; its REST API reports no version, the v1 REST
        # API (0.4 series) is the sign
        ("lmstudio", "0.4.1", (), "anthropic", "0.4.1"),
        ("lmstudio", None, ("rest-v1",), "anthropic", "v1 REST API"),
        # llama.cpp: when it answers /v1/messages/count_tokens
        ("llamacpp", "b7500-abc", ("messages",), "anthropic", "llama.cpp#17570"),
    ],
)
def test_each_row(
    kind: str, version: str | None, features: tuple[str, ...], protocol: str, because: str
) -> None:
    decision = decide(kind, version, features)
    assert decision.protocol == protocol
    assert because in decision.reason


def test_every_row_is_exercised_above() -> None:
    # A new row needs a case in test_each_row: the table and its tests stay in step.
    assert [(r.kind, r.protocol) for r in TABLE] == [
        ("ollama", "anthropic"),
        ("ollama", "ollama"),
        ("lmstudio", "anthropic"),
        ("lmstudio", "anthropic"),
        ("llamacpp", "anthropic"),
    ]


@pytest.mark.parametrize(
    ("kind", "version", "features"),
    [
        ("ollama", "0.2.8", ()),  # no tools on /api/chat yet
        ("ollama", None, ()),
        ("lmstudio", None, ()),  # 0.3: the v0 REST API only
        ("lmstudio", "0.4.0", ()),
        ("llamacpp", "b6800-5b180c3d", ()),  # no Messages API in this build
        ("vllm", "0.11.0", ()),
        ("sglang", None, ()),
        ("jan", None, ()),
        ("openai", None, ()),
    ],
)
def test_unknown_is_openai(kind: str, version: str | None, features: tuple[str, ...]) -> None:
    decision = decide(kind, version, features)
    assert decision.protocol == "openai"
    assert kind in decision.reason


@pytest.mark.parametrize("setting", ["openai", "anthropic", "ollama"])
def test_the_users_setting_overrides(setting: str) -> None:
    assert decide("ollama", "0.40.0", (), setting).protocol == setting
    assert decide("llamacpp", None, ("messages",), setting).reason == "set in the config"


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("0.12.6", (0, 12, 6)),
        ("v0.32.2-rc1", (0, 32, 2)),
        ("0.4", (0, 4)),
        ("b6800-5b180c3d", None),
        ("", None),
        (None, None),
        ("unknown", None),
    ],
)
def test_parse_version(text: str | None, parsed: tuple[int, ...] | None) -> None:
    assert parse_version(text) == parsed
