"""The gateway started, stopped and restarted 50 times in one process (the GUI does this on
settings changes): each time it serves, and at the end no thread, socket or memory is left
behind: 50 start/stop cycles, then 50 restarts, each answering a request. (A stop takes ~0.2 s,
uvicorn's shutdown polling, so the test takes about twenty seconds.)"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from gateway.config import BackendConfig, GatewayConfig
from gateway.runner import GatewayServer
from tests.fakes.wire import RawBackend, answer
from tests.gateway.load.memory import MB, Resources, rss

# Measures time or memory: nothing else of the run competes with it.
pytestmark = pytest.mark.alone

BODY = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 5,
    "messages": [{"role": "user", "content": "hi"}],
}
CYCLES = 50


@pytest.fixture
def backend() -> Iterator[RawBackend]:
    with RawBackend(answer("up")) as fake:
        yield fake


def serves(server: GatewayServer) -> bool:
    response = httpx.post(f"{server.url}/v1/messages", json=BODY, timeout=10)
    return response.status_code == 200 and response.json()["content"][0]["text"] == "up"


def test_start_stop_and_restart_50_times_leak_nothing(backend: RawBackend) -> None:
    config = GatewayConfig(
        port=0,
        backends=[BackendConfig(id="fake", url=backend.url)],
        discover=False,
        big="fake-model",
    )
    server = GatewayServer(config)
    # Warm-up: imports, the tokenizer, caches, and the allocator's per-thread arenas that the
    # gateway's and the drainers' threads take (the first 40 restarts grow the process by ~9 MB,
    # the next 40 by ~1 MB).
    for _ in range(5):
        server.start()
        assert serves(server)
        server.stop()
    server.start()
    for _ in range(40):
        server.restart()
    server.stop()
    assert backend.wait_until_idle()
    before, memory = Resources(), rss()

    for _ in range(CYCLES):
        server.start()
        assert serves(server)
        server.stop()
    server.start()
    port = server.port
    for n in range(CYCLES):
        # A change fixed at start (the body limit) needs a restart, as the GUI does it.
        server.restart(server.config.model_copy(update={"max_body_bytes": 1024 * 1024 + n}))
        assert server.port == port
        assert serves(server)
    server.stop()

    assert backend.wait_until_idle()
    after, grown = Resources(), rss() - memory
    assert abs(after.fds - before.fds) <= 2, (before, after)
    assert abs(after.threads - before.threads) <= 2, (before, after)
    assert grown <= 5 * MB, f"{grown / MB:.1f} MB"
