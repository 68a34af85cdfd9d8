"""Discovery over real HTTP on loopback: fake servers at the places LM Gate looks, found by
probing them; what is not a model server is not listed; the gateway's own port is never probed;
a server that goes away is marked down with its models kept. Plus OLLAMA_HOST's forms."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from gateway.backends.catalogue import CatalogueSnapshot
from gateway.backends.discovery import (
    default_targets,
    is_own_address,
    parse_ollama_host,
    same_place,
)
from gateway.backends.probes import ProbeCache, Unreachable, probe_lmstudio
from gateway.backends.registry import Registry
from gateway.config import BackendConfig, GatewayConfig
from tests.fakes.asgi import PlainServer
from tests.fakes.server import FakeBackend, closed_port

Start = Callable[..., FakeBackend]


def refresh(config: GatewayConfig, **registry: Any) -> CatalogueSnapshot:
    async def once() -> CatalogueSnapshot:
        reg = Registry(config, transport="httpx", **registry)
        try:
            return await reg.refresh()
        finally:
            await reg.stop()

    return asyncio.run(once())


def places(**targets: str) -> GatewayConfig:
    return GatewayConfig(discovery_targets={kind: [url] for kind, url in targets.items()})


def test_lmstudio_and_ollama_found_at_their_places(fake_backend: Start) -> None:
    lms = fake_backend(
        "lmstudio",
        models=["qwen3-coder-30b", "qwen2.5-vl-7b", "nomic-embed"],
        context_length=32768,
        rest="v1",
        types={"qwen2.5-vl-7b": "vlm", "nomic-embed": "embeddings"},
    )
    ollama = fake_backend(
        "ollama",
        models=["qwen3:8b", "llama3.2:3b", "qwen2.5vl:7b"],
        loaded=["qwen3:8b", "llama3.2:3b"],
        context_length=8192,
        version="0.32.5",
        capabilities={
            "qwen3:8b": ["completion", "tools", "thinking"],
            "qwen2.5vl:7b": ["completion", "vision"],
        },
    )
    snapshot = refresh(places(lmstudio=lms.root_url, ollama=ollama.root_url))

    assert [(b.id, b.kind, b.state, b.discovered) for b in snapshot.backends] == [
        ("lmstudio", "lmstudio", "up", True),
        ("ollama", "ollama", "up", True),
    ]
    lmstudio = snapshot.backend("lmstudio")
    assert lmstudio is not None and lmstudio.url == f"{lms.root_url}/v1"
    assert lmstudio.features == ("rest-v1",) and lmstudio.protocol == "anthropic"
    coder = snapshot.model("lmstudio", "qwen3-coder-30b")
    assert coder is not None
    assert (coder.loaded, coder.context_window, coder.max_context) == (True, 32768, 131072)
    assert (coder.tools, coder.vision, coder.kind) == (True, False, "llm")
    vl = snapshot.model("lmstudio", "qwen2.5-vl-7b")
    assert vl is not None and vl.loaded is False and vl.context_window is None and vl.vision
    embed = snapshot.model("lmstudio", "nomic-embed")
    assert embed is not None and embed.kind == "embedding"
    assert "nomic-embed" not in snapshot.index().models["lmstudio"]

    backend = snapshot.backend("ollama")
    assert backend is not None and backend.version == "0.32.5"
    assert backend.protocol == "anthropic" and "ollama#17225" in (backend.protocol_reason or "")
    qwen = snapshot.model("ollama", "qwen3:8b")
    assert qwen is not None
    assert (qwen.loaded, qwen.context_window, qwen.max_context) == (True, 8192, 131072)
    assert (qwen.tools, qwen.vision, qwen.thinking) == (True, False, True)
    vision = snapshot.model("ollama", "qwen2.5vl:7b")
    assert vision is not None and vision.loaded is False and vision.vision and not vision.tools
    # Only documented reads, never a generation, never a credential.
    for fake in (lms, ollama):
        assert fake.chat_requests == []
        assert all("authorization" not in r.headers for r in fake.requests)
        assert {r.method for r in fake.requests} <= {"GET", "POST"}
    assert {r.path for r in ollama.requests if r.method == "POST"} == {"/api/show"}


def test_lmstudio_before_0_4_is_read_from_the_v0_api(fake_backend: Start) -> None:
    lms = fake_backend("lmstudio", models=["a", "b"], context_length=16384, rest="v0")
    snapshot = refresh(places(lmstudio=lms.root_url))
    backend = snapshot.backend("lmstudio")
    assert backend is not None and backend.features == () and backend.protocol == "openai"
    a, b = snapshot.model("lmstudio", "a"), snapshot.model("lmstudio", "b")
    assert a is not None and (a.loaded, a.context_window, a.tools) == (True, 16384, True)
    assert b is not None and (b.loaded, b.context_window) == (False, None)


def test_llamacpp_is_identified_even_on_lm_studios_port(fake_backend: Start) -> None:
    llama = fake_backend(
        "llamacpp", models=["gemma-3-270m"], context_length=8192, vision=True, messages_api=True
    )
    snapshot = refresh(places(lmstudio=llama.root_url))
    backend = snapshot.backend("llamacpp")
    assert backend is not None and backend.kind == "llamacpp" and backend.slots == 1
    assert backend.version == "b6800-5b180c3d" and backend.protocol == "anthropic"
    model = snapshot.model("llamacpp", "gemma-3-270m")
    assert model is not None
    assert (model.loaded, model.context_window, model.max_context) == (True, 8192, 131072)
    assert (model.tools, model.vision) == (True, True)
    # The Messages API is asked once per build, by a token count: no generation.
    assert [r.path for r in llama.requests if r.method == "POST"] == ["/v1/messages/count_tokens"]
    older = fake_backend("llamacpp", messages_api=False, version="b6000-aaaa")
    again = refresh(places(llamacpp=older.root_url)).backend("llamacpp")
    assert again is not None and again.protocol == "openai"


def test_a_server_that_does_not_identify_itself_is_not_listed() -> None:
    with PlainServer() as plain:
        snapshot = refresh(places(lmstudio=plain.root_url, jan=plain.root_url))
        assert snapshot.backends == ()
        assert plain.paths  # it was asked, and said nothing a model server says


def test_nothing_listening_lists_nothing() -> None:
    snapshot = refresh(places(ollama=f"http://127.0.0.1:{closed_port()}"))
    assert snapshot.backends == () and snapshot.models == ()


def test_the_gateways_own_port_is_never_probed(fake_backend: Start) -> None:
    # Something answers on the port the gateway is configured for: it must not even be asked.
    own = fake_backend("lmstudio")
    other = fake_backend("ollama")
    config = GatewayConfig(
        port=own.port,
        discovery_targets={
            "lmstudio": [f"http://localhost:{own.port}"],
            "ollama": [other.root_url],
        },
    )
    snapshot = refresh(config)
    assert own.requests == []
    assert [b.id for b in snapshot.backends] == ["ollama"]


def test_a_backend_that_goes_away_is_marked_down_and_keeps_its_models(
    fake_backend: Start,
) -> None:
    ollama = fake_backend("ollama", models=["qwen3:8b", "gemma3:4b"], version="0.12.6")
    port = ollama.port
    config = places(ollama=ollama.root_url)

    restarted = FakeBackend("ollama", models=["qwen3:8b", "gemma3:4b"], port=port)

    async def scenario() -> list[CatalogueSnapshot]:
        registry = Registry(config, transport="httpx")
        try:
            seen = [await registry.refresh()]
            ollama.stop()
            seen.append(await registry.refresh())
            restarted.start()
            seen.append(await registry.refresh())
            return seen
        finally:
            await registry.stop()

    try:
        up, down, back = asyncio.run(scenario())
        assert [(m.name, m.loaded) for m in up.models] == [
            ("qwen3:8b", True),
            ("gemma3:4b", False),
        ]
        backend = down.backend("ollama")
        assert backend is not None and backend.state == "down"
        assert backend.error is not None and f"127.0.0.1:{port}" in backend.error
        assert [(m.name, m.loaded) for m in down.models] == [
            ("qwen3:8b", None),
            ("gemma3:4b", None),
        ]
        assert down.index().models == {"ollama": ("qwen3:8b", "gemma3:4b")}
        assert back.backend("ollama") == back.backends[0] and back.backends[0].state == "up"
        assert back.backends[0].id == "ollama"  # the same id as before it went away
    finally:
        restarted.stop()


def test_a_configured_local_backend_is_identified_with_its_id(fake_backend: Start) -> None:
    ollama = fake_backend("ollama", models=["qwen3:8b"], version="0.20.0")
    config = GatewayConfig(
        discovery_targets={"ollama": [ollama.root_url]},
        backends=[BackendConfig(id="box", url=f"http://localhost:{ollama.port}")],
    )
    snapshot = refresh(config, api_keys={"box": "secret"})
    # Found once, under the user's id; the discovery place is the same server, so not twice.
    assert [(b.id, b.kind, b.discovered) for b in snapshot.backends] == [("box", "ollama", False)]
    backend = snapshot.backends[0]
    assert backend.protocol == "ollama" and backend.url == f"http://localhost:{ollama.port}/v1"
    # A configured backend gets its key, on every probe.
    assert {r.headers.get("authorization") for r in ollama.requests} == {"Bearer secret"}


def test_a_configured_server_of_no_known_kind_is_listed_from_its_model_list(
    fake_backend: Start,
) -> None:
    # llama-cpp-python and friends: an OpenAI list and nothing else.
    with PlainServer() as plain:
        gone = f"http://127.0.0.1:{closed_port()}/v1"
        config = GatewayConfig(
            discover=False,
            backends=[
                BackendConfig(id="plain", url=f"{plain.root_url}/v1"),
                BackendConfig(id="gone", url=gone),
                BackendConfig(id="off", url=gone, enabled=False),
            ],
        )
        snapshot = refresh(config)
    states = {b.id: (b.kind, b.state) for b in snapshot.backends}
    assert states == {
        "plain": ("openai", "down"),
        "gone": ("openai", "down"),
        "off": ("openai", "disabled"),
    }
    gone_info = snapshot.backend("gone")
    assert gone_info is not None and gone_info.error is not None and gone in gone_info.error


# --- the places ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "root"),
    [
        ("", None),
        ("   ", None),
        ("127.0.0.1", "http://127.0.0.1:11434"),
        ("0.0.0.0", "http://127.0.0.1:11434"),
        ("0.0.0.0:11500", "http://127.0.0.1:11500"),
        (":11600", "http://127.0.0.1:11600"),
        ("gpu-box", "http://gpu-box:11434"),
        ("gpu-box:9000", "http://gpu-box:9000"),
        ("http://gpu-box", "http://gpu-box:80"),
        ("https://ollama.example.com", "https://ollama.example.com:443"),
        ("http://10.0.0.2:11434/", "http://10.0.0.2:11434"),
        ("[::1]:11434", "http://[::1]:11434"),
        ("::", "http://127.0.0.1:11434"),
        ('"127.0.0.1:11435"', "http://127.0.0.1:11435"),
        ("host:notaport", "http://host:11434"),
    ],
)
def test_ollama_host_forms(value: str, root: str | None) -> None:
    assert parse_ollama_host(value) == root


def test_default_places() -> None:
    plain = {(t.kind, t.root) for t in default_targets({})}
    assert plain == {
        ("lmstudio", "http://127.0.0.1:1234"),
        ("ollama", "http://127.0.0.1:11434"),
        ("llamacpp", "http://127.0.0.1:8080"),
        ("vllm", "http://127.0.0.1:8000"),
        ("sglang", "http://127.0.0.1:30000"),
        ("jan", "http://127.0.0.1:1337"),
    }
    moved = default_targets({"OLLAMA_HOST": "0.0.0.0:11500"})
    assert ("ollama", "http://127.0.0.1:11500") in {(t.kind, t.root) for t in moved}
    same = default_targets({"OLLAMA_HOST": "localhost"})
    assert len(same) == len(plain)


def test_places_and_own_address() -> None:
    assert same_place("http://localhost:1234/v1", "http://127.0.0.1:1234")
    assert not same_place("http://127.0.0.1:1234", "http://127.0.0.1:1235")
    assert is_own_address("http://127.0.0.1:8082", "127.0.0.1", 8082)
    assert is_own_address("http://localhost:8082", "0.0.0.0", 8082)
    assert not is_own_address("http://127.0.0.1:8083", "127.0.0.1", 8082)
    assert not is_own_address("http://192.168.1.9:8082", "127.0.0.1", 8082)


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (httpx.ConnectTimeout(""), "no answer to the connection"),  # httpx leaves it empty
        (httpx.ConnectError("All connection attempts failed"), "connection refused"),
        (httpx.ConnectError("[Errno 111] Connect call failed"), "[Errno 111] Connect call failed"),
    ],
    ids=["timeout", "refused", "other"],
)
def test_a_probe_that_gets_no_connection_says_why(failure: httpx.HTTPError, reason: str) -> None:
    # A connection that timed out is not a refusal: the doctor and the log must not send the
    # user to start a server that is running but slow to accept.
    def fail(request: httpx.Request) -> httpx.Response:
        raise failure

    async def probe() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(fail)) as client:
            await probe_lmstudio(client, "http://127.0.0.1:1234", {}, ProbeCache())

    with pytest.raises(Unreachable) as caught:
        asyncio.run(probe())
    assert caught.value.reason == reason
