"""A first start with nothing running: every page with a backend list says which servers are
watched on which ports and how to start one, has "Check now", and a server started meanwhile
shows within seconds (not at the next 10 s or 60 s refresh)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.desktop import Desktop
from app.watching import SEARCH_INTERVAL_MS
from tests.app.harness import WAIT_MS
from tests.fakes import FakeBackend
from tests.fakes.server import closed_port, free_port

Make = Callable[..., Desktop]


@pytest.fixture
def stopped_fakes() -> Iterator[list[FakeBackend]]:
    fakes: list[FakeBackend] = []
    yield fakes
    for fake in fakes:
        fake.stop()


def running(desktop: Desktop, qtbot: QtBot) -> None:
    desktop.start()
    qtbot.waitUntil(lambda: desktop.controller.state == "running", timeout=WAIT_MS)


def test_an_empty_start_says_what_is_watched_and_how_to_start_a_server(
    make_desktop: Make, qtbot: QtBot
) -> None:
    lmstudio, ollama = closed_port(), closed_port()
    desktop = make_desktop(
        discover=True,
        discovery_targets={
            "lmstudio": [f"http://127.0.0.1:{lmstudio}"],
            "ollama": [f"http://127.0.0.1:{ollama}"],
        },
    )
    running(desktop, qtbot)
    window = desktop.window
    for page in (window.overview, window.models, window.backends):
        window.show_section(page.title)
        note = page.empty
        assert note.isVisibleTo(window), page.title
        text = note.text.text()
        assert f"LM Studio on 127.0.0.1:{lmstudio}" in text
        assert f"Ollama on 127.0.0.1:{ollama}" in text
        assert "ollama serve" in text and "lms server start" in text
        # "Check now" beside the note, or the page's own (Backends has one under its table).
        button = window.backends.refresh_now if page is window.backends else note.check_now
        assert button.isVisibleTo(window)
        if page is window.models:
            assert window.models.check_now.isVisibleTo(window)
    assert desktop.search.searching


def test_a_server_started_while_the_app_runs_shows_within_seconds(
    make_desktop: Make, qtbot: QtBot, stopped_fakes: list[FakeBackend]
) -> None:
    port = free_port()
    desktop = make_desktop(
        discover=True,
        discovery_targets={"lmstudio": [f"http://127.0.0.1:{port}"]},
        health_interval=60,
        idle_interval=60,
    )
    running(desktop, qtbot)
    desktop.window.show_section("Backends")
    assert desktop.window.backends.empty.isVisibleTo(desktop.window)
    assert desktop.search.searching

    fake = FakeBackend("lmstudio", port=port).start()
    stopped_fakes.append(fake)
    began = time.monotonic()
    qtbot.waitUntil(lambda: desktop.window.backends.table.rowCount() == 1, timeout=WAIT_MS)
    # The registry alone would wait its 60 s; the search asks every few seconds.
    assert time.monotonic() - began < 3 * SEARCH_INTERVAL_MS / 1000 + 5
    assert not desktop.window.backends.empty.isVisibleTo(desktop.window)
    assert not desktop.search.searching  # found: back to the registry's own interval


def test_check_now_on_the_models_page_probes_at_once(
    make_desktop: Make, qtbot: QtBot, fake_backend: Callable[..., FakeBackend]
) -> None:
    fake = fake_backend("lmstudio")
    desktop = make_desktop(fake, health_interval=60, idle_interval=60)
    running(desktop, qtbot)
    qtbot.waitUntil(lambda: len(desktop.controller.snapshot.models) >= 1, timeout=WAIT_MS)
    assert not desktop.search.searching
    page = desktop.window.models
    desktop.window.show_section("Models")
    assert not page.empty.isVisibleTo(desktop.window)
    qtbot.wait(500)  # the window's first refresh is over
    before = len(fake.requests)
    qtbot.mouseClick(page.check_now, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(fake.requests) > before, timeout=5000)
