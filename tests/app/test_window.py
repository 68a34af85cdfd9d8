"""The main window driven the way a user drives it, against fake backends and the real gateway."""

from __future__ import annotations

import json
import shlex
import stat
from collections.abc import Callable
from pathlib import Path

import anthropic
import orjson
import pytest
from anthropic.types import Base64ImageSourceParam
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDialogButtonBox
from pytestqt.qtbot import QtBot

from app.controller import MASK
from app.desktop import Desktop
from gateway.claude_desktop import library_path
from gateway.claude_settings import MANIFEST_SUFFIX, settings_path
from gateway.config import load_config
from gateway.envline import claude_env, render
from tests.app.harness import WAIT_MS, ask, start
from tests.fakes import FakeBackend, Text, Usage

Make = Callable[..., Desktop]


@pytest.fixture
def two_backends(fake_backend: Callable[..., FakeBackend]) -> tuple[FakeBackend, FakeBackend]:
    lmstudio = fake_backend(
        "lmstudio", models=["qwen3-coder-30b", "qwen3-4b"], context_length=65536
    )
    ollama = fake_backend("ollama", models=["gpt-oss:20b"], context_length=8192)
    return lmstudio, ollama


def combo_texts(combo: object) -> list[str]:
    return [combo.itemText(i) for i in range(combo.count())]  # type: ignore[attr-defined]


def test_the_window_builds_with_its_seven_sections(make_desktop: Make, qtbot: QtBot) -> None:
    desktop = make_desktop()
    window = desktop.window
    titles = [window.sidebar.item(i).text() for i in range(window.sidebar.count())]
    assert titles == [
        "Overview",
        "Models",
        "Backends",
        "Requests",
        "Usage",
        "Settings",
        "About",
    ]
    window.show_and_raise()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.keyClick(window, Qt.Key.Key_4, Qt.KeyboardModifier.ControlModifier)
    assert window.stack.currentWidget() is window.requests
    window.sidebar.setFocus()
    qtbot.keyClick(window.sidebar, Qt.Key.Key_Up)
    assert window.stack.currentWidget() is window.backends
    assert window.windowTitle() == "LM Gate"
    assert not window.windowIcon().isNull()


def test_the_dropdowns_fill_from_the_backends(
    make_desktop: Make, qtbot: QtBot, two_backends: tuple[FakeBackend, FakeBackend]
) -> None:
    desktop = make_desktop(*two_backends)
    start(desktop, qtbot, models=3)
    models = desktop.window.models
    texts = combo_texts(models.big)
    assert texts[0].startswith("Automatic")
    # Grouped by backend: a heading, then its models with state, window and capabilities.
    # The heading names the backend once (#13: not "lmstudio · lmstudio").
    assert texts[1] == "lmstudio"
    assert texts[2].strip() == "qwen3-coder-30b  —  loaded · 64k context · tools"
    assert texts[3].strip() == "qwen3-4b  —  not loaded · up to 128k context · tools"
    assert texts[4] == "ollama"
    assert texts[5].strip().startswith("gpt-oss:20b  —  loaded · 8k context · tools")
    heading = models.big.model().item(1)  # type: ignore[attr-defined]
    assert not heading.isEnabled()
    assert combo_texts(models.small)[0] == "Same as the big model"
    assert models.table.rowCount() == 3


def test_choosing_a_model_moves_the_next_request(
    make_desktop: Make,
    qtbot: QtBot,
    tmp_path: Path,
    two_backends: tuple[FakeBackend, FakeBackend],
) -> None:
    lmstudio, ollama = two_backends
    desktop = make_desktop(lmstudio, ollama)
    start(desktop, qtbot, models=3)
    url = desktop.controller.url
    ask(url)
    assert [r.body["model"] for r in lmstudio.chat_requests] == ["qwen3-coder-30b"]

    assert desktop.window.models.choose("big", "ollama:gpt-oss:20b")
    ask(url)
    assert [r.body["model"] for r in ollama.chat_requests] == ["gpt-oss:20b"]

    assert desktop.window.models.choose("small", "lmstudio:qwen3-4b")
    ask(url, model="claude-haiku-4-5")
    assert lmstudio.chat_requests[-1].body["model"] == "qwen3-4b"
    # Saved for the next start, in the file the headless mode reads.
    qtbot.waitUntil(
        lambda: load_config(tmp_path / "config.toml").config.small == "lmstudio:qwen3-4b",
        timeout=WAIT_MS,
    )
    saved = load_config(tmp_path / "config.toml").config
    assert (saved.big, saved.small) == ("ollama:gpt-oss:20b", "lmstudio:qwen3-4b")


