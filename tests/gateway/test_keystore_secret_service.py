"""`lmgate keys` against a real Secret Service: gnome-keyring in a private D-Bus session with a
scratch HOME (the recipe of shared/reference/desktop-stack.md §3), nothing of the user's."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import REPO

KEY = "sk-real 'quoted' $value"


@pytest.mark.real_keyring
def test_keys_round_trip_through_gnome_keyring(debian_packages: None, tmp_path: Path) -> None:
    python = shlex.quote(sys.executable)
    lmgate = f"{python} -m gateway"
    backend = 'import keyring; print("backend=" + type(keyring.get_keyring()).__module__)'
    read = 'from gateway.keystore import Keystore; print("read=" + repr(Keystore().get("openai")))'
    script = f"""
        set -u
        eval "$(printf %s scratch-password | gnome-keyring-daemon --unlock --components=secrets)"
        printf '%s\\n' "$LMGATE_TEST_KEY" | {lmgate} keys set openai; echo "set=$?"
        {lmgate} keys list; echo "list=$?"
        {python} -c {shlex.quote(backend)}
        {python} -c {shlex.quote(read)}
        {lmgate} keys delete openai; echo "delete=$?"
        {lmgate} keys list openai; echo "after=$?"
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHON_KEYRING_BACKEND", "DBUS_SESSION_BUS_ADDRESS")
    }
    env.update({"HOME": str(tmp_path), "LMGATE_TEST_KEY": KEY, "PYTHONPATH": str(REPO)})
    result = subprocess.run(
        ["dbus-run-session", "--", "sh", "-c", script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    lines = result.stdout.splitlines()
    assert "set=0" in lines, result.stderr
    assert "The API key of openai is stored in the OS keyring." in lines
    assert lines[lines.index("set=0") + 1 : lines.index("list=0")] == ["openai"]
    assert "backend=keyring.backends.SecretService" in lines
    assert f"read={KEY!r}" in lines
    assert "delete=0" in lines
    assert "openai: no key is stored" in lines and "after=1" in lines
    # The key went in on stdin, and only the read-back above shows it: lmgate never does.
    assert [line for line in lines if "sk-real" in line] == [f"read={KEY!r}"]
    assert "sk-real" not in result.stderr
