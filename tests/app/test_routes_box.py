"""Models → Routes: turning a route on and typing its targets saves it where `lmgate serve`
reads it and applies to the next request; the request's detail says which route it took and
each target tried."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QLineEdit
from pytestqt.qtbot import QtBot

from app.desktop import Desktop
from gateway.config import load_config
from tests.app.harness import WAIT_MS, start
from tests.fakes import Error, FakeBackend

Make = Callable[..., Desktop]
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5E"
    "rkJggg=="
)


def type_into(edit: QLineEdit, text: str) -> None:
    edit.setFocus()
    edit.selectAll()
    QTest.keyClicks(edit, text)
    QTest.keyClick(edit, Qt.Key.Key_Return)
    edit.clearFocus()


def ask(url: str, content: Any) -> None:
    with anthropic.Anthropic(base_url=url, api_key="x", max_retries=0) as client:
        message = client.messages.create(
            model="claude-sonnet-5-5",
            max_tokens=32,
            messages=[{"role": "user", "content": content}],
        )
    assert message.content


def test_routes_are_set_on_the_models_page_and_shown_in_the_request_detail(
    make_desktop: Make, qtbot: QtBot, tmp_path: Path, fake_backend: Callable[..., FakeBackend]
) -> None:
    backend = fake_backend("lmstudio", models=["fake-model", "vision-model"])
    desktop = make_desktop(backend, big="lmstudio:fake-model", small="lmstudio:fake-model")
    start(desktop, qtbot, models=2)
    desktop.window.show()
    desktop.window.show_section("Models")
    box = desktop.window.models.routes
    path = tmp_path / "config.toml"
    assert not box.enabled["images"].isChecked() and not box.targets["images"].isEnabled()

    # Images: on, with the vision model as its target.
    QTest.mouseClick(box.enabled["images"], Qt.MouseButton.LeftButton)
    assert box.targets["images"].isEnabled()
    type_into(box.targets["images"], "lmstudio:vision-model")
    qtbot.waitUntil(
        lambda: (
            (r := load_config(path).config.routes.images) is not None
            and r.targets == ["lmstudio:vision-model"]
        ),
        timeout=WAIT_MS,
    )
    # Long prompts: on, with a threshold; thinking at effort max.
    QTest.mouseClick(box.enabled["long_context"], Qt.MouseButton.LeftButton)
    box.threshold.setValue(120_000)
    box.threshold.editingFinished.emit()
    QTest.mouseClick(box.enabled["thinking"], Qt.MouseButton.LeftButton)
    box.effort.setCurrentIndex(box.effort.findData("max"))
    type_into(box.big_fallbacks, "lmstudio:vision-model")
    qtbot.waitUntil(
        lambda: load_config(path).config.routes.fallbacks == {"big": ["lmstudio:vision-model"]},
        timeout=WAIT_MS,
    )
    routes = load_config(path).config.routes
    assert routes.long_context is not None and routes.long_context.threshold == 120_000
    assert routes.long_context.targets == ["big"]  # a route turned on starts at the big model
    assert routes.thinking is not None and routes.thinking.min_effort == "max"

    # Applied to the next request, without a restart.
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    ask(desktop.controller.url, [image, {"type": "text", "text": "what is it?"}])
    # The big model fails before answering: its fallback answers.
    backend.script(Error(500))
    ask(desktop.controller.url, "plain")
    log = desktop.log
    qtbot.waitUntil(lambda: log.rowCount() == 2, timeout=WAIT_MS)
    assert [r.body["model"] for r in backend.chat_requests] == [
        "vision-model",
        "fake-model",
        "vision-model",
    ]
    page = desktop.window.requests
    desktop.window.show_section("Requests")
    rows = {page.proxy.index(n, 0).row(): n for n in range(page.proxy.rowCount())}
    summaries = []
    for n in rows.values():
        page.select(n)
        summaries.append(page.summary.toPlainText())
    image_summary = next(s for s in summaries if "route images" in s)
    assert "(1 image block)" in image_summary and "lmstudio/vision-model" in image_summary
    plain = next(s for s in summaries if "route big" in s)
    assert "Targets tried:" in plain
    assert "1. lmstudio/fake-model: HTTP 500" in plain and "2. lmstudio/vision-model: ok" in plain

    # Off again: the route is gone from the file.
    QTest.mouseClick(box.enabled["images"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: load_config(path).config.routes.images is None, timeout=WAIT_MS)
    assert not box.targets["images"].isEnabled()