def test_a_request_shows_in_the_requests_table_with_its_figures(
    make_desktop: Make, qtbot: QtBot, fake_backend: Callable[..., FakeBackend]
) -> None:
    backend = fake_backend("lmstudio")
    # A model that takes its time: a rate over a few milliseconds means nothing, and is not shown.
    backend.script(Text("streamed answer", chunks=4, delay=0.05, usage=Usage(120, 40, 100)))
    desktop = make_desktop(backend)
    start(desktop, qtbot)
    client_text = "please count to three"

    with (
        anthropic.Anthropic(
            base_url=desktop.controller.url, api_key="sk-not-shown", max_retries=0
        ) as client,
        client.messages.stream(
            model="claude-sonnet-4-6",
            max_tokens=64,
            messages=[{"role": "user", "content": client_text}],
        ) as stream,
    ):
        assert stream.get_final_text() == "streamed answer"

    log = desktop.log
    qtbot.waitUntil(lambda: log.rowCount() == 1, timeout=WAIT_MS)
    page = desktop.window.requests
    cells = {
        log.headerData(c, Qt.Orientation.Horizontal): log.index(0, c).data()
        for c in range(log.columnCount())
    }
    assert cells["Model asked"] == "claude-sonnet-4-6"
    assert cells["Routed to"] == "lmstudio/fake-model"
    assert cells["Class"] == "main"
    assert cells["Stream"] == "yes"
    assert cells["Status"] == "200"
    # Anthropic's usage: input_tokens leaves out the 100 read from the cache.
    assert (cells["In"], cells["Out"], cells["Cached"]) == ("20", "40", "100")
    assert cells["Latency"].endswith("ms") or cells["Latency"].endswith(" s")
    assert cells["TTFT"] != ""
    assert float(cells["Tok/s"].replace(",", "")) > 0

    desktop.window.show_section("Requests")
    page.select(0)
    assert "asked claude-sonnet-4-6" in page.summary.toPlainText()
    assert client_text in page.request_body.toPlainText()
    assert "streamed answer" in page.response_body.toPlainText()
    headers = page.headers.toPlainText()
    assert "sk-not-shown" not in headers and "<redacted>" in headers
    command = page.copy_curl()
    assert command is not None and QGuiApplication.clipboard().text() == command
    assert "sk-not-shown" not in command
    words = shlex.split(command.replace("\\\n", " "))
    assert words[:3] == ["curl", "-sS", f"{desktop.controller.url}/v1/messages"]
    body = orjson.loads(words[words.index("--data-binary") + 1])
    assert body["messages"][0]["content"] == client_text

    page.search.setText("no-such-model")
    assert page.proxy.rowCount() == 0
    page.search.setText("sonnet")
    assert page.proxy.rowCount() == 1


def test_the_export_line_is_exact_and_hides_the_token(
    make_desktop: Make,
    qtbot: QtBot,
    fake_backend: Callable[..., FakeBackend],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LMGATE_TOKEN", "tok-live-secret")
    desktop = make_desktop(fake_backend("lmstudio", context_length=65536))
    start(desktop, qtbot)
    overview = desktop.window.overview
    live = desktop.controller.live_config
    for shell in ("bash", "fish", "powershell"):
        overview.shell.setCurrentText(shell)
        expected = claude_env(live, token="tok-live-secret", auto_compact_window=65536)
        assert overview.export.toPlainText() == render(
            {**expected, "ANTHROPIC_AUTH_TOKEN": MASK}, shell
        )
        assert "tok-live-secret" not in overview.export.toPlainText()
        qtbot.mouseClick(overview.copy, Qt.MouseButton.LeftButton)
        assert QGuiApplication.clipboard().text() == render(expected, shell)


def test_apply_to_claude_code_previews_writes_and_restores(
    make_desktop: Make, qtbot: QtBot, fake_backend: Callable[..., FakeBackend]
) -> None:
    path = settings_path()
    path.parent.mkdir(parents=True)
    path.write_text('{"model": "opus", "env": {"MY_VAR": "1"}}', encoding="utf-8")
    path.chmod(0o640)
    desktop = make_desktop(fake_backend("lmstudio"))
    start(desktop, qtbot)
    overview = desktop.window.overview

    qtbot.mouseClick(overview.apply, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: overview.dialog is not None and overview.dialog.isVisible())
    dialog = overview.dialog
    assert dialog is not None
    shown = dialog.view.toPlainText()
    assert f'+    "ANTHROPIC_BASE_URL": "{desktop.controller.url}",' in shown
    # Nothing is written before the user agrees.
    assert json.loads(path.read_text(encoding="utf-8")) == {"model": "opus", "env": {"MY_VAR": "1"}}
    qtbot.mouseClick(
        dialog.buttons.button(QDialogButtonBox.StandardButton.Apply), Qt.MouseButton.LeftButton
    )
    qtbot.waitUntil(lambda: path.with_name(path.name + MANIFEST_SUFFIX).exists(), timeout=WAIT_MS)
    written = json.loads(path.read_text(encoding="utf-8"))
    assert written["model"] == "opus"
    assert written["env"]["MY_VAR"] == "1"
    assert written["env"]["ANTHROPIC_BASE_URL"] == desktop.controller.url
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    qtbot.waitUntil(lambda: "Claude Code uses" in overview.claude_status.text(), timeout=WAIT_MS)

    qtbot.mouseClick(overview.restore, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: overview.dialog is not dialog and overview.dialog is not None)
    restore = overview.dialog
    assert restore is not None and restore.isVisible()
    qtbot.mouseClick(
        restore.buttons.button(QDialogButtonBox.StandardButton.Apply), Qt.MouseButton.LeftButton
    )
    qtbot.waitUntil(
        lambda: not path.with_name(path.name + MANIFEST_SUFFIX).exists(), timeout=WAIT_MS
    )
    assert json.loads(path.read_text(encoding="utf-8")) == {"model": "opus", "env": {"MY_VAR": "1"}}
    # Exactly the user's file, as they wrote it, and nothing left beside it (#13 item 7).
    assert path.read_text(encoding="utf-8") == '{"model": "opus", "env": {"MY_VAR": "1"}}'
    assert sorted(p.name for p in path.parent.iterdir()) == ["settings.json"]


def test_a_broken_claude_settings_file_is_reported_not_overwritten(
    make_desktop: Make, qtbot: QtBot, fake_backend: Callable[..., FakeBackend]
) -> None:
    path = settings_path()
    path.parent.mkdir(parents=True)
    path.write_text("{broken", encoding="utf-8")
    desktop = make_desktop(fake_backend("lmstudio"))
    start(desktop, qtbot)
    qtbot.mouseClick(desktop.window.overview.apply, Qt.MouseButton.LeftButton)
    banner = desktop.window.banner
    qtbot.waitUntil(banner.isVisible, timeout=WAIT_MS)
    assert "not valid JSON" in banner.text.text()
    assert desktop.window.overview.dialog is None
    assert path.read_text(encoding="utf-8") == "{broken"


def test_an_image_in_a_request_brings_the_vision_warning(
    make_desktop: Make, qtbot: QtBot, fake_backend: Callable[..., FakeBackend]
) -> None:
    desktop = make_desktop(fake_backend("lmstudio", context_length=65536))
    start(desktop, qtbot)
    models = desktop.window.models
    assert "cannot see images" not in models.advice.text()
    pixel = (
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQ"
        "AAAABJRU5ErkJggg=="
    )
    image: Base64ImageSourceParam = {"type": "base64", "media_type": "image/png", "data": pixel}
    with anthropic.Anthropic(base_url=desktop.controller.url, api_key="x", max_retries=0) as client:
        client.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=16,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "image", "source": image},
                        {"type": "text", "text": "what is this?"},
                    ],
                }
            ],
        )
    qtbot.waitUntil(lambda: "cannot see images" in models.advice.text(), timeout=WAIT_MS)


