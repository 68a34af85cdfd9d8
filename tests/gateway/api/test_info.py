"""`/v1/models`, `/health`, `count_tokens` and the probes Claude Code sends: shapes, and answers
from cache in well under 100 ms even when the backend is slow or gone."""

from __future__ import annotations

import time
from collections.abc import Callable

import anthropic
import httpx
import orjson
import pytest

from gateway.runner import GatewayServer
from gateway.schemas.anthropic import parse_count_tokens_request
from gateway.tokens import count_tokens
from tests.fakes.server import FakeBackend, closed_port
from tests.paths import load_fixture

Start = Callable[..., FakeBackend]
Gateway = Callable[..., GatewayServer]


def wait_until_probed(server: GatewayServer) -> None:
    deadline = time.monotonic() + 5
    while httpx.get(f"{server.url}/health").json()["backends"][0]["status"] == "unknown":
        assert time.monotonic() < deadline, "the backend was never probed"
        time.sleep(0.02)


@pytest.mark.alone
def test_models_list_in_anthropic_shape_and_routable(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake = fake_backend("ollama", models=["qwen3:8b", "llama3.2:3b"])
    server = gateway_server(fake.url, big="qwen3:8b", small="llama3.2:3b")
    wait_until_probed(server)
    with anthropic.Anthropic(base_url=server.url, api_key="x", max_retries=0) as client:
        started = time.perf_counter()
        page = client.models.list()
        elapsed = time.perf_counter() - started
        ids = [m.id for m in page.data]
        assert elapsed < 0.1
        assert all(i.startswith("claude") for i in ids)
        assert ids[:2] == ["claude-lmgate-sonnet", "claude-lmgate-haiku"]
        assert "qwen3:8b" in page.data[0].display_name
        assert "llama3.2:3b" in page.data[1].display_name
        # each backend model has an id that routes back to exactly that model
        for model in ("qwen3:8b", "llama3.2:3b"):
            entry = next(m for m in page.data[2:] if model in m.display_name)
            client.messages.create(
                model=entry.id, max_tokens=5, messages=[{"role": "user", "content": "x"}]
            )
            assert fake.chat_requests[-1].body["model"] == model
        assert client.models.retrieve(ids[0]).id == ids[0]
    raw = httpx.get(f"{server.url}/v1/models?limit=2").json()
    assert raw["has_more"] is True and len(raw["data"]) == 2 and raw["last_id"] == ids[1]
    rest = httpx.get(f"{server.url}/v1/models?after_id={ids[1]}").json()
    assert [m["id"] for m in rest["data"]] == ids[2:]


@pytest.mark.alone
def test_health_reports_each_backend_from_cache(
    gateway_server: Gateway, fake_backend: Start
) -> None:
    fake = fake_backend("lmstudio")
    dead = f"http://127.0.0.1:{closed_port()}/v1"
    from gateway.config import BackendConfig

    server = gateway_server(
        fake.url,
        backends=[BackendConfig(id="lms", url=fake.url), BackendConfig(id="gone", url=dead)],
    )
    deadline = time.monotonic() + 5
    while True:
        started = time.perf_counter()
        health = httpx.get(f"{server.url}/health").json()
        assert time.perf_counter() - started < 0.1
        states = {b["id"]: b["status"] for b in health["backends"]}
        if "unknown" not in states.values() or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert states == {"lms": "up", "gone": "down"}
    assert health["status"] == "degraded"
    gone = next(b for b in health["backends"] if b["id"] == "gone")
    assert dead in gone["error"]
    lms = next(b for b in health["backends"] if b["id"] == "lms")
    assert lms["models"] == ["fake-model"] and lms["latency_ms"] is not None


def test_probes_answer_200(fake_backend: Start, gateway_server: Gateway) -> None:
    server = gateway_server(fake_backend("lmstudio").url)
    assert httpx.head(f"{server.url}/").status_code == 200
    assert httpx.head(f"{server.url}/api/hello").status_code == 200
    assert httpx.get(f"{server.url}/api/hello").status_code == 200
    root = httpx.get(f"{server.url}/").json()
    assert root["name"] == "LM Gate" and "/v1/messages" in root["endpoints"]


def test_count_tokens_fixture_and_sdk(fake_backend: Start, gateway_server: Gateway) -> None:
    fake = fake_backend("lmstudio")
    server = gateway_server(fake.url)
    fixture = load_fixture("claude-code-2.1.197-count-tokens")
    response = httpx.post(
        f"{server.url}/v1/messages/count_tokens?beta=true",
        json=fixture["body"],
        headers={"anthropic-beta": fixture["headers"]["anthropic-beta"]},
    )
    expected = count_tokens(parse_count_tokens_request(orjson.dumps(fixture["body"])))
    assert response.json() == {"input_tokens": expected}
    big = load_fixture("claude-code-2.1.197-print-say-hi")["body"]
    with anthropic.Anthropic(base_url=server.url, api_key="x", max_retries=0) as client:
        counted = client.messages.count_tokens(
            model="claude-sonnet-4-6",
            messages=big["messages"],
            system=big["system"],
            tools=big["tools"],
        )
    assert 15_000 < counted.input_tokens < 30_000
    assert fake.chat_requests == []
    bad = httpx.post(f"{server.url}/v1/messages/count_tokens", json={"messages": []})
    assert bad.status_code == 400 and bad.json()["error"]["message"].startswith("model:")
