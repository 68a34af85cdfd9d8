"""Installs what the test suite needs beyond Python: Debian packages and a pinned Claude Code.

The README promises that `uv run pytest` passes on a fresh Debian 12 machine with only Python,
uv and node/npm, so the suite provisions itself. Nothing here skips: a missing tool fails the
test with the exact command that installs it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from platformdirs import user_cache_path

__all__ = [
    "ANTHROPIC_JS_SDK_VERSION",
    "CLAUDE_CODE_VERSION",
    "CLAUDE_CODE_VERSIONS",
    "DEBIAN_PACKAGES",
    "anthropic_js_sdk_dir",
    "claude_code_prefix",
    "ensure_anthropic_js_sdk",
    "ensure_claude_code",
    "ensure_debian_packages",
    "file_lock",
    "find_claude_binary",
    "missing_debian_packages",
    "tools_cache_dir",
]

# Pinned: the registry's `latest` tag and what it serves have disagreed, and the recorded
# fixtures (tests/fixtures/capture.py) name the exact version they come from. The current
# release first; the end-to-end test also drives the one the gateway was first built against.
CLAUDE_CODE_VERSION = "2.1.332"
CLAUDE_CODE_VERSIONS = (CLAUDE_CODE_VERSION, "2.1.197")
CLAUDE_CODE_PACKAGE = "@anthropic-ai/claude-code"

# The JS SDK whose message-thread helper and tool runner the thread tests drive: pinned, the
# first release checked to ship lib/threads/BetaMessageThread (1.17.0 is `latest` today).
ANTHROPIC_JS_SDK_VERSION = "1.17.0"
ANTHROPIC_JS_SDK_PACKAGE = "@anthropic-ai/sdk"

# Xvfb, a window manager and a tray host for the GUI tests, a Secret Service for the keyring
# tests, the xcb libraries Qt's platform plugin loads at run time, and the Redis that gateway
# replicas share in the team tests.
DEBIAN_PACKAGES = (
    "redis-server",
    "gnome-keyring",
    "dbus",
    "dbus-x11",
    "xvfb",
    "xauth",
    "openbox",
    "trayer",
    "xdotool",
    "imagemagick",
    "fonts-dejavu-core",
    "libxcb-cursor0",
    "libxcb-icccm4",
    "libxcb-keysyms1",
    "libxcb-image0",
    "libxcb-render-util0",
    "libxcb-shape0",
    "libxcb-randr0",
    "libxcb-xkb1",
    "libxcb-xinerama0",
    "libxkbcommon-x11-0",
    "libx11-xcb1",
    "libegl1",
    "libgl1",
    "libfontconfig1",
)

_NPM_TIMEOUT = 900.0
_APT_TIMEOUT = 1800.0


def tools_cache_dir() -> Path:
    """Where downloaded test tools live; survives between runs (`$LMGATE_TEST_CACHE` overrides)."""
    override = os.environ.get("LMGATE_TEST_CACHE")
    if override:
        return Path(override).expanduser()
    return user_cache_path("lmgate", appauthor=False) / "test-tools"


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (parallel pytest workers) for the `with` body."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        if sys.platform == "win32":
            import msvcrt

            handle.seek(0)
            # LK_LOCK retries for 10 s and then raises; loop so long installs can be waited for.
            while True:
                try:
                    msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
                    break
                except OSError:
                    continue
            try:
                yield
            finally:
                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


# --- Debian packages ---------------------------------------------------------------------------


def missing_debian_packages(packages: tuple[str, ...] = DEBIAN_PACKAGES) -> list[str]:
    """The packages dpkg does not report as installed."""
    if shutil.which("dpkg-query") is None:
        pytest.fail(
            "these tests need a Debian-based system (dpkg-query not found); install the "
            f"equivalents of: {' '.join(packages)}"
        )
    return [name for name in packages if not _dpkg_installed(name)]


def ensure_debian_packages(packages: tuple[str, ...] = DEBIAN_PACKAGES) -> None:
    """Install the missing packages with apt-get when root; otherwise fail with the command."""
    if not missing_debian_packages(packages):
        return
    with file_lock(tools_cache_dir() / "apt.lock"):
        # Another worker may have installed them while this one waited for the lock.
        missing = missing_debian_packages(packages)
        if not missing:
            return
        install = [
            "apt-get",
            "install",
            "-y",
            "--no-install-recommends",
            *missing,
        ]
        if not hasattr(os, "geteuid") or os.geteuid() != 0:
            pytest.fail(
                "some system packages the tests need are missing; run:\n"
                f"  sudo apt-get update && sudo {shlex.join(install)}"
            )
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (["apt-get", "update"], install):
            _run_or_fail(command, env=env, timeout=_APT_TIMEOUT)
        still_missing = missing_debian_packages(packages)
        if still_missing:
            pytest.fail(f"apt-get finished but these are still missing: {' '.join(still_missing)}")


def _dpkg_installed(name: str) -> bool:
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", name],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode == 0 and result.stdout.strip().endswith(" installed")


# --- Claude Code -------------------------------------------------------------------------------


def claude_code_prefix(version: str = CLAUDE_CODE_VERSION) -> Path:
    return tools_cache_dir() / f"claude-code-{version}"


def find_claude_binary(prefix: Path) -> Path | None:
    """The `claude` executable under an npm prefix, or None when it is not installed there."""
    package = prefix / "node_modules" / "@anthropic-ai" / "claude-code"
    candidates = [
        prefix / "node_modules" / ".bin" / ("claude.cmd" if os.name == "nt" else "claude"),
        # The npm package ships the native binary (through an optional dependency) as
        # bin/claude.exe on every platform; npm 11 may skip the postinstall that links it.
        package / "bin" / "claude.exe",
        package / "bin" / "claude",
    ]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def ensure_claude_code(version: str = CLAUDE_CODE_VERSION) -> Path:
    """The path to a working `claude` of exactly `version`, installing it into the cache once."""
    prefix = claude_code_prefix(version)
    binary = find_claude_binary(prefix)
    if binary is not None and _claude_version(binary) == version:
        return binary
    with file_lock(tools_cache_dir() / "claude-code.lock"):
        binary = find_claude_binary(prefix)
        if binary is not None and _claude_version(binary) == version:
            return binary
        command = ["npm", "install", "--prefix", str(prefix), f"{CLAUDE_CODE_PACKAGE}@{version}"]
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail(
                "npm is needed to install Claude Code for the end-to-end tests; install node/npm "
                f"(Debian: sudo apt-get install -y nodejs npm), then run:\n  {shlex.join(command)}"
            )
        prefix.mkdir(parents=True, exist_ok=True)
        _run_or_fail([npm, *command[1:]], env=dict(os.environ), timeout=_NPM_TIMEOUT)
        binary = find_claude_binary(prefix)
        if binary is None:
            pytest.fail(
                f"`{shlex.join(command)}` finished but no claude executable is under {prefix}"
            )
        found = _claude_version(binary)
        if found != version:
            pytest.fail(f"{binary} reports version {found!r}, expected {version}")
        return binary


# --- the Anthropic JS SDK ----------------------------------------------------------------------


def anthropic_js_sdk_dir(version: str = ANTHROPIC_JS_SDK_VERSION) -> Path:
    """The SDK's package folder under its cache prefix (it may not be installed yet)."""
    prefix = tools_cache_dir() / f"anthropic-sdk-js-{version}"
    return prefix / "node_modules" / "@anthropic-ai" / "sdk"


