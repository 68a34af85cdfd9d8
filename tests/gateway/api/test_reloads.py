"""No reload thrash: a Claude Code session of 20 turns (main requests, the haiku-routed side
requests between them, the context growing) through the gateway loads each model at most once,
on Ollama (whose scheduler reloads a model when a request's runner options, num_ctx first,
differ from the loaded ones: tests/fakes/ollama_sched.py) and on LM Studio (which loads a model
just in time, on the first request for it: tests/fakes/lmstudio.py). Driven with the anthropic
SDK against the real gateway and the fakes on real sockets."""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anthropic
import httpx
import pytest

from gateway.events import RequestRecord
from gateway.runner import GatewayServer
from tests.fakes.lmstudio import LMStudio
from tests.fakes.ollama import Ollama
from tests.fakes.server import FakeBackend
from tests.gateway.api.client import Gateway, Start, start_pair
from tests.paths import load_fixture
from tests.records import RecordSink

TURNS = 20
LOAD_SECONDS = 0.3
# Each turn adds a tool result of about 1,500 tokens: the prompt grows from ~12k to ~45k
# tokens, so the context a turn needs (prompt + max_tokens) crosses a power of two.
GROWTH = "lorem ipsum dolor sit amet " * 300


def _create(client: anthropic.Anthropic, body: dict[str, Any]) -> None:
    rest = {k: v for k, v in body.items() if k not in ("model", "max_tokens", "messages")}
    rest.pop("stream", None)
    with client.messages.stream(
        model=body["model"],
        max_tokens=body["max_tokens"],
        messages=body["messages"],
        extra_body=rest,
    ) as stream:
        stream.get_final_message()


def _main(turn: int) -> dict[str, Any]:
    """Turn `turn` of the main conversation: the recorded first request, and a tool round per
    turn before it."""
    body: dict[str, Any] = copy.deepcopy(load_fixture("claude-code-2.1.332-print-say-hi")["body"])
    body["model"] = "claude-sonnet-4-6"
    body["max_tokens"] = 32000
    for step in range(turn):
        call = f"toolu_{step:024d}"
        body["messages"] += [
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": call, "name": "Bash", "input": {"command": "ls"}}
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": call, "content": f"{step} {GROWTH}"}
                ],
            },
        ]
    return body


def _sides(turn: int) -> list[dict[str, Any]]:
    """What Claude Code asks the small model around a turn: the quota check at start, the
    session title, and short summaries now and then."""
    haiku = "claude-haiku-4-5"
    if turn == 0:
        quota = {"role": "user", "content": "quota"}
        return [{"model": haiku, "max_tokens": 1, "messages": [quota]}]
    if turn == 1:
        title: dict[str, Any] = load_fixture("claude-code-2.1.332-interactive-title-small-model")[
            "body"
        ]
        return [title]
    if turn % 4 == 0:
        ask = {"role": "user", "content": f"Summarise step {turn} in five words."}
        return [{"model": haiku, "max_tokens": 512, "messages": [ask]}]
    return []


def _session(server: GatewayServer, sink: RecordSink) -> list[RequestRecord]:
    """Twenty turns; each turn's side requests run beside its main request, as Claude Code
    sends them."""
    sent = 0
    with (
        anthropic.Anthropic(base_url=server.url, api_key="x", max_retries=0, timeout=60) as client,
        ThreadPoolExecutor(4) as pool,
    ):
        for turn in range(TURNS):
            bodies = [_main(turn), *_sides(turn)]
            for done in [pool.submit(_create, client, body) for body in bodies]:
                done.result()
            sent += len(bodies)
    return sink.wait(sent)


def _ollama(fake: FakeBackend) -> Ollama:
    assert isinstance(fake.flavour, Ollama)
    return fake.flavour


