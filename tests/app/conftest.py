"""The desktop app against fake backends: a `Desktop` per test, with the user's Claude Code
settings, autostart entries and keyring out of reach."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from app.desktop import Desktop
from gateway.autostart import Autostart
from gateway.config import BackendConfig, ConfigLoad, GatewayConfig
from tests.app.harness import Quits
from tests.fakes import FakeBackend


@pytest.fixture(autouse=True)
def _isolated_claude_and_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "claude"))
    monkeypatch.delenv("LMGATE_TOKEN", raising=False)


@pytest.fixture
def quits() -> Quits:
    return Quits()


@pytest.fixture
def make_desktop(qtbot: QtBot, tmp_path: Path, quits: Quits) -> Iterator[Callable[..., Desktop]]:
    """`make_desktop(fake_a, fake_b, big=…)`: a Desktop whose config names those backends (ids
    from their flavours), listening on a free port, with no discovery of the machine's ports."""
    made: list[Desktop] = []

    def make(*backends: FakeBackend, config_path: Path | None = None, **fields: Any) -> Desktop:
        config = GatewayConfig(
            **{
                "port": 0,
                "discover": False,
                "backends": [BackendConfig(id=b.flavour.name, url=b.url) for b in backends],
                **fields,
            }
        )
        loaded = ConfigLoad(config=config, path=config_path or tmp_path / "config.toml")
        desktop = Desktop(
            loaded,
            quit_app=quits,
            autostart=Autostart("linux", home=tmp_path, config_home=tmp_path / "xdg-config"),
            tray_available=False,
        )
        qtbot.addWidget(desktop.window)
        made.append(desktop)
        return desktop

    yield make
    for desktop in made:
        desktop.shutdown()
