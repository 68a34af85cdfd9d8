"""A long Claude Code 2.1.332 session on a 32k model compacts instead of failing.

Claude Code raises CLAUDE_CODE_AUTO_COMPACT_WINDOW to 100k, so the export line gives a window
under that as the model's own (CLAUDE_CODE_MAX_CONTEXT_TOKENS for the name lmgate-sonnet,
which Claude Code does not recognize and the gateway routes to the big model). The fake
backend reports the prompt sizes Claude Code decides on; the gateway serves it as a model
loaded with 32,768 tokens.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.config import BackendConfig, GatewayConfig, save_config
from gateway.runner import GatewayServer
from tests.e2e.test_claude_code import OFFLINE, lmgate_env, text_of
from tests.fakes import FakeBackend, Text, ToolCall, ToolCalls, Usage
from tests.provision import ensure_claude_code

pytestmark = [pytest.mark.claude, pytest.mark.timeout(600)]

WINDOW = 32768
# Claude Code asks for "an <analysis> block followed by a <summary> block", and asks again
# when they are missing.
MARKER = "SUMMARY-7f3a"
SUMMARY = (
    "<analysis>Two echo commands were requested.</analysis>\n"
    f"<summary>{MARKER}: the user asked to run echo one, then echo two; one printed.</summary>"
)
FINAL = "Both commands ran; the session went on after compacting."


def run_claude(
    claude_cli: Path, tmp_path: Path, env: dict[str, str], prompt: str
) -> dict[str, Any]:
    home, work, scratch = tmp_path / "home", tmp_path / "work", tmp_path / "tmp"
    for folder in (home, work, scratch):
        folder.mkdir(exist_ok=True)
    process_env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(home),
        "TMPDIR": str(scratch),
        "SHELL": shutil.which("bash") or "/bin/sh",
        "LANG": "C.UTF-8",
        **env,
        **OFFLINE,
    }
    done = subprocess.run(
        [str(claude_cli), "-p", prompt, "--output-format", "json", "--allowedTools", "Bash"],
        cwd=work,
        env=process_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert "100k minimum" not in done.stderr, done.stderr
    summary: dict[str, Any] = orjson.loads(done.stdout)
    return summary


def user_texts(body: dict[str, Any]) -> str:
    return "\n".join(text_of(m.get("content")) for m in body["messages"] if m["role"] == "user")


def gateway_env(
    tmp_path: Path,
    fake_backend: Callable[..., FakeBackend],
    gateway_server: Callable[..., GatewayServer],
) -> tuple[FakeBackend, dict[str, str]]:
    """A fake LM Studio with a 32k model, the gateway, and what `lmgate env` exports for it."""
    backend = fake_backend("lmstudio", context_length=WINDOW)
    gateway = gateway_server(backend.url)
    config_path = tmp_path / "config.toml"
    config = GatewayConfig(
        port=gateway.port,
        backends=[BackendConfig(id="fake", url=backend.url)],
        big="fake-model",
        small="fake-model",
    )
    save_config(config, config_path)
    return backend, lmgate_env(config_path)


def test_a_long_session_on_a_32k_model_compacts_and_goes_on(
    tmp_path: Path,
    fake_backend: Callable[..., FakeBackend],
    gateway_server: Callable[..., GatewayServer],
) -> None:
    claude_cli = ensure_claude_code("2.1.332")
    backend, env = gateway_env(tmp_path, fake_backend, gateway_server)
    assert env["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] == str(WINDOW)
    assert "CLAUDE_CODE_AUTO_COMPACT_WINDOW" not in env
    # Claude Code keeps min(max output, 20k) + 13k tokens free: with 4,096 for the answer it
    # compacts past 32,768 - 4,096 - 13,000 = 15,672 prompt tokens.
    first = ToolCall("Bash", {"command": "echo one"}, id="call_one")
    second = ToolCall("Bash", {"command": "echo two"}, id="call_two")
    backend.script(
        ToolCalls([first], usage=Usage(prompt_tokens=12_000)),
        ToolCalls([second], usage=Usage(prompt_tokens=20_000)),
        Text(SUMMARY, usage=Usage(prompt_tokens=20_500)),
        Text(FINAL, usage=Usage(prompt_tokens=9_000)),
    )

    result = run_claude(claude_cli, tmp_path, env, "run echo one, then echo two")

    chats = [r.body for r in backend.chat_requests]
    assert len(chats) == 4, [
        ([m["role"] for m in c["messages"]], user_texts(c)[-120:].replace("\n", " ")) for c in chats
    ]
    assert result["is_error"] is False, result
    assert result["result"] == FINAL
    assert backend.pending_replies == 0
    # Every request reached the big model through the name the export line set.
    assert {c["model"] for c in chats} == {"fake-model"}
    # Past the threshold (the second answer said 20,000 prompt tokens) the third request asks
    # for a summary of the conversation so far, without running the pending call first…
    # (The calls carry the gateway's ids, never the backend's `call_one` and `call_two`.)
    (one,) = tool_results(chats[1])
    assert one.startswith("toolu_")
    compaction = chats[2]
    assert tool_results(compaction) == [one]
    assert MARKER not in user_texts(compaction)
    # …and the next one goes on from that summary: the old call is gone, the pending one ran.
    after = chats[3]
    assert MARKER in user_texts(after)
    assert one not in orjson.dumps(after).decode()
    (two,) = tool_results(after)
    assert two.startswith("toolu_") and two != one
    assert [c["id"] for m in after["messages"] for c in m.get("tool_calls") or ()] == [two]
    results = [m for m in after["messages"] if m["role"] == "tool"]
    assert text_of(results[0]["content"]).strip() == "two"


def tool_results(body: dict[str, Any]) -> list[str]:
    return [m["tool_call_id"] for m in body["messages"] if m["role"] == "tool"]
