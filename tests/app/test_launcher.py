from __future__ import annotations

import subprocess
import sys
import types
from typing import Any

import pytest

from app import launcher
from tests.paths import REPO

# Runs an entry point the way a user would, then lists the Qt modules it loaded.
PROBE = """
import runpy, sys
sys.argv = {argv!r}
try:
    {call}
except SystemExit:
    pass
print("QT:", sorted(m for m in sys.modules if m.startswith("PySide6")))
"""


def qt_modules_after(call: str, argv: list[str]) -> str:
    code = PROBE.format(call=call, argv=argv)
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("QT:")]
    assert lines, out.stderr
    return lines[-1]


@pytest.mark.parametrize(
    ("call", "argv"),
    [
        ("from app.launcher import main; sys.exit(main())", ["lmgate", "serve", "--help"]),
        ("from app.launcher import main; sys.exit(main())", ["lmgate", "doctor"]),
        ("runpy.run_module('gateway', run_name='__main__')", ["gateway", "--help"]),
    ],
    ids=["lmgate-serve-help", "lmgate-doctor", "python-m-gateway-help"],
)
def test_the_cli_never_loads_qt(call: str, argv: list[str]) -> None:
    assert qt_modules_after(call, argv) == "QT: []"


def test_the_probe_sees_qt_when_it_is_loaded() -> None:
    # Proves the check above can fail: the same probe after a Qt import lists it.
    assert "PySide6.QtCore" in qt_modules_after("import PySide6.QtCore", ["x"])


class ServeStub:
    def __init__(self) -> None:
        self.configs: list[Any] = []

    def __call__(self, config: Any, **kwargs: Any) -> int:
        self.configs.append(config)
        return 7


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> ServeStub:
    stub = ServeStub()
    runner = types.ModuleType("gateway.runner")
    runner.serve_forever = stub  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gateway.runner", runner)
    monkeypatch.delenv("LMGATE_TOKEN", raising=False)
    return stub


@pytest.fixture
def gui(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    started: list[str] = []
    module = types.ModuleType("app.main")

    def run() -> int:
        started.append("gui")
        return 0

    module.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "app.main", module)
    return started


def no_display(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)


def test_no_display_serves_headless(
    monkeypatch: pytest.MonkeyPatch,
    served: ServeStub,
    gui: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    no_display(monkeypatch)
    assert launcher.main([]) == 7
    assert len(served.configs) == 1
    assert gui == []
    err = capsys.readouterr().err
    assert "no display" in err
    assert "headless" in err


@pytest.mark.parametrize("variable", ["DISPLAY", "WAYLAND_DISPLAY"])
def test_a_display_starts_the_gui(
    monkeypatch: pytest.MonkeyPatch, served: ServeStub, gui: list[str], variable: str
) -> None:
    no_display(monkeypatch)
    monkeypatch.setenv(variable, ":0" if variable == "DISPLAY" else "wayland-0")
    assert launcher.main([]) == 0
    assert gui == ["gui"]
    assert served.configs == []


@pytest.mark.parametrize(("platform", "gui_expected"), [("offscreen", True), ("xcb", False)])
def test_a_qt_platform_chosen_by_hand_decides(
    monkeypatch: pytest.MonkeyPatch,
    served: ServeStub,
    gui: list[str],
    platform: str,
    gui_expected: bool,
) -> None:
    """QT_QPA_PLATFORM=offscreen needs no display server; xcb still needs DISPLAY."""
    no_display(monkeypatch)
    monkeypatch.setenv("QT_QPA_PLATFORM", platform)
    launcher.main([])
    assert (gui == ["gui"]) is gui_expected
    assert (served.configs == []) is gui_expected


@pytest.mark.parametrize("platform", ["win32", "darwin"])
def test_windows_and_macos_always_have_a_display(
    monkeypatch: pytest.MonkeyPatch, served: ServeStub, gui: list[str], platform: str
) -> None:
    no_display(monkeypatch)
    monkeypatch.setattr(sys, "platform", platform)
    assert launcher.main([]) == 0
    assert gui == ["gui"]


def test_a_subcommand_goes_to_the_cli(
    served: ServeStub, gui: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert launcher.main(["env", "--shell", "bash", "--port", "9400"]) == 0
    assert "export ANTHROPIC_BASE_URL='http://127.0.0.1:9400'" in capsys.readouterr().out
    assert launcher.main(["serve", "--port", "9401"]) == 7
    assert served.configs[0].port == 9401
    assert gui == []


def test_main_reads_sys_argv(
    monkeypatch: pytest.MonkeyPatch, served: ServeStub, gui: list[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["lmgate", "keys", "set"])  # a usage error: exit 2
    assert launcher.main() == 2
    assert gui == []


@pytest.mark.parametrize(
    ("argv", "with_gui"),
    [
        (["self-test"], True),
        (["self-test", "--no-keyring"], True),
        (["self-test", "--no-gui"], False),
    ],
)
def test_the_self_test_gets_the_desktop_checks_as_an_argument(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], with_gui: bool
) -> None:
    from gateway import cli

    def checks() -> list[Any]:
        return []

    desktop = types.ModuleType("app.selftest")
    desktop.checks = checks  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "app.selftest", desktop)
    calls: list[tuple[list[str], Any]] = []

    def cli_main(args: list[str], *, gui_checks: Any = None) -> int:
        calls.append((args, gui_checks))
        return 3

    monkeypatch.setattr(cli, "main", cli_main)
    assert launcher.main(argv) == 3
    assert calls == [(argv, checks if with_gui else None)]