def ensure_anthropic_js_sdk(version: str = ANTHROPIC_JS_SDK_VERSION) -> Path:
    """The package folder of exactly `version` of the JS SDK, installing it into the cache once;
    `node` must be on PATH to run it."""
    if shutil.which("node") is None:
        pytest.fail(
            "node is needed to drive the Anthropic JS SDK; install node/npm "
            "(Debian: sudo apt-get install -y nodejs npm)"
        )
    package = anthropic_js_sdk_dir(version)
    if _package_version(package) == version:
        return package
    with file_lock(tools_cache_dir() / "anthropic-sdk-js.lock"):
        if _package_version(package) == version:
            return package
        prefix = package.parents[2]
        command = [
            "npm",
            "install",
            "--no-audit",
            "--no-fund",
            "--prefix",
            str(prefix),
            f"{ANTHROPIC_JS_SDK_PACKAGE}@{version}",
        ]
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail(
                "npm is needed to install the Anthropic JS SDK for the thread tests; install "
                f"node/npm (Debian: sudo apt-get install -y nodejs npm), then run:\n"
                f"  {shlex.join(command)}"
            )
        prefix.mkdir(parents=True, exist_ok=True)
        _run_or_fail([npm, *command[1:]], env=dict(os.environ), timeout=_NPM_TIMEOUT)
        found = _package_version(package)
        if found != version:
            pytest.fail(f"`{shlex.join(command)}` finished but {package} has version {found!r}")
        return package


def _package_version(package: Path) -> str | None:
    try:
        data = json.loads((package / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    version = data.get("version") if isinstance(data, dict) else None
    return version if isinstance(version, str) else None


def _claude_version(binary: Path) -> str | None:
    try:
        result = subprocess.run(
            [str(binary), "--version"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            # No network and no user config may be touched just to print a version.
            env={**os.environ, "DISABLE_AUTOUPDATER": "1", "DISABLE_TELEMETRY": "1"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    # Prints e.g. "2.1.197 (Claude Code)".
    words = result.stdout.split()
    return words[0] if result.returncode == 0 and words else None


def _run_or_fail(command: list[str], *, env: dict[str, str], timeout: float) -> None:
    try:
        result = subprocess.run(
            command,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`{shlex.join(command)}` did not finish within {timeout:.0f} s")
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip()[-2000:]
        pytest.fail(
            f"`{shlex.join(command)}` failed with exit code {result.returncode}:\n{tail}\n"
            f"run it by hand to see why"
        )