def test_apply_to_claude_desktop_previews_writes_and_restores_byte_for_byte(
    make_desktop: Make, qtbot: QtBot, fake_backend: Callable[..., FakeBackend]
) -> None:
    library = library_path()
    library.mkdir(parents=True)
    meta = library / "_meta.json"
    original = b'{\r\n  "appliedId": "work",\r\n  "entries": [{"id": "work", "name": "Work"}]\r\n}'
    meta.write_bytes(original)
    desktop = make_desktop(fake_backend("lmstudio"))
    start(desktop, qtbot)
    overview = desktop.window.overview
    qtbot.waitUntil(lambda: "not applied" in overview.desktop_status.text(), timeout=WAIT_MS)
    assert not overview.restore_desktop.isEnabled()

    qtbot.mouseClick(overview.apply_desktop, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: overview.dialog is not None and overview.dialog.isVisible())
    dialog = overview.dialog
    assert dialog is not None
    assert "Claude Desktop" in dialog.windowTitle()
    shown = dialog.view.toPlainText()
    assert f'+  "inferenceGatewayBaseUrl": "{desktop.controller.url}",' in shown
    assert '+  "inferenceProvider": "gateway",' in shown
    # Nothing is written before the user agrees.
    assert sorted(p.name for p in library.iterdir()) == ["_meta.json"]
    assert meta.read_bytes() == original
    qtbot.mouseClick(
        dialog.buttons.button(QDialogButtonBox.StandardButton.Apply), Qt.MouseButton.LeftButton
    )
    qtbot.waitUntil(
        lambda: "Claude Desktop uses" in overview.desktop_status.text(), timeout=WAIT_MS
    )
    applied = json.loads(meta.read_text(encoding="utf-8"))["appliedId"]
    entry = json.loads((library / f"{applied}.json").read_text(encoding="utf-8"))
    assert entry["inferenceGatewayBaseUrl"] == desktop.controller.url
    assert [m["anthropicFamilyTier"] for m in entry["inferenceModels"]] == ["sonnet", "haiku"]
    assert overview.restore_desktop.isEnabled()

    qtbot.mouseClick(overview.restore_desktop, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: overview.dialog is not dialog and overview.dialog is not None)
    restore = overview.dialog
    assert restore is not None and restore.isVisible()
    qtbot.mouseClick(
        restore.buttons.button(QDialogButtonBox.StandardButton.Apply), Qt.MouseButton.LeftButton
    )
    qtbot.waitUntil(lambda: "not applied" in overview.desktop_status.text(), timeout=WAIT_MS)
    assert not overview.restore_desktop.isEnabled()
    assert sorted(p.name for p in library.parent.iterdir()) == ["configLibrary"]
    assert sorted(p.name for p in library.iterdir()) == ["_meta.json"]
    assert meta.read_bytes() == original
