"""Polish (#13 item 6): every Requests column at 1280 × 800, Tok/s only where it means
something, search by column, Models headings and counts that agree with the table, light and
dark as the OS says, and the About page."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.desktop import Desktop
from app.request_log import RequestLogModel
from app.theme import palette_is_dark
from app.window import default_size
from gateway import __version__
from gateway.events import RequestRecord
from tests.app.harness import cell, start
from tests.fakes import FakeBackend

Make = Callable[..., Desktop]
# LM Studio names a model by publisher and name; Claude Code asks for dated Haiku names.
LONG_ROUTE = ("lmstudio", "qwen3-coder-30b-a3b-instruct")


def record(n: int, **fields: Any) -> RequestRecord:
    defaults: dict[str, Any] = {
        "request_id": f"req_{n:06d}",
        "started_at": 1_800_000_000.0 + n,
        "method": "POST",
        "path": "/v1/messages",
        "session": "5f1c2d3e-aaaa-bbbb",
        "client_model": "claude-sonnet-4-6",
        "backend": LONG_ROUTE[0],
        "backend_model": LONG_ROUTE[1],
        "route_rule": "big",
        "stream": True,
        "status": 200,
        "latency_ms": 12_345.0,
        "ttft_ms": 2_345.0,
        "queue_ms": 1_234.0,
        "input_tokens": 123_456,
        "output_tokens": 12_345,
        "cached_tokens": 123_456,
    }
    return RequestRecord(**{**defaults, **fields})


def feed(log: RequestLogModel, *records: RequestRecord) -> None:
    for r in records:
        log.add(r)
    log.flush()


@pytest.fixture
def light_again() -> Iterator[None]:
    yield
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    from app.theme import apply_theme

    apply_theme(app, "light")


def test_the_default_window_is_1280_by_800_within_the_screen() -> None:
    # The usual 9 pt UI font: 6 px characters, 14 px lines.
    assert default_size(6, 14, QSize(1920, 1080)) == QSize(1278, 798)
    small = default_size(6, 14, QSize(1280, 770))
    assert small.width() <= 1280 and small.height() <= 770
    assert default_size(12, 28, QSize(3840, 2160)) == QSize(2556, 1596)  # 200 %


def test_every_requests_column_shows_at_1280_by_800(make_desktop: Make, qtbot: QtBot) -> None:
    desktop = make_desktop()
    window = desktop.window
    metrics = window.fontMetrics()
    # A 1280 × 800 screen with a panel: its free area.
    window.resize(default_size(metrics.averageCharWidth(), metrics.lineSpacing(), QSize(1280, 770)))
    window.show()
    qtbot.waitExposed(window)
    page = window.requests
    window.show_section("Requests")
    feed(desktop.log, record(1), record(2, client_model="claude-haiku-4-5-20251001"))
    qtbot.wait(50)
    table = page.table
    header = table.horizontalHeader()
    assert table.horizontalScrollBar().maximum() == 0
    right = max(header.sectionPosition(c) + header.sectionSize(c) for c in range(header.count()))
    assert right <= table.viewport().width()
    routed = "/".join(LONG_ROUTE)
    assert header.sectionSize(4) >= table.fontMetrics().horizontalAdvance(routed) + 8
    assert desktop.log.index(0, 3).data() == "claude-haiku-4-5"  # the date stamp left out
    assert "claude-haiku-4-5-20251001" in desktop.log.index(0, 3).data(Qt.ItemDataRole.ToolTipRole)
    for column in range(header.count()):
        text = desktop.log.index(0, column).data()
        width = table.fontMetrics().horizontalAdvance(text)
        assert header.sectionSize(column) >= width + 8, (column, text)


def test_tok_s_shows_only_where_it_means_something(qtbot: QtBot) -> None:
    log = RequestLogModel(batch_ms=0)
    feed(
        log,
        record(1, latency_ms=2.0, ttft_ms=None, output_tokens=133),  # a 2 ms reply
        record(2, latency_ms=2100.0, ttft_ms=100.0, output_tokens=400),
        record(3, latency_ms=900.0, ttft_ms=100.0, output_tokens=1),  # one token: no rate
        record(4, latency_ms=900.0, ttft_ms=100.0, output_tokens=80, status=500),
    )
    rates = [log.index(row, 13).data() for row in range(4)]
    assert rates == ["", "", "200", ""]  # newest first


def test_search_can_target_a_column(make_desktop: Make, qtbot: QtBot) -> None:
    desktop = make_desktop()
    page = desktop.window.requests
    feed(
        desktop.log,
        # A 200 whose id holds "400" must not match "400".
        record(400, request_id="msg_01ab400cd", status=200),
        record(2, status=400, error="prompt is too long", client_model="claude-haiku-4-5"),
        record(3, status=529, backend="ollama", backend_model="gpt-oss:20b"),
    )

    def shown(text: str) -> list[str]:
        page.search.setText(text)
        return sorted(page.proxy.index(r, 6).data() for r in range(page.proxy.rowCount()))

    assert shown("400") == ["400"]
    assert shown("status:400") == ["400"]
    assert shown("status:5xx") == ["529"]
    assert shown("status:>=400") == ["400", "529"]
    assert shown("model:haiku") == ["400"]
    assert shown("routed:ollama") == ["529"]
    assert shown("backend:lmstudio status:200") == ["200"]
    assert shown("error:too") == ["400"]
    assert shown("ab400") == ["200"]  # plain words still find part of an id
    assert shown("") == ["200", "400", "529"]
    assert page.count.text() == "3 requests"
    page.search.setText("status:400")
    assert page.count.text() == "1 of 3"


def test_model_headings_order_and_counts_agree(
    make_desktop: Make, qtbot: QtBot, fake_backend: Callable[..., FakeBackend]
) -> None:
    lmstudio = fake_backend(
        "lmstudio",
        models=["zeta-coder", "alpha-chat", "nomic-embed"],
        loaded=["zeta-coder"],
        types={"nomic-embed": "embeddings"},
    )
    ollama = fake_backend("ollama", models=["qwen3:8b", "gemma3:4b"])
    desktop = make_desktop(lmstudio, ollama)
    start(desktop, qtbot, models=5)
    page = desktop.window.models
    combo = page.big
    headings, targets = [], []
    for i in range(1, combo.count()):
        data = combo.itemData(i, Qt.ItemDataRole.UserRole)
        if data is None:
            headings.append(combo.itemText(i))
        else:
            targets.append(data)
    assert headings == ["lmstudio", "ollama"]  # not "lmstudio · lmstudio"
    table = page.table
    rows = [
        f"{cell(table, r, 0).text()}:{cell(table, r, 1).text()}" for r in range(table.rowCount())
    ]
    assert rows == targets
    assert rows[0] == "lmstudio:zeta-coder"  # loaded first, as in the dropdown
    assert "lmstudio:nomic-embed" not in rows
    desktop.controller.state_changed.emit("running")
    message = desktop.window.where.text()
    assert f"· {table.rowCount()} models on 2 backends" in message


def test_the_window_follows_the_os_dark_scheme(
    make_desktop: Make, qtbot: QtBot, light_again: None
) -> None:
    desktop = make_desktop()
    window = desktop.window
    app = desktop.app
    window.show_problem("config", "the settings were read from a backup")
    assert not palette_is_dark(app.palette())

    def icon_lightness() -> int:
        image = window.sidebar.item(0).icon().pixmap(20, 20).toImage()
        strokes = [
            image.pixelColor(x, y)
            for x in range(20)
            for y in range(20)
            if image.pixelColor(x, y).alpha() > 200
        ]
        assert strokes
        return max(c.lightness() for c in strokes)

    assert icon_lightness() < 100
    app.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Dark)  # as the OS would
    qtbot.waitUntil(lambda: palette_is_dark(window.palette()))
    assert window.palette().color(QPalette.ColorRole.Text).lightness() > 200
    assert icon_lightness() > 180  # the sidebar's icons drawn light on dark
    assert "#3a3116" in window.banner.styleSheet()  # the banner's dark warning colours
    app.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Light)
    qtbot.waitUntil(lambda: not palette_is_dark(window.palette()))
    assert icon_lightness() < 100
    assert "#fff9db" in window.banner.styleSheet()


def test_the_appearance_can_be_chosen_in_settings(
    make_desktop: Make, qtbot: QtBot, light_again: None
) -> None:
    desktop = make_desktop()
    settings = desktop.window.settings
    settings.theme.setCurrentIndex(settings.theme.findData("dark"))
    qtbot.waitUntil(lambda: palette_is_dark(desktop.app.palette()))
    assert desktop.controller.config.theme == "dark"
    settings.theme.setCurrentIndex(settings.theme.findData("system"))
    qtbot.waitUntil(lambda: not palette_is_dark(desktop.app.palette()))


def test_the_about_page_names_the_version_and_the_paths(make_desktop: Make, qtbot: QtBot) -> None:
    desktop = make_desktop()
    about = desktop.window.show_section("About")
    assert about is desktop.window.about
    text = desktop.window.about
    version = text.findChild(type(text.versions), "aboutVersion")
    assert version is not None and version.text() == f"LM Gate {__version__}"
    assert text.config_path.text() == str(desktop.controller.config_path)
    assert text.log_path.text().endswith("lmgate.log")
    assert "README.md" in text.docs.text()
