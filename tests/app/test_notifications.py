"""Tray messages (#13 item 5): a backend down and back, a model Claude Code needs unloaded,
requests failing in a row; each said once per event, none when switched off."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pytestqt.qtbot import QtBot

from app.desktop import Desktop
from gateway.events import RequestRecord
from tests.app.harness import WAIT_MS, start
from tests.fakes import FakeBackend

Make = Callable[..., Desktop]


def record(n: int, status: int, error: str | None = None) -> RequestRecord:
    fields: dict[str, Any] = {
        "request_id": f"req_{n}",
        "started_at": 1_800_000_000.0 + n,
        "method": "POST",
        "path": "/v1/messages",
        "status": status,
        "latency_ms": 10.0,
        "error": error,
    }
    return RequestRecord(**fields)


def titles(desktop: Desktop) -> list[str]:
    return [title for title, _ in desktop.notifier.sent]


def test_a_backend_going_down_and_coming_back_is_said_once_each(
    make_desktop: Make, qtbot: QtBot, fake_backend: Callable[..., FakeBackend]
) -> None:
    fake = fake_backend("lmstudio")
    port = fake.port
    desktop = make_desktop(fake)
    start(desktop, qtbot)
    assert desktop.notifier.sent == []  # the first look is no news
    fake.stop()
    desktop.controller.refresh_backends()
    qtbot.waitUntil(lambda: "A backend is down" in titles(desktop), timeout=WAIT_MS)
    title, text = desktop.notifier.sent[-1]
    assert text.startswith("lmstudio is not answering")
    # Still down at the next checks: nothing more.
    for _ in range(2):
        desktop.controller.refresh_backends()
        qtbot.wait(300)
    assert titles(desktop) == ["A backend is down"]
    # The window's status line says it when there is no tray.
    assert "lmstudio is not answering" in desktop.window.statusBar().currentMessage()

    again = FakeBackend("lmstudio", port=port).start()
    try:
        desktop.controller.refresh_backends()
        qtbot.waitUntil(lambda: "A backend is back" in titles(desktop), timeout=WAIT_MS)
        assert desktop.notifier.sent[-1][1] == "lmstudio answers again"
    finally:
        again.stop()


def test_an_unloaded_model_claude_code_needs_is_said_once(
    make_desktop: Make, qtbot: QtBot, fake_backend: Callable[..., FakeBackend]
) -> None:
    fake = fake_backend("lmstudio", models=["coder", "helper"], loaded=["coder", "helper"])
    desktop = make_desktop(fake, big="lmstudio:coder", small="lmstudio:helper")
    start(desktop, qtbot, models=2)
    fake.flavour.loaded.remove("coder")
    desktop.controller.refresh_backends()
    qtbot.waitUntil(lambda: len(desktop.notifier.sent) == 1, timeout=WAIT_MS)
    title, text = desktop.notifier.sent[0]
    assert title == "A model Claude Code needs is unloaded"
    assert text.startswith("coder on lmstudio (big) is no longer loaded")
    fake.flavour.loaded.remove("helper")  # another model: another event
    desktop.controller.refresh_backends()
    qtbot.waitUntil(lambda: len(desktop.notifier.sent) == 2, timeout=WAIT_MS)
    assert "helper on lmstudio (small)" in desktop.notifier.sent[1][1]
    desktop.controller.refresh_backends()
    qtbot.wait(300)
    assert len(desktop.notifier.sent) == 2


def test_requests_failing_in_a_row_are_said_once_until_one_succeeds(
    make_desktop: Make, qtbot: QtBot
) -> None:
    desktop = make_desktop()
    arrive = desktop.notifier.record
    arrive(record(1, 500, "upstream failed"))
    arrive(record(2, 200))  # a success in between: no pattern
    arrive(record(3, 529, "overloaded"))
    assert desktop.notifier.sent == []
    for n in range(4, 7):
        arrive(record(n, 502, "bad gateway"))
    assert titles(desktop) == ["Requests keep failing"]
    assert "bad gateway" in desktop.notifier.sent[0][1]
    for n in range(7, 12):
        arrive(record(n, 500, "still"))
    assert len(desktop.notifier.sent) == 1
    arrive(record(12, 200))
    for n in range(13, 16):
        arrive(record(n, 500, "again"))
    assert titles(desktop) == ["Requests keep failing"] * 2


def test_records_from_the_gateway_reach_the_notifier(
    make_desktop: Make, qtbot: QtBot, fake_backend: Callable[..., FakeBackend]
) -> None:
    desktop = make_desktop()
    for n in range(3):
        desktop.controller.bus.publish(record(n, 500, "upstream failed"))
    qtbot.waitUntil(lambda: titles(desktop) == ["Requests keep failing"], timeout=WAIT_MS)


def test_switched_off_nothing_is_said(make_desktop: Make, qtbot: QtBot) -> None:
    desktop = make_desktop()
    settings = desktop.window.settings
    assert settings.notifications.isChecked()
    settings.notifications.setChecked(False)
    assert desktop.controller.config.notifications is False
    for n in range(5):
        desktop.notifier.record(record(n, 500, "x"))
    assert desktop.notifier.sent == []
