"""A Claude Code 2.1.332 session whose prompt overflows a 32k window recovers from the 400.

The fake backend reports small prompts, so Claude Code's own estimate does not hold the
conversation back: the prompt really outgrows the window as Read results pile up, the backend
refuses it as LM Studio does, and the gateway answers 400 "prompt is too long: N tokens > M
maximum". Claude Code compacts on that answer (in print mode too), sizing what it summarizes by
the gap N - M, and the session goes on. When its own summary request is what overflows, it drops
the oldest rounds from that request by the same gap and asks again.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.config import BackendConfig, GatewayConfig, save_config
from gateway.events import EventBus, RequestRecord
from gateway.runner import GatewayServer
from tests.e2e.test_claude_code import OFFLINE, lmgate_env, text_of
from tests.e2e.test_claude_code_compaction import WINDOW
from tests.fakes import FakeBackend, Reply, Respond, Text, ToolCall, ToolCalls, Usage
from tests.fakes.flavour import estimate_tokens
from tests.provision import ensure_claude_code
from tests.records import RecordSink

pytestmark = [pytest.mark.claude, pytest.mark.timeout(300)]

MARKER = "SUMMARY-c41d"
SUMMARY = (
    "<analysis>Files were read one after another.</analysis>\n"
    f"<summary>{MARKER}: the user asked to read the files in order; the first ones were read."
    "</summary>"
)
FINAL = "All the files were read; the session went on after the overflow."
# What the backend says every prompt cost: far below the truth, so Claude Code does not see the
# overflow coming and sends the request the backend refuses.
REPORTED = 4000
# The wording 2.1.332 reads the gap from (it also matches the whole message against it).
OVERFLOW = re.compile(r"^prompt is too long: (\d+) tokens > (\d+) maximum$")
MAX_REQUESTS = 40


def last_user_text(body: dict[str, Any]) -> str:
    users = [m for m in body["messages"] if m["role"] == "user"]
    return text_of(users[-1]["content"]) if users else ""


def all_text(body: dict[str, Any]) -> str:
    return "\n".join(text_of(m.get("content")) for m in body["messages"])


def is_summary_request(body: dict[str, Any]) -> bool:
    # Claude Code's compaction prompt asks for a <summary> block in the last user message.
    last = last_user_text(body)
    return "<summary>" in last and MARKER not in last


class Model:
    """The model's side: read the next file, summarize when asked, answer once all are read."""

    def __init__(self, work: Path, files: int) -> None:
        self.work = work
        self.files = files
        self.read = 0
        self.summaries = 0
        self.answers = 0

    def reply(self, body: dict[str, Any]) -> Reply:
        if is_summary_request(body):
            self.summaries += 1
            return Text(SUMMARY, usage=Usage(prompt_tokens=REPORTED))
        if self.read < self.files:
            self.read += 1
            path = self.work / f"file{self.read}.txt"
            call = ToolCall("Read", {"file_path": str(path)}, id=f"call_{self.read}")
            return ToolCalls([call], usage=Usage(prompt_tokens=REPORTED))
        self.answers += 1
        return Text(FINAL, usage=Usage(prompt_tokens=REPORTED))


@dataclass
class Session:
    result: dict[str, Any]
    overflows: list[RequestRecord]
    chats: list[dict[str, Any]]
    refused: list[dict[str, Any]]
    model: Model


