"""The `lmgate` console entry point: the CLI for any command, the desktop app otherwise.

The only non-GUI module in `app/`: it must not import PySide6 unless it starts the GUI, so that
`lmgate serve` and friends work on a server without Qt's libraries and start quickly.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.selftest import Check

__all__ = ["has_display", "main"]


def has_display() -> bool:
    """Whether a GUI can open: always on Windows and macOS; elsewhere X11 or Wayland must be set."""
    if sys.platform in ("win32", "darwin"):
        return True
    # A platform plugin chosen by hand that needs no display server (offscreen, vnc, eglfs…).
    if os.environ.get("QT_QPA_PLATFORM", "").split(":")[0] not in ("", "xcb", "wayland"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    from gateway import cli

    gui_checks: Callable[[], list[Check]] | None = None
    if args[:1] == ["self-test"] and "--no-gui" not in args:
        # The desktop half of the self-test lives in app/ (gateway/ never imports it) and loads
        # Qt: imported only for this command.
        from app.selftest import checks

        gui_checks = checks
    if args:
        return cli.main(args, gui_checks=gui_checks)
    if not has_display():
        print(
            "lmgate: there is no display (DISPLAY and WAYLAND_DISPLAY are unset), so the gateway "
            "runs headless; `lmgate --help` lists the commands.",
            file=sys.stderr,
        )
        return cli.main(["serve"])
    # Qt is loaded only here, for the desktop app; PySide6's import hook is told first not to
    # keep every module's source (app/feature_hook.py: ~22 MB).
    from app.feature_hook import quiet

    quiet()
    from app.main import run

    return run()
