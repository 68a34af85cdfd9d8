"""A Redis that cannot be reached: what needs it says so; what does not still works."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import anthropic
import pytest

from gateway.config import BackendConfig, GatewayConfig, TeamConfig
from gateway.events import EventBus
from gateway.runner import GatewayServer
from gateway.team.clients import add_client
from gateway.team.gate import TeamFiles
from tests.gateway.api.client import Start
from tests.gateway.team.helpers import ask, sdk


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: nothing listens there


def test_without_its_redis_a_gateway_says_so_and_serves_what_needs_none(
    fake_backend: Start, tmp_path: Path
) -> None:
    fake = fake_backend("lmstudio")
    _, free = add_client(tmp_path / "clients.toml", "free")
    _, limited = add_client(tmp_path / "clients.toml", "limited", rpm=100)
    config = GatewayConfig(
        port=0,
        backends=[BackendConfig(id="fake", url=fake.url)],
        discover=False,
        big="fake-model",
        small="fake-model",
        team=TeamConfig(require_client_keys=True, redis_url=f"redis://127.0.0.1:{_closed_port()}"),
    )
    server = GatewayServer(config, bus=EventBus(), team_files=TeamFiles(tmp_path / "clients.toml"))
    server.start()
    try:
        with sdk(server.url, api_key=free) as client:
            assert ask(client).content[0].text  # no limit to check, no thread to keep
        started = time.monotonic()
        with sdk(server.url, api_key=limited) as client:
            with pytest.raises(anthropic.InternalServerError) as failed:
                ask(client)
        assert time.monotonic() - started < 10
        assert "limits cannot be checked" in failed.value.body["error"]["message"]  # type: ignore[index]
        with sdk(server.url, api_key=free) as client:
            with pytest.raises(anthropic.InternalServerError) as lost:
                client.beta.messages.create(
                    model="claude-sonnet-4-6",
                    max_tokens=16,
                    messages=[{"role": "user", "content": "more"}],
                    betas=["message-threads-2026-08-12"],
                    extra_body={"thread": {"type": "continue", "previous_message_id": "msg_x"}},
                )
        assert "shared store (Redis)" in lost.value.body["error"]["message"]  # type: ignore[index]
    finally:
        server.stop()