def run_session(
    tmp_path: Path,
    fake_backend: Callable[..., FakeBackend],
    gateway_server: Callable[..., GatewayServer],
    *,
    files: int,
    lines: int,
) -> Session:
    """`claude -p` asked to read `files` files of `lines` lines each, with what `lmgate env`
    exports, through the gateway to a fake LM Studio with a 32k model."""
    claude_cli = ensure_claude_code("2.1.332")
    backend = fake_backend("lmstudio", context_length=WINDOW)
    bus = EventBus()
    records = RecordSink(bus)
    gateway = gateway_server(backend.url, bus=bus)
    config_path = tmp_path / "config.toml"
    config = GatewayConfig(
        port=gateway.port,
        backends=[BackendConfig(id="fake", url=backend.url)],
        big="fake-model",
        small="fake-model",
    )
    save_config(config, config_path)
    env = lmgate_env(config_path)
    assert env["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] == str(WINDOW)
    home, work, scratch = tmp_path / "home", tmp_path / "work", tmp_path / "tmp"
    for folder in (home, work, scratch):
        folder.mkdir()
    for n in range(1, files + 1):
        text = (
            f"file {n} line {i:04d}: the quick brown fox jumps over the lazy dog"
            for i in range(lines)
        )
        (work / f"file{n}.txt").write_text("\n".join(text) + "\n")
    model = Model(work, files)
    backend.script(*[Respond(model.reply) for _ in range(MAX_REQUESTS)])

    prompt = f"read file1.txt to file{files}.txt in order"
    done = subprocess.run(
        [str(claude_cli), "-p", prompt, "--output-format", "json"],
        cwd=work,
        env={
            "PATH": os.environ.get("PATH", os.defpath),
            "HOME": str(home),
            "TMPDIR": str(scratch),
            "SHELL": shutil.which("bash") or "/bin/sh",
            "LANG": "C.UTF-8",
            **env,
            **OFFLINE,
        },
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    seen = [(r.status, r.error) for r in records if r.path == "/v1/messages"]
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{seen}"
    result: dict[str, Any] = orjson.loads(done.stdout)
    assert result["is_error"] is False, (result, seen)
    assert result["result"] == FINAL
    # The overflow path was taken: the gateway answered the wording Claude Code parses, for a
    # prompt really over the window.
    overflows = [r for r in records if r.status == 400]
    assert overflows, seen
    for record in overflows:
        match = OVERFLOW.match(record.error or "")
        assert match, record.error
        assert int(match[1]) > int(match[2]) == WINDOW
    chats = [r.body for r in backend.chat_requests]
    refused = [body for body in chats if estimate_tokens(body, "messages", "tools") > WINDOW]
    assert len(refused) == len(overflows)
    assert len(chats) - len(refused) == model.read + model.summaries + model.answers
    # Every file was read, one answer came, and every request after the first summary that
    # is not itself a summary request goes on from it.
    assert model.read == files and model.answers == 1 and model.summaries >= 1
    first = next(i for i, body in enumerate(chats) if is_summary_request(body))
    after = [body for body in chats[first + 1 :] if not is_summary_request(body)]
    assert after and all(MARKER in all_text(body) for body in after)
    return Session(result, overflows, chats, refused, model)


def test_an_overflowing_conversation_compacts_and_goes_on(
    tmp_path: Path,
    fake_backend: Callable[..., FakeBackend],
    gateway_server: Callable[..., GatewayServer],
) -> None:
    # About 5k tokens a file: a few Read results fit in 32k beside 2.1.332's own system prompt
    # and tools (about 14k tokens by the fake's count), all eight do not.
    session = run_session(tmp_path, fake_backend, gateway_server, files=8, lines=320)
    # Each refused request was the conversation itself, and each got a summary request after.
    assert not any(is_summary_request(body) for body in session.refused)
    assert session.model.summaries >= len(session.overflows)


def test_an_overflowing_summary_request_is_retried_smaller(
    tmp_path: Path,
    fake_backend: Callable[..., FakeBackend],
    gateway_server: Callable[..., GatewayServer],
) -> None:
    # Two Reads of about 20k tokens each: Claude Code's own estimate stops the conversation
    # before it is sent, but the summary request it sends instead holds both and overflows.
    session = run_session(tmp_path, fake_backend, gateway_server, files=2, lines=1400)
    assert all(is_summary_request(body) for body in session.refused)
    # The one sent again after each refusal was smaller and was served.
    served = [b for b in session.chats if is_summary_request(b) and b not in session.refused]
    assert len(served) == session.model.summaries >= 1
