"""The real Claude Code CLI, pinned, through the gateway to a scripted fake LM Studio.

Claude Code gets exactly the variables `lmgate env` prints, plus the switches that keep it
offline, a scratch HOME and a scratch working directory. Every test runs with each pinned
version (tests.provision.CLAUDE_CODE_VERSIONS): the current release and 2.1.197.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.config import BackendConfig, GatewayConfig, save_config
from gateway.runner import GatewayServer
from tests.fakes import FakeBackend, Text, ToolCall, ToolCalls
from tests.provision import CLAUDE_CODE_VERSIONS, ensure_claude_code

pytestmark = [pytest.mark.claude, pytest.mark.timeout(600)]

# No update checks, telemetry or error reports: the machine may have no internet at all.
OFFLINE = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_ERROR_REPORTING": "1",
}
CLAUDE_TIMEOUT = 240.0


@dataclass
class ClaudeRun:
    returncode: int
    stdout: str
    stderr: str

    @property
    def result(self) -> dict[str, Any]:
        """The `--output-format json` summary: `result`, `is_error`, `num_turns`…"""
        summary: dict[str, Any] = orjson.loads(self.stdout)
        return summary

    def __str__(self) -> str:
        return f"exit {self.returncode}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"


@dataclass
class Harness:
    backend: FakeBackend
    gateway: GatewayServer
    run: Callable[..., ClaudeRun]


def lmgate_env(config_path: Path) -> dict[str, str]:
    """What `lmgate env --shell bash` tells the user to export."""
    lmgate = shutil.which("lmgate", path=str(Path(sys.executable).parent))
    if lmgate is None:
        pytest.fail(
            "the `lmgate` console script is not installed in this environment: run `uv sync`"
        )
    command = [lmgate, "env", "--shell", "bash", "--config", str(config_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    env: dict[str, str] = {}
    for line in done.stdout.splitlines():
        words = shlex.split(line)
        assert len(words) == 2 and words[0] == "export", line
        name, _, value = words[1].partition("=")
        env[name] = value
    return env


@pytest.fixture(params=CLAUDE_CODE_VERSIONS)
def claude(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    fake_backend: Callable[..., FakeBackend],
    gateway_server: Callable[..., GatewayServer],
) -> Harness:
    claude_cli = ensure_claude_code(request.param)
    # Claude Code sends ~20k tokens of system prompt and tools: load the model with 64k.
    backend = fake_backend("lmstudio", context_length=65536)
    gateway = gateway_server(backend.url)
    config_path = tmp_path / "config.toml"
    config = GatewayConfig(
        port=gateway.port,
        backends=[BackendConfig(id="fake", url=backend.url)],
        big="fake-model",
        small="fake-model",
    )
    save_config(config, config_path)
    env = lmgate_env(config_path)
    assert env["ANTHROPIC_BASE_URL"] == gateway.url
    home, work, scratch = tmp_path / "home", tmp_path / "work", tmp_path / "tmp"
    for folder in (home, work, scratch):
        folder.mkdir()

    def run(prompt: str, *flags: str) -> ClaudeRun:
        process_env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "HOME": str(home),
            "USERPROFILE": str(home),
            "TMPDIR": str(scratch),
            "SHELL": shutil.which("bash") or "/bin/sh",
            "LANG": "C.UTF-8",
            **env,
            **OFFLINE,
        }
        command = [str(claude_cli), "-p", prompt, "--output-format", "json", *flags]
        done = subprocess.run(
            command,
            cwd=work,
            env=process_env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=CLAUDE_TIMEOUT,
            check=False,
        )
        return ClaudeRun(done.returncode, done.stdout, done.stderr)

    return Harness(backend, gateway, run)


def text_of(content: Any) -> str:
    """An OpenAI message content, string or list of text parts, as one string."""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content or [])


def test_claude_code_runs_bash_through_the_gateway(claude: Harness) -> None:
    # LM Studio's tool-call ids are bare numbers (others reuse `call_1` every turn): the client
    # gets the gateway's own `toolu_…` id, and the backend sees that id paired with the result.
    call = ToolCall("Bash", {"command": "echo hi"}, id="365174485")
    final = "The command printed hi."
    claude.backend.script(ToolCalls([call]), Text(final))

    run = claude.run("run echo hi", "--allowedTools", "Bash")

    assert run.returncode == 0, run
    assert run.result["is_error"] is False, run
    assert run.result["result"] == final
    chats = claude.backend.chat_requests
    assert len(chats) == 2, [c.body for c in chats]
    messages = chats[1].body["messages"]
    calls = [m for m in messages if m["role"] == "assistant" and m.get("tool_calls")]
    (sent,) = [c["id"] for c in calls[-1]["tool_calls"]]
    assert sent.startswith("toolu_") and sent != "365174485"
    results = [m for m in messages if m["role"] == "tool"]
    assert len(results) == 1, messages
    assert results[0]["tool_call_id"] == sent
    # The tool really ran: only a shell turns `echo hi` into "hi".
    assert text_of(results[0]["content"]).strip() == "hi"
    assert claude.backend.pending_replies == 0


def test_claude_code_prints_the_backends_answer(claude: Harness) -> None:
    answer = "Hi! This answer came from the fake backend."
    claude.backend.script(Text(answer, chunks=5))

    run = claude.run("say hi")

    assert run.returncode == 0, run
    assert run.result["is_error"] is False, run
    assert run.result["result"] == answer
    chats = claude.backend.chat_requests
    assert len(chats) == 1, [c.body for c in chats]
    assert chats[0].body["model"] == "fake-model"
    user_text = "".join(
        text_of(m["content"]) for m in chats[0].body["messages"] if m["role"] == "user"
    )
    assert "say hi" in user_text
