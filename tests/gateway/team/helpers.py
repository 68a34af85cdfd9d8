"""What the team tests share: the `lmgate` command as a user runs it, a gateway with a client
list in a temporary config folder, and a fake whose every answer reports known token counts."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anthropic

from gateway.config import BackendConfig, GatewayConfig, TeamConfig
from gateway.events import EventBus
from gateway.runner import GatewayServer
from gateway.team.clients import clients_path
from gateway.team.gate import TeamFiles
from gateway.usage_store import HISTORY_NAME
from tests.fakes.replies import Text, Usage
from tests.fakes.server import FakeBackend

__all__ = ["IN", "OUT", "lmgate", "reply_with_usage", "run_lmgate", "sdk", "team_gateway"]

# What every answer of the fake reports: the figures usage must add up to.
IN, OUT = 40, 10


def lmgate() -> str:
    script = Path(sys.executable).with_name("lmgate")
    assert script.exists(), f"the lmgate entry point is not installed next to {sys.executable}"
    return str(script)


def run_lmgate(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [lmgate(), *args], capture_output=True, text=True, timeout=60, check=False
    )
    if check:
        assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return result


def add_client(config: Path, name: str, *flags: str) -> str:
    """`lmgate clients add`: the key it prints, once, on stdout."""
    result = run_lmgate("clients", "add", name, *flags, "--config", str(config))
    key = result.stdout.strip()
    assert key.startswith("lmg-") and "\n" not in key, result.stdout
    return key


def usage_json(config: Path, *flags: str) -> list[dict[str, Any]]:
    result = run_lmgate("usage", "--json", "--since", "1d", "--config", str(config), *flags)
    data: list[dict[str, Any]] = json.loads(result.stdout)
    return data


def reply_with_usage(fake: FakeBackend) -> None:
    fake.default_reply = Text(text="ok", usage=Usage(prompt_tokens=IN, completion_tokens=OUT))


@contextmanager
def team_gateway(
    fake: FakeBackend, config_path: Path, *, require_keys: bool = True, token: str | None = None
) -> Iterator[GatewayServer]:
    """A gateway on loopback in front of `fake`, reading the clients beside `config_path` and
    writing usage to the history there, as `lmgate serve --config config_path` does."""
    config = GatewayConfig(
        port=0,
        backends=[BackendConfig(id="fake", url=fake.url)],
        discover=False,
        big="fake-model",
        small="fake-model",
        team=TeamConfig(require_client_keys=require_keys),
    )
    files = TeamFiles(clients_path(config_path), config_path.with_name(HISTORY_NAME))
    server = GatewayServer(config, bus=EventBus(), token=token, team_files=files)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def sdk(base_url: str, *, api_key: str | None = None, auth_token: str | None = None) -> Any:
    """The official SDK as Claude Code's settings make it: ANTHROPIC_API_KEY → x-api-key,
    ANTHROPIC_AUTH_TOKEN → Authorization: Bearer."""
    return anthropic.Anthropic(
        base_url=base_url, api_key=api_key, auth_token=auth_token, max_retries=0
    )


def ask(client: anthropic.Anthropic, text: str = "hi", **fields: Any) -> Any:
    return client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=16,
        messages=[{"role": "user", "content": text}],
        **fields,
    )
