"""Usage and history (#13 item 4): requests through the gateway land in the SQLite history,
the Usage page draws them per model and totals them per session, the Requests page gets them
back after a restart, and the history exports as JSON Lines and CSV."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

from pytestqt.qtbot import QtBot

from app.desktop import Desktop
from gateway.team.clients import add_client, clients_path
from tests.app.harness import WAIT_MS, ask, cell, start
from tests.fakes import FakeBackend

Make = Callable[..., Desktop]


def test_requests_are_drawn_per_model_and_totalled_per_session(
    make_desktop: Make, qtbot: QtBot, fake_backend: Callable[..., FakeBackend], tmp_path: Path
) -> None:
    fake = fake_backend("lmstudio")
    desktop = make_desktop(fake)
    start(desktop, qtbot)
    url = desktop.controller.url
    for n in range(3):
        ask(url, f"hello {n}", headers={"x-claude-code-session-id": "5e55-a0-one"})
    ask(url, "other", headers={"x-claude-code-session-id": "5e55-b0-two"})
    qtbot.waitUntil(lambda: desktop.log.rowCount() == 4, timeout=WAIT_MS)
    desktop.history.flush()
    store = desktop.history.store
    assert store is not None
    qtbot.waitUntil(lambda: store.count() == 4, timeout=WAIT_MS)

    window = desktop.window
    page = window.usage
    window.show_section("Usage")
    qtbot.waitUntil(lambda: page.models.rowCount() == 1, timeout=WAIT_MS)
    row = [cell(page.models, 0, c).text() for c in range(page.models.columnCount())]
    assert row[:3] == ["lmstudio/fake-model", "4", "0"]
    assert int(row[4].replace(",", "")) > 0
    sessions = {
        cell(page.sessions, r, 0).text(): cell(page.sessions, r, 1).text()
        for r in range(page.sessions.rowCount())
    }
    assert sessions == {"5e55-a0-": "3", "5e55-b0-": "1"}
    assert page.status.text() == "4 requests, 0 failed"
    page.measure.setCurrentText("Requests")
    window.resize(1200, 760)
    window.show()
    qtbot.waitExposed(window)
    page.chart.repaint()
    assert page.chart.bars and {model for _, model in page.chart.bars} == {"lmstudio/fake-model"}
    page.period.setCurrentText("Last day")
    qtbot.waitUntil(lambda: page.figures is not None and page.figures.bucket == 3600)

    page.export(tmp_path / "out.jsonl", "jsonl")
    qtbot.waitUntil(lambda: "exported" in page.status.text(), timeout=WAIT_MS)
    lines = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["session"] for line in lines].count("5e55-a0-one") == 3
    page.export(tmp_path / "out.csv", "csv")
    qtbot.waitUntil(lambda: "out.csv" in page.status.text(), timeout=WAIT_MS)
    with (tmp_path / "out.csv").open(encoding="utf-8", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 4


def test_the_request_log_comes_back_after_a_restart(
    make_desktop: Make, qtbot: QtBot, fake_backend: Callable[..., FakeBackend], tmp_path: Path
) -> None:
    fake = fake_backend("lmstudio")
    config = tmp_path / "one" / "config.toml"
    config.parent.mkdir()
    first = make_desktop(fake, config_path=config)
    start(first, qtbot)
    ask(first.controller.url, "remember me")
    qtbot.waitUntil(lambda: first.log.rowCount() == 1, timeout=WAIT_MS)
    asked = first.log.row(0)
    first.shutdown()  # what is pending goes to the store at quit

    second = make_desktop(fake, config_path=config)
    start(second, qtbot)
    qtbot.waitUntil(lambda: second.log.rowCount() == 1, timeout=WAIT_MS)
    again = second.log.row(0)
    assert (again.request_id, again.asked, again.routed, again.status) == (
        asked.request_id,
        asked.asked,
        asked.routed,
        asked.status,
    )


def test_requests_with_client_keys_are_totalled_per_key(
    make_desktop: Make, qtbot: QtBot, fake_backend: Callable[..., FakeBackend], tmp_path: Path
) -> None:
    fake = fake_backend("lmstudio")
    desktop = make_desktop(fake)
    # `lmgate clients add` beside the app's config: the running gateway sees it within a second.
    _, alice = add_client(clients_path(desktop.controller.config_path), "alice")
    start(desktop, qtbot)
    url = desktop.controller.url
    page = desktop.window.usage
    desktop.window.show_section("Usage")
    assert page.clients.isHidden()
    for n in range(2):
        ask(url, f"hello {n}", headers={"x-api-key": alice})
    ask(url, "without a key")
    qtbot.waitUntil(lambda: desktop.log.rowCount() == 3, timeout=WAIT_MS)
    desktop.history.flush()
    qtbot.waitUntil(
        lambda: page.clients.rowCount() == 2 and not page.clients.isHidden(), timeout=WAIT_MS
    )
    rows = {
        cell(page.clients, r, 0).text(): [
            cell(page.clients, r, c).text() for c in range(1, page.clients.columnCount())
        ]
        for r in range(page.clients.rowCount())
    }
    assert set(rows) == {"alice", "(no key)"}
    assert rows["alice"][:2] == ["2", "0"] and rows["(no key)"][:2] == ["1", "0"]
    assert int(rows["alice"][3].replace(",", "")) > 0
