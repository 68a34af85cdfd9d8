from __future__ import annotations

import configparser
import plistlib
import re
from pathlib import Path

import pytest

from gateway.autostart import APP_NAME, LAUNCH_AGENT_LABEL, Autostart, desktop_exec

COMMAND = ["/opt/LM Gate/bin/lmgate", "--flag"]


class MemoryRunKey:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def set(self, name: str, command: str) -> None:
        self.values[name] = command

    def delete(self, name: str) -> None:
        self.values.pop(name, None)


def unquote_exec(value: str) -> list[str]:
    """The Desktop Entry Specification's reading of an Exec value: string escapes first, then
    the argument quoting, then %% → %."""
    value = re.sub(
        r"\\(.)",
        lambda m: {"s": " ", "n": "\n", "t": "\t", "r": "\r"}.get(m.group(1), m.group(1)),
        value,
    )
    args: list[str] = []
    i = 0
    while i < len(value):
        if value[i] == " ":
            i += 1
            continue
        word = ""
        if value[i] == '"':
            i += 1
            while value[i] != '"':
                if value[i] == "\\":
                    i += 1
                word += value[i]
                i += 1
            i += 1
        else:
            while i < len(value) and value[i] != " ":
                word += value[i]
                i += 1
        args.append(word.replace("%%", "%"))
    return args


def test_linux_writes_an_xdg_autostart_entry(tmp_path: Path) -> None:
    autostart = Autostart("linux", home=tmp_path, config_home=tmp_path / "config")
    assert not autostart.enabled()

    autostart.enable(COMMAND)

    path = tmp_path / "config" / "autostart" / "lmgate.desktop"
    assert autostart.enabled()
    assert autostart.location == str(path)
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # type: ignore[assignment,method-assign]
    entry.read(path, encoding="utf-8")
    section = entry["Desktop Entry"]
    assert section["Type"] == "Application"
    assert section["Name"] == APP_NAME
    assert section["Exec"] == '"/opt/LM Gate/bin/lmgate" --flag'
    assert unquote_exec(section["Exec"]) == COMMAND

    autostart.disable()
    assert not path.exists()
    assert not autostart.enabled()
    autostart.disable()  # already off: not an error


def test_linux_defaults_to_xdg_config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    Autostart("linux").enable(COMMAND)
    assert (tmp_path / "xdg" / "autostart" / "lmgate.desktop").is_file()


@pytest.mark.parametrize(
    "arg",
    [
        "plain",
        "with space",
        'quote " and $HOME and `tick`',
        "back\\slash",
        "100% sure",
        "it's ~ (a) <b> | c & d ; e * f ? g # h",
        "",
    ],
)
def test_desktop_exec_quotes_every_argument_back_exactly(arg: str) -> None:
    assert unquote_exec(desktop_exec(["/usr/bin/lmgate", arg])) == ["/usr/bin/lmgate", arg]


def test_macos_writes_a_launch_agent(tmp_path: Path) -> None:
    autostart = Autostart("darwin", home=tmp_path)
    autostart.enable(COMMAND)

    path = tmp_path / "Library" / "LaunchAgents" / f"{LAUNCH_AGENT_LABEL}.plist"
    assert autostart.enabled()
    with path.open("rb") as fh:
        agent = plistlib.load(fh)
    assert agent == {
        "Label": LAUNCH_AGENT_LABEL,
        "ProgramArguments": COMMAND,
        "RunAtLoad": True,
        "ProcessType": "Interactive",
        "LimitLoadToSessionType": "Aqua",
    }
    autostart.disable()
    assert not path.exists()


def test_windows_writes_the_hkcu_run_value() -> None:
    key = MemoryRunKey()
    autostart = Autostart("win32", run_key=key)
    assert not autostart.enabled()

    autostart.enable(["C:\\Program Files\\LM Gate\\lmgate.exe"])

    assert key.values == {APP_NAME: '"C:\\Program Files\\LM Gate\\lmgate.exe"'}
    assert autostart.enabled()
    assert autostart.location.endswith("\\CurrentVersion\\Run\\LM Gate")
    autostart.disable()
    assert key.values == {}


def test_an_empty_command_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="empty"):
        Autostart("linux", config_home=tmp_path).enable([])
