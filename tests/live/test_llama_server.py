"""Through the gateway to a REAL llama.cpp server (Gemma 3 270M on the CPU), by both protocols:
the official SDK and Claude Code itself get real answers, and count_tokens uses the server's own
tokenizer."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import anthropic
import httpx
import pytest

from gateway.config import BackendConfig, GatewayConfig, save_config
from gateway.events import EventBus
from gateway.runner import GatewayServer
from gateway.schemas.anthropic import parse_count_tokens_request
from gateway.tokens import count_tokens
from tests.e2e.test_claude_code import OFFLINE, ClaudeRun, lmgate_env
from tests.live.llama_server import MODEL_ALIAS, LlamaServer
from tests.records import RecordSink

pytestmark = [pytest.mark.live, pytest.mark.timeout(900)]
Gateway = Callable[..., GatewayServer]
PROTOCOLS = ["openai", "anthropic"]


def start(
    gateway_server: Gateway, llama: LlamaServer, protocol: str, bus: EventBus
) -> GatewayServer:
    backend = BackendConfig(id="llama", url=llama.url, protocol=protocol)
    return gateway_server(
        llama.url, backends=[backend], big=MODEL_ALIAS, small=MODEL_ALIAS, bus=bus
    )


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_sdk_gets_a_real_answer(
    protocol: str, llama_server: LlamaServer, gateway_server: Gateway
) -> None:
    bus = EventBus()
    seen = RecordSink(bus)
    server = start(gateway_server, llama_server, protocol, bus)
    with anthropic.Anthropic(base_url=server.url, api_key="x", max_retries=0) as client:
        message = client.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=40,
            messages=[{"role": "user", "content": "Say hello."}],
        )
        assert message.stop_reason == "end_turn", message
        text = message.content[-1].text  # type: ignore[union-attr]
        assert text.startswith("Hello") and text.endswith(".")
        assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
        with client.messages.stream(
            model="claude-haiku-4-5",
            max_tokens=40,
            system="Be brief.",
            messages=[{"role": "user", "content": "Greet me."}],
        ) as stream:
            final = stream.get_final_message()
        assert final.content[-1].text.startswith("Hello")  # type: ignore[union-attr]
        assert final.stop_reason == "end_turn"
    records = seen.wait(2)
    assert [r.extra["protocol"] for r in records] == [protocol, protocol]
    assert all(r.status == 200 and r.backend_model == MODEL_ALIAS for r in records)


def test_count_tokens_uses_the_servers_tokenizer(
    llama_server: LlamaServer, gateway_server: Gateway
) -> None:
    bus = EventBus()
    seen = RecordSink(bus)
    server = start(gateway_server, llama_server, "anthropic", bus)
    body = {
        "model": "claude-sonnet-4-6",
        "system": "You are a terse assistant.",
        "messages": [{"role": "user", "content": "Count the tokens of this sentence, please."}],
    }
    ours = httpx.post(f"{server.url}/v1/messages/count_tokens", json=body).json()["input_tokens"]
    direct = httpx.post(
        f"{llama_server.url}/messages/count_tokens", json={**body, "model": MODEL_ALIAS}
    ).json()["input_tokens"]
    bpe = count_tokens(parse_count_tokens_request(httpx.Request("POST", "/", json=body).read()))
    print(f"count_tokens: gateway {ours}, llama-server {direct}, o200k estimate {bpe}")
    assert ours == direct
    (record,) = seen.wait()
    assert record.extra["counter"] == "backend"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_claude_code_through_each_protocol(
    protocol: str,
    llama_server: LlamaServer,
    gateway_server: Gateway,
    claude_cli: Path,
    tmp_path: Path,
) -> None:
    """`claude -p` with the variables `lmgate env` prints; a small request (--bare, no tools)
    because the model is tiny and runs on the CPU."""
    bus = EventBus()
    seen = RecordSink(bus)
    server = start(gateway_server, llama_server, protocol, bus)
    config_path = tmp_path / "config.toml"
    backend = BackendConfig(id="llama", url=llama_server.url, protocol=protocol)
    save_config(
        GatewayConfig(port=server.port, backends=[backend], big=MODEL_ALIAS, small=MODEL_ALIAS),
        config_path,
    )
    env = lmgate_env(config_path)
    home = tmp_path / "home"
    home.mkdir()
    process_env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(home),
        "SHELL": shutil.which("bash") or "/bin/sh",
        "LANG": "C.UTF-8",
        "CLAUDE_CODE_MAX_OUTPUT_TOKENS": "64",
        **env,
        **OFFLINE,
    }
    command = [
        str(claude_cli), "-p", "say hi", "--output-format", "json",
        "--bare", "--tools", "", "--system-prompt", "Be terse.",
    ]  # fmt: skip
    done = subprocess.run(
        command,
        cwd=tmp_path,
        env=process_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    run = ClaudeRun(done.returncode, done.stdout, done.stderr)
    assert run.returncode == 0, run
    assert run.result["is_error"] is False, run
    assert run.result["result"].startswith("Hello"), run
    main = [r for r in seen.wait() if r.path == "/v1/messages" and r.status == 200]
    assert main and main[-1].extra["protocol"] == protocol
