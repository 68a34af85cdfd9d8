"""The Linux build the packaging tests run: made by packaging/build.py into the test-tools cache,
and made again only when something that goes into it changed (`build.py --reuse`), so that the
default suite pays for a build (~40 s here) only after a change to the app."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.paths import REPO
from tests.provision import ensure_debian_packages, file_lock, tools_cache_dir

__all__ = [
    "BUILD_TIMEOUT",
    "build_module",
    "linux_build",
    "packaging_module",
    "secret_service_run",
]

BUILD_TIMEOUT = 1200.0


def build_module() -> ModuleType:
    return packaging_module("build")


def packaging_module(name: str) -> ModuleType:
    """packaging/NAME.py as a module (packaging/ is not a package: PyPI's `packaging` is)."""
    path = REPO / "packaging" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"lmgate_packaging_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    saved = list(sys.path)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = saved  # build.py puts packaging/ first, for its `import freeze`
    return module


def linux_build() -> tuple[Path, str]:
    """(the dist folder, the build's output) after a build or a reuse."""
    cache = tools_cache_dir() / "frozen-build"
    dist, work = cache / "dist", cache / "work"
    ensure_debian_packages(("binutils",))  # strip, for the stripped onedir
    with file_lock(cache / "build.lock"):
        done = subprocess.run(
            [sys.executable, "packaging/build.py", "--reuse", "--dist", str(dist)]
            + ["--work", str(work)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
        )
    if done.returncode != 0:
        pytest.fail(f"packaging/build.py failed:\n{done.stdout[-4000:]}\n{done.stderr[-8000:]}")
    return dist, done.stdout


def secret_service_run(
    command: list[str], home: Path, *, timeout: float = 180.0
) -> subprocess.CompletedProcess[str]:
    """`command` inside a private D-Bus session with an unlocked gnome-keyring and a scratch
    HOME (shared/reference/desktop-stack.md §3, as tests/gateway/test_keystore_secret_service.py
    does): a real Secret Service, none of the user's secrets."""
    script = (
        'eval "$(printf %s scratch-password | gnome-keyring-daemon --unlock '
        '--components=secrets)" && exec "$@"'
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHON_KEYRING_BACKEND", "DBUS_SESSION_BUS_ADDRESS")
    }
    env["HOME"] = str(home)
    return subprocess.run(
        ["dbus-run-session", "--", "sh", "-c", script, "sh", *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