@pytest.mark.parametrize(
    ("version", "models", "loaded"),
    [
        # /v1/messages is the backend's protocol; the model waits loaded with the default 4,096.
        ("0.33.0", ["fake-model"], ["fake-model"]),
        # Not loaded at all: the first request, a one-token quota check, loads it.
        ("0.33.0", ["fake-model"], []),
        # Before 0.32.2 /api/chat is the protocol; big and small are two models, small unloaded.
        ("0.20.0", ["coder", "helper"], ["coder"]),
    ],
    ids=["anthropic-loaded", "anthropic-unloaded", "api-chat-two-models"],
)
def test_a_session_loads_each_ollama_model_at_most_once(
    version: str,
    models: list[str],
    loaded: list[str],
    fake_backend: Start,
    gateway_server: Gateway,
) -> None:
    tagged = [f"{m}:latest" for m in models]
    fake, server, sink = start_pair(
        fake_backend,
        gateway_server,
        "ollama",
        fake={"version": version, "models": models, "loaded": loaded},
        big=tagged[0],
        small=tagged[-1],
    )
    ollama = _ollama(fake)
    ollama.load_seconds = LOAD_SECONDS
    records = _session(server, sink)

    assert all(r.status == 200 for r in records), [(r.status, r.error) for r in records]
    # At most one load of each model in the whole session, reloads included.
    assert {m: ollama.loads.get(m, 0) for m in tagged} == {m: 1 for m in tagged}, (
        ollama.loads,
        fake.asked_num_ctx,
    )
    assert sum(ollama.reloads.values()) <= 1
    # Every request that set num_ctx set the same one per model: the model's whole context.
    per_model: dict[str, set[int | None]] = {}
    for request in fake.requests_to("/api/chat"):
        options = request.body.get("options") or {}
        per_model.setdefault(request.body["model"], set()).add(options.get("num_ctx"))
    assert all(asked == {131072} for asked in per_model.values()), per_model
    # Ollama's /api/ps shows the model as the session left it: the larger context, a KV cache
    # to match, and an expiry ahead.
    running = {m["name"]: m for m in _ps(fake)}
    for model in tagged:
        assert running[model]["context_length"] == 131072
        assert running[model]["size"] > 492523008 + 12288 * 4096
    # The load shows on the record of the request that waited for it, where Ollama says
    # (/api/chat's load_duration), and on no other.
    native = [r for r in records if r.extra.get("protocol") == "ollama"]
    loads = [r.load_ms for r in native if r.load_ms is not None]
    assert loads and all(ms >= LOAD_SECONDS * 1000 * 0.9 for ms in loads)
    assert len(loads) <= len(tagged)


def _ps(fake: FakeBackend) -> list[dict[str, Any]]:
    answer: dict[str, list[dict[str, Any]]] = httpx.get(f"{fake.root_url}/api/ps").json()
    return answer["models"]


def test_a_session_loads_the_lm_studio_model_just_in_time_once(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    """Not loaded: the first request loads it (JIT), and the side requests that come beside a
    main request while it loads must not load a second instance (lmstudio-bug-tracker#1751)."""
    fake, server, sink = start_pair(
        fake_backend, gateway_server, "lmstudio", fake={"rest": "both", "loaded": []}
    )
    lmstudio = fake.flavour
    assert isinstance(lmstudio, LMStudio)
    lmstudio.load_seconds = LOAD_SECONDS
    records = _session(server, sink)
    assert all(r.status == 200 for r in records), [(r.status, r.error) for r in records]
    assert lmstudio.loads == {"fake-model": 1}
    assert lmstudio.loaded == ["fake-model"]


def test_two_lm_studio_models_loaded_by_hand_are_never_reloaded(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    """Big and small as two models, both loaded beforehand (the app's Load, `lms load`): no
    request reloads or evicts either."""
    fake, server, sink = start_pair(
        fake_backend,
        gateway_server,
        "lmstudio",
        fake={
            "rest": "both",
            "models": ["coder", "helper"],
            "loaded": ["coder", "helper"],
            "context_length": 131072,
        },
        big="coder",
        small="helper",
    )
    records = _session(server, sink)
    assert all(r.status == 200 for r in records)
    assert {r.backend_model for r in records} == {"coder", "helper"}
    lmstudio = fake.flavour
    assert isinstance(lmstudio, LMStudio)
    assert lmstudio.loaded == ["coder", "helper"] and lmstudio.loads == {}
