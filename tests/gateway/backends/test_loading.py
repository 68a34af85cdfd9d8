"""Loading and unloading models on LM Studio (REST v1) and Ollama, against fakes that answer as
the servers' docs say."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from gateway.backends.catalogue import BackendInfo
from gateway.backends.loading import LoadError, can_load, load, unload
from tests.fakes import FakeBackend

Fake = Callable[..., FakeBackend]


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False) as c:
        yield c


def info(fake: FakeBackend, kind: str, *features: str) -> BackendInfo:
    return BackendInfo(kind, kind, fake.url, state="up", features=features)


def test_lm_studio_loads_with_the_context_asked_and_unloads(
    fake_backend: Fake, client: httpx.Client
) -> None:
    fake = fake_backend("lmstudio", models=["a", "b"], loaded=["a"], rest="v1")
    backend = info(fake, "lmstudio", "rest-v1")
    done = load(client, backend, "b", 32768)
    assert (done.model, done.context_length) == ("b", 32768)
    asked = fake.requests[-1]
    assert asked.path == "/api/v1/models/load"
    assert asked.body == {"model": "b", "config": {"context_length": 32768}}
    listed = client.get(f"{fake.root_url}/api/v1/models").json()["models"]
    b = next(m for m in listed if m["key"] == "b")
    assert b["loaded_instances"] == [{"id": "b", "config": {"context_length": 32768}}]

    unload(client, backend, "b")
    assert fake.requests[-1].path == "/api/v1/models/unload"
    assert fake.requests[-1].body == {"instance_id": "b"}
    assert fake.flavour.loaded == ["a"]
    with pytest.raises(LoadError, match="b is not loaded"):
        unload(client, backend, "b")


def test_an_unknown_model_is_a_load_error(fake_backend: Fake, client: httpx.Client) -> None:
    fake = fake_backend("lmstudio", rest="v1")
    with pytest.raises(LoadError, match="404"):
        load(client, info(fake, "lmstudio", "rest-v1"), "nope")


def test_lm_studio_before_0_4_cannot_load_from_lm_gate(fake_backend: Fake) -> None:
    fake = fake_backend("lmstudio")  # REST v0 only
    reason = can_load(info(fake, "lmstudio"))
    assert reason is not None and "0.4" in reason
    assert can_load(info(fake, "llamacpp")) is not None
    assert can_load(BackendInfo("x", "ollama", fake.url, state="down")) == "x is not answering"


def test_ollama_loads_with_num_ctx_and_unloads_with_keep_alive_0(
    fake_backend: Fake, client: httpx.Client
) -> None:
    fake = fake_backend("ollama", models=["qwen3:8b", "gemma3:4b"], loaded=["qwen3:8b"])
    backend = info(fake, "ollama")
    done = load(client, backend, "gemma3:4b", 65536)
    assert done.context_length == 65536  # read back from /api/ps
    generate = next(r for r in fake.requests if r.path == "/api/generate")
    assert generate.body == {"model": "gemma3:4b", "keep_alive": -1, "options": {"num_ctx": 65536}}
    running = client.get(f"{fake.root_url}/api/ps").json()["models"]
    assert {m["name"]: m["context_length"] for m in running}["gemma3:4b"] == 65536

    unload(client, backend, "gemma3:4b")
    assert fake.requests[-1].body == {"model": "gemma3:4b", "keep_alive": 0}
    assert fake.flavour.loaded == ["qwen3:8b"]
