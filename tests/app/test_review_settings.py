"""Settings → Auto mode review: the choice is saved where `lmgate serve` reads it and applies to
the next request at once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from app.desktop import Desktop
from app.sections.review_settings import MODES
from gateway.config import load_config
from tests.app.harness import WAIT_MS, start
from tests.fakes import FakeBackend, ToolCall, ToolCalls

Make = Callable[..., Desktop]
SAFEGUARDS = [{"type": "dangerous_tool_use", "classifier_context": {"live_cwd": "/p"}}]


def results_of(url: str) -> Any:
    payload = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "push it"}],
        "tools": [{"name": "Bash", "input_schema": {"type": "object"}}],
        "safeguards": SAFEGUARDS,
    }
    response = httpx.post(f"{url}/v1/messages", json=payload, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["safeguard_results"]


def test_the_review_choice_is_saved_and_applied_live(
    make_desktop: Make, qtbot: QtBot, tmp_path: Path, fake_backend: Callable[..., FakeBackend]
) -> None:
    backend = fake_backend("lmstudio")
    backend.script(*[ToolCalls([ToolCall("Bash", {"command": "git push --force"})])] * 2)
    desktop = make_desktop(backend)
    start(desktop, qtbot)
    box, controller = desktop.window.settings.review, desktop.controller
    path = tmp_path / "config.toml"
    assert box.mode.currentData() == "classifier" and box.model.currentText() == "small"
    assert box.model.isEnabled()
    # The roles and the backend's model are offered.
    offered = [box.model.itemText(i) for i in range(box.model.count())]
    assert offered[:3] == ["small", "big", "opus"] and "fake-model" in offered
    # The rules flag a force-push with the default choice.
    (result,) = results_of(controller.url)
    assert next(iter(result["status"]["tool_uses"].values()))["outcome"] == "flagged"

    line = box.model.lineEdit()
    assert line is not None
    box.model.setFocus()
    line.selectAll()
    QTest.keyClicks(line, "lmstudio:fake-model")
    QTest.keyClick(line, Qt.Key.Key_Return)
    qtbot.waitUntil(
        lambda: load_config(path).config.review.model == "lmstudio:fake-model", timeout=WAIT_MS
    )
    box.mode.setCurrentIndex([value for value, _ in MODES].index("off"))

    qtbot.waitUntil(lambda: load_config(path).config.review.mode == "off", timeout=WAIT_MS)
    saved = load_config(path).config.review
    assert (saved.mode, saved.model) == ("off", "lmstudio:fake-model")
    assert not box.model.isEnabled()
    assert "asks you" in box.hint.text()
    # Applied without a restart: the next request is answered "unsupported".
    assert results_of(controller.url) == [
        {"type": "dangerous_tool_use", "status": {"type": "unsupported"}}
    ]
