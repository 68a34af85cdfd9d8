"""Claude Code 2.1.332 in auto mode through the gateway: the gateway answers `safeguards`, so
the action the rules cannot decide is reviewed by the backend model and runs, one the rules
flag is blocked, no fallback notice appears and Claude Code sends no classifier request of its
own (its system prompt would start "You are a security monitor")."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.config import BackendConfig, GatewayConfig, save_config
from gateway.review.classifier import SYSTEM_PROMPT
from gateway.runner import GatewayServer
from tests.e2e.test_claude_code import CLAUDE_TIMEOUT, OFFLINE, ClaudeRun, lmgate_env, text_of
from tests.fakes import FakeBackend, Respond, Text, ToolCall, ToolCalls
from tests.fakes.replies import Reply
from tests.provision import CLAUDE_CODE_VERSION, ensure_claude_code

pytestmark = [pytest.mark.claude, pytest.mark.timeout(600)]

# What 2.1.332 prints when a gateway does not answer the review (tests/fixtures/capture.py,
# scenario interactive-auto-fallback, and the same in -p mode on stderr).
FALLBACK = "Auto mode can't check actions"
CLIENT_CLASSIFIER = "You are a security monitor"
# Claude Code's own pre-screen does not clear this one, and no rule decides it.
SCRIPT = "python3 -c \"open('made.txt','w').write('hi')\""


@dataclass
class Auto:
    backend: FakeBackend
    work: Path
    run: Callable[[str], ClaudeRun]


@pytest.fixture
def auto(
    tmp_path: Path,
    fake_backend: Callable[..., FakeBackend],
    gateway_server: Callable[..., GatewayServer],
) -> Auto:
    claude_cli = ensure_claude_code(CLAUDE_CODE_VERSION)
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
    home, work, scratch = tmp_path / "home", tmp_path / "work", tmp_path / "tmp"
    for folder in (home, work, scratch):
        folder.mkdir()
    # Auto mode reads the project's git state.
    git = ["git", "-c", "user.name=user", "-c", "user.email=user@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=work, check=True)
    (work / "README.md").write_text("# project\n", encoding="utf-8")
    subprocess.run([*git, "add", "README.md"], cwd=work, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "start"], cwd=work, check=True)

    def run(prompt: str) -> ClaudeRun:
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
        command = [str(claude_cli), "-p", prompt, "--output-format", "json"]
        command += ["--permission-mode", "auto"]
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

    return Auto(backend, work, run)


def review_model(flagged: bool) -> Respond:
    """The backend answering the gateway's review request for the ids it was asked about."""

    def make(body: Any) -> Reply:
        user = text_of(next(m for m in body["messages"] if m["role"] == "user")["content"])
        calls = orjson.loads(user.split("Tool calls to classify:\n", 1)[1])
        verdicts = {c["id"]: {"flagged": flagged, "explanation": "Checked."} for c in calls}
        return Text(orjson.dumps({"verdicts": verdicts}).decode())

    return Respond(make)


def systems(body: dict[str, Any]) -> str:
    return "\n".join(text_of(m.get("content")) for m in body["messages"] if m["role"] == "system")


def test_auto_mode_runs_a_reviewed_action_with_no_fallback(auto: Auto) -> None:
    final = "The script wrote made.txt."
    auto.backend.script(ToolCalls([ToolCall("Bash", {"command": SCRIPT})]), review_model(False))
    auto.backend.script(Text(final))

    run = auto.run("write hi into made.txt with python")

    assert run.returncode == 0, run
    assert FALLBACK not in run.stderr, run
    assert run.result["is_error"] is False and run.result["result"] == final, run
    assert run.result["permission_denials"] == [], run
    # The tool really ran.
    assert (auto.work / "made.txt").read_text(encoding="utf-8") == "hi"
    chats = [r.body for r in auto.backend.chat_requests]
    reviews = [b for b in chats if SYSTEM_PROMPT[:60] in systems(b)]
    assert len(reviews) == 1, chats
    assert not any(CLIENT_CLASSIFIER in orjson.dumps(b).decode() for b in chats)
    assert not any("safeguards" in orjson.dumps(b).decode() for b in chats)
    assert auto.backend.pending_replies == 0


def test_auto_mode_blocks_what_the_rules_flag(auto: Auto) -> None:
    push = ToolCall("Bash", {"command": "git push --force origin main"})
    auto.backend.script(ToolCalls([push]), Text("I did not push."))

    run = auto.run("force-push main")

    assert run.returncode == 0, run
    assert FALLBACK not in run.stderr, run
    (denial,) = run.result["permission_denials"]
    assert denial["tool_input"]["command"] == "git push --force origin main"
    chats = [r.body for r in auto.backend.chat_requests]
    # The turn and the tool result: no review model call (the rules decided), and Claude Code's
    # own classifier never asked.
    assert len(chats) == 2, chats
    assert not any(CLIENT_CLASSIFIER in orjson.dumps(b).decode() for b in chats)
    told = orjson.dumps(chats[1]["messages"][-2:]).decode()
    assert "denied" in told and "force" in told.lower(), told
    # The rules' reason reads as one sentence: Claude Code adds the full stop.
    assert "Reason: This force-pushes or deletes a remote branch. " in told, told
