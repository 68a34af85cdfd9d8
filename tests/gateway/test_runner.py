"""GatewayServer's live reconfiguration: settings applied for new requests, and restarts that
open the new listener first and let the old one drain."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import anthropic
import pytest

from gateway.backends.catalogue import CatalogueSnapshot
from gateway.config import BackendConfig, GatewayConfig
from gateway.runner import GatewayServer, PortInUse
from tests.fakes import FakeBackend, Text, free_port


def ask(server: GatewayServer, model: str = "claude-sonnet-4-6") -> str:
    with anthropic.Anthropic(
        base_url=server.url, api_key="unused", max_retries=0, timeout=30
    ) as client:
        reply = client.messages.create(
            model=model, max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        )
    block = reply.content[0]
    assert block.type == "text"
    return block.text


def wait_for_chat(backend: FakeBackend, count: int = 1, timeout: float = 10.0) -> None:
    # The fake's own wait counts every request, and the health probes are requests too.
    deadline = time.monotonic() + timeout
    while len(backend.chat_requests) < count:
        assert time.monotonic() < deadline, "the chat request did not reach the backend"
        time.sleep(0.01)


def refuses(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture
def backend(fake_backend: Callable[..., FakeBackend]) -> FakeBackend:
    return fake_backend("lmstudio", models=["model-a", "model-b"])


@pytest.fixture
def server(backend: FakeBackend) -> Iterator[GatewayServer]:
    config = GatewayConfig(
        port=0, backends=[BackendConfig(id="fake", url=backend.url)], big="model-a"
    )
    gateway = GatewayServer(config)
    gateway.start()
    yield gateway
    gateway.stop()


def test_a_model_choice_applies_to_the_next_request(
    server: GatewayServer, backend: FakeBackend
) -> None:
    ask(server)
    assert server.apply_config(server.config.model_copy(update={"big": "model-b"})) is True
    ask(server)
    assert [r.body["model"] for r in backend.chat_requests] == ["model-a", "model-b"]
    assert server.app_state is not None
    assert server.app_state.config.big == "model-b"


def test_a_setting_fixed_at_start_is_refused_live(server: GatewayServer) -> None:
    before = server.config
    assert server.apply_config(before.model_copy(update={"max_body_bytes": 1024})) is False
    assert server.config is before


def test_a_restart_on_the_same_port_drops_no_request(
    server: GatewayServer, backend: FakeBackend
) -> None:
    port = server.port
    backend.script(Text("slow answer", chunks=8, delay=0.15))
    answers: list[str] = []
    slow = threading.Thread(target=lambda: answers.append(ask(server)))
    slow.start()
    wait_for_chat(backend)

    server.restart(server.config.model_copy(update={"max_body_bytes": 4096}))

    assert server.port == port
    assert server.config.max_body_bytes == 4096
    # The new server answers at once on the same port while the old one finishes its stream.
    assert ask(server) == "Hello from the fake backend."
    slow.join(30)
    assert answers == ["slow answer"]


def test_a_restart_on_a_new_port_opens_it_before_closing_the_old(
    server: GatewayServer, backend: FakeBackend
) -> None:
    old_port, new_port = server.port, free_port()
    backend.script(Text("slow answer", chunks=8, delay=0.15))
    answers: list[str] = []
    slow = threading.Thread(target=lambda: answers.append(ask(server)))
    slow.start()
    wait_for_chat(backend)

    server.restart(server.config.model_copy(update={"port": new_port}))

    assert server.port == new_port
    assert server.url.endswith(f":{new_port}")
    assert ask(server) == "Hello from the fake backend."
    slow.join(30)
    assert answers == ["slow answer"]
    for drainer in list(server._drainers):
        drainer.join(30)
    assert refuses(old_port)


def test_a_taken_port_leaves_the_running_server_alone(server: GatewayServer) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUse) as caught:
            server.restart(server.config.model_copy(update={"port": port}))
    assert caught.value.port == port
    assert server.running
    assert ask(server) == "Hello from the fake backend."


def test_restart_of_a_stopped_server_starts_it(backend: FakeBackend) -> None:
    config = GatewayConfig(port=0, backends=[BackendConfig(id="fake", url=backend.url)])
    gateway = GatewayServer(config)
    try:
        gateway.restart()
        assert gateway.running
        assert ask(gateway, "model-a") == "Hello from the fake backend."
    finally:
        gateway.stop()
    assert not gateway.running


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.01)


def backend_ids(snapshot: CatalogueSnapshot) -> set[str]:
    return {b.id for b in snapshot.backends if not b.discovered}


def test_the_catalogue_is_the_running_servers_and_its_refreshes_reach_subscribers(
    server: GatewayServer,
) -> None:
    assert server.registry is not None
    assert server.catalogue() is server.registry.snapshot()
    assert backend_ids(server.catalogue()) == {"fake"}
    seen: list[CatalogueSnapshot] = []
    unsubscribe = server.subscribe_catalogue(seen.append)
    server.refresh_backends()
    wait_until(lambda: len(seen) >= 1)
    assert backend_ids(seen[-1]) == {"fake"}
    unsubscribe()
    count = len(seen)
    server.refresh_backends()
    time.sleep(0.5)
    assert len(seen) == count


def test_a_catalogue_subscription_outlives_a_restart(
    server: GatewayServer, fake_backend: Callable[..., FakeBackend]
) -> None:
    other = fake_backend("ollama", models=["model-c"])
    seen: list[CatalogueSnapshot] = []
    server.subscribe_catalogue(seen.append)
    old = server.registry
    server.restart(
        server.config.model_copy(update={"backends": [BackendConfig(id="other", url=other.url)]})
    )
    assert server.registry is not old
    # The new server's catalogue arrives at once, with no new subscription.
    assert seen and backend_ids(seen[-1]) == {"other"}
    assert backend_ids(server.catalogue()) == {"other"}
    server.refresh_backends()
    wait_until(lambda: len(seen) >= 2)
    assert all(backend_ids(s) == {"other"} for s in seen)
