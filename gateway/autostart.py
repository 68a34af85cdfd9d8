"""Start the desktop app at login: an XDG autostart entry (Linux and other freedesktop systems),
a LaunchAgent (macOS) or a value under HKCU's `Run` key (Windows).

Each writes only in the user's own space. The locations come in as arguments so that tests (and
nothing else) can redirect them.
"""

from __future__ import annotations

import os
import plistlib
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from gateway.atomicfile import write_atomic

__all__ = ["APP_NAME", "LAUNCH_AGENT_LABEL", "Autostart", "RunKey", "WindowsRunKey", "desktop_exec"]

APP_NAME = "LM Gate"
LAUNCH_AGENT_LABEL = "io.github.lmgate"
DESKTOP_FILE = "lmgate.desktop"
RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"

# Desktop Entry Specification, "The Exec key": an argument holding one of these must be quoted.
_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


class RunKey(Protocol):
    """The values of HKCU\\...\\Run (a dict stands in for it in tests)."""

    def get(self, name: str) -> str | None: ...
    def set(self, name: str, command: str) -> None: ...
    def delete(self, name: str) -> None: ...


class WindowsRunKey:
    """HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Run through winreg."""

    def get(self, name: str) -> str | None:
        if sys.platform != "win32":
            raise OSError("the Windows registry exists only on Windows")
        import winreg

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
                value, kind = winreg.QueryValueEx(key, name)
        except FileNotFoundError:
            return None
        return str(value) if kind in (winreg.REG_SZ, winreg.REG_EXPAND_SZ) else None

    def set(self, name: str, command: str) -> None:
        if sys.platform != "win32":
            raise OSError("the Windows registry exists only on Windows")
        import winreg

        with winreg.CreateKeyEx(winreg.HKEY_CURRENT_USER, RUN_KEY, 0, winreg.KEY_SET_VALUE) as key:
            winreg.SetValueEx(key, name, 0, winreg.REG_SZ, command)

    def delete(self, name: str) -> None:
        if sys.platform != "win32":
            raise OSError("the Windows registry exists only on Windows")
        import winreg

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY, 0, winreg.KEY_SET_VALUE) as key:
                winreg.DeleteValue(key, name)
        except FileNotFoundError:
            pass


class Autostart:
    """Whether the app starts at login, and the switch. `command` is the argv to launch."""

    def __init__(
        self,
        platform: str | None = None,
        *,
        home: Path | None = None,
        config_home: Path | None = None,
        run_key: RunKey | None = None,
    ) -> None:
        self.platform = platform or sys.platform
        self.home = home or Path.home()
        xdg = os.environ.get("XDG_CONFIG_HOME")
        self.config_home = config_home or (Path(xdg) if xdg else self.home / ".config")
        self._run_key = run_key

    @property
    def location(self) -> str:
        """Where the entry lives, for the settings page to show."""
        if self.platform == "win32":
            return f"HKEY_CURRENT_USER\\{RUN_KEY}\\{APP_NAME}"
        return str(self._file())

    def enabled(self) -> bool:
        if self.platform == "win32":
            return self._registry().get(APP_NAME) is not None
        return self._file().is_file()

    def enable(self, command: Sequence[str]) -> None:
        if not command:
            raise ValueError("the launch command is empty")
        if self.platform == "win32":
            self._registry().set(APP_NAME, subprocess.list2cmdline(list(command)))
            return
        if self.platform == "darwin":
            data = plistlib.dumps(_launch_agent(command))
        else:
            data = _desktop_entry(command).encode("utf-8")
        # Read by the session at login, and holding no secret: the usual 0644.
        write_atomic(self._file(), data, backup=False, mode=0o644)

    def disable(self) -> None:
        if self.platform == "win32":
            self._registry().delete(APP_NAME)
        else:
            self._file().unlink(missing_ok=True)

    def _file(self) -> Path:
        if self.platform == "darwin":
            return self.home / "Library" / "LaunchAgents" / f"{LAUNCH_AGENT_LABEL}.plist"
        return self.config_home / "autostart" / DESKTOP_FILE

    def _registry(self) -> RunKey:
        if self._run_key is None:
            self._run_key = WindowsRunKey()
        return self._run_key


def _launch_agent(command: Sequence[str]) -> dict[str, object]:
    # launchd loads every plist in ~/Library/LaunchAgents at login; Aqua limits it to a GUI
    # session and Interactive asks for the scheduling an app with a window gets.
    return {
        "Label": LAUNCH_AGENT_LABEL,
        "ProgramArguments": list(command),
        "RunAtLoad": True,
        "ProcessType": "Interactive",
        "LimitLoadToSessionType": "Aqua",
    }


def _desktop_entry(command: Sequence[str]) -> str:
    return "\n".join(
        [
            "[Desktop Entry]",
            "Type=Application",
            f"Name={APP_NAME}",
            "Comment=Run Claude Code on models you choose",
            f"Exec={desktop_exec(command)}",
            "Icon=lmgate",
            "Terminal=false",
            "X-GNOME-Autostart-enabled=true",
            "",
        ]
    )


def desktop_exec(command: Sequence[str]) -> str:
    """`command` as the value of a desktop entry's Exec key."""
    words = []
    for arg in command:
        if arg and not _RESERVED.intersection(arg):
            word = arg
        else:
            escaped = "".join("\\" + c if c in '"`$\\' else c for c in arg)
            word = f'"{escaped}"'
        words.append(word.replace("%", "%%"))
    # The string-type escapes apply on top of the quoting: a backslash is written twice.
    line = " ".join(words).replace("\\", "\\\\")
    return line.replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
