"""The real Claude Code CLI against the app's gateway: once with exactly the variables the app's
export line gives, once through "Apply to Claude Code" (the token fetched by `apiKeyHelper`)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDialogButtonBox
from pytestqt.qtbot import QtBot

from app.desktop import Desktop
from gateway.claude_settings import MANIFEST_SUFFIX, settings_path
from tests.app.harness import WAIT_MS, start
from tests.e2e.test_claude_code import CLAUDE_TIMEOUT, OFFLINE, ClaudeRun
from tests.fakes import FakeBackend, Text

pytestmark = [pytest.mark.claude, pytest.mark.timeout(600)]


def run_claude(claude_cli: Path, tmp_path: Path, env: dict[str, str], prompt: str) -> ClaudeRun:
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir(exist_ok=True)
    work.mkdir(exist_ok=True)
    process_env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(home),
        "USERPROFILE": str(home),
        "TMPDIR": str(tmp_path),
        "SHELL": shutil.which("bash") or "/bin/sh",
        "LANG": "C.UTF-8",
        **env,
        **OFFLINE,
    }
    done = subprocess.run(
        [str(claude_cli), "-p", prompt, "--output-format", "json"],
        cwd=work,
        env=process_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CLAUDE_TIMEOUT,
        check=False,
    )
    return ClaudeRun(done.returncode, done.stdout, done.stderr)


def test_claude_code_answers_with_the_apps_export_line(
    make_desktop: Callable[..., Desktop],
    qtbot: QtBot,
    tmp_path: Path,
    claude_cli: Path,
    fake_backend: Callable[..., FakeBackend],
) -> None:
    backend = fake_backend("lmstudio", context_length=65536)
    desktop = make_desktop(backend)
    start(desktop, qtbot)
    overview = desktop.window.overview
    overview.shell.setCurrentText("bash")
    qtbot.mouseClick(overview.copy, Qt.MouseButton.LeftButton)
    env: dict[str, str] = {}
    for line in QGuiApplication.clipboard().text().splitlines():
        words = shlex.split(line)
        assert len(words) == 2 and words[0] == "export", line
        name, _, value = words[1].partition("=")
        env[name] = value
    assert env["ANTHROPIC_BASE_URL"] == desktop.controller.url
    answer = "Hello from the app's gateway."
    backend.script(Text(answer, chunks=3))

    run = run_claude(claude_cli, tmp_path, env, "say hello")

    assert run.returncode == 0, run
    assert run.result["is_error"] is False, run
    assert run.result["result"] == answer
    qtbot.waitUntil(lambda: desktop.log.rowCount() >= 1, timeout=WAIT_MS)


def test_claude_code_uses_the_applied_settings_and_the_token_helper(
    make_desktop: Callable[..., Desktop],
    qtbot: QtBot,
    tmp_path: Path,
    claude_cli: Path,
    fake_backend: Callable[..., FakeBackend],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = "tok-e2e-0123456789"
    monkeypatch.setenv("LMGATE_TOKEN", token)  # the helper's source, as the keyring would be
    backend = fake_backend("lmstudio", context_length=65536)
    desktop = make_desktop(backend)
    start(desktop, qtbot)
    assert desktop.controller.token == token
    overview = desktop.window.overview
    qtbot.mouseClick(overview.apply, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: overview.dialog is not None, timeout=WAIT_MS)
    assert overview.dialog is not None
    qtbot.mouseClick(
        overview.dialog.buttons.button(QDialogButtonBox.StandardButton.Apply),
        Qt.MouseButton.LeftButton,
    )
    path = settings_path()
    qtbot.waitUntil(lambda: path.with_name(path.name + MANIFEST_SUFFIX).exists(), timeout=WAIT_MS)
    assert token not in path.read_text(encoding="utf-8")
    answer = "Answered through the applied settings."
    backend.script(Text(answer))

    # No ANTHROPIC_* variable: only Claude Code's settings file points it at the gateway.
    run = run_claude(
        claude_cli,
        tmp_path,
        {"CLAUDE_CONFIG_DIR": str(path.parent), "LMGATE_TOKEN": token},
        "say hello",
    )

    assert run.returncode == 0, run
    assert run.result["result"] == answer
    chats = backend.chat_requests
    assert chats, "the request never reached the backend"
