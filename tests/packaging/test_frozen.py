"""The Linux onedir build, tested as built: its own `self-test` inside a real Secret Service,
the archive users download, its desktop entry, its size and its libraries."""

from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.packaging.conftest import FrozenBuild
from tests.packaging.frozen import BUILD_TIMEOUT, packaging_module, secret_service_run

# The session's first test here pays for the build when the app changed.
# On parallel workers these run on one worker, one after the other (tests.parallel.TOGETHER).
pytestmark = [pytest.mark.frozen, pytest.mark.timeout(BUILD_TIMEOUT + 300)]

# The target: 150 MB (10^6 bytes) on Linux. Qt's ICU data alone is 32 MB of it.
SIZE_BUDGET_MB = 150
CHECKS = (
    "qt",
    "fonts",
    "icons",
    "window",
    "sections",
    "tray",
    "speedups",
    "certificates",
    "metadata",
    "gateway",
    "health",
    "guard",
    "message",
    "stream",
    "count tokens",
    "keyring",
)


def passed(stdout: str) -> set[str]:
    return {line[6:].split(":", 1)[0] for line in stdout.splitlines() if line.startswith("ok    ")}


@pytest.mark.real_keyring
def test_the_build_passes_its_self_test_with_a_real_keyring(
    debian_packages: None, frozen_build: FrozenBuild, tmp_path: Path
) -> None:
    result = secret_service_run([str(frozen_build.executable), "self-test"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert passed(result.stdout) >= set(CHECKS), result.stdout
    assert "frozen build" in result.stdout
    assert "set, read back and deleted" in result.stdout
    assert result.stdout.splitlines()[-1] == "lmgate self-test: all checks passed"


@pytest.mark.real_keyring
def test_the_build_fails_its_self_test_without_a_secure_keyring(
    debian_packages: None, frozen_build: FrozenBuild, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_KEYRING_BACKEND"}
    env.update(HOME=str(tmp_path), DBUS_SESSION_BUS_ADDRESS="disabled:")
    command = [str(frozen_build.executable), "self-test", "--no-gui"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failed) == 1 and failed[0].startswith("FAIL  keyring: no secure keyring"), failed
    assert "--no-keyring" in failed[0]
    skipped = subprocess.run(
        [*command, "--no-keyring"], env=env, capture_output=True, text=True, timeout=120
    )
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr


def test_the_built_app_opens_its_window_on_x11_and_quits_on_sigterm(
    debian_packages: None, frozen_build: FrozenBuild
) -> None:
    # The app itself, not its self-test: a real window on Xvfb, the gateway answering, and a
    # clean exit. packaging/measure_start.py times the same thing for the start-up figures.
    measure = packaging_module("measure_start")
    with measure.Xvfb() as env:
        run = measure.one_run(frozen_build.executable, env, watch_window=True)
    assert run.window is not None and run.health > 0
    assert run.exit_code == 0


def test_the_cli_runs_from_the_build(frozen_build: FrozenBuild) -> None:
    version = subprocess.run(
        [str(frozen_build.executable), "--version"], capture_output=True, text=True, timeout=60
    )
    assert version.stdout == f"lmgate {_project_version()}\n", version.stderr
    helped = subprocess.run(
        [str(frozen_build.executable), "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert helped.returncode == 0 and "--backend URL" in helped.stdout, helped.stderr


def test_the_archive_holds_the_app_its_desktop_entry_and_icons(frozen_build: FrozenBuild) -> None:
    with tarfile.open(frozen_build.archive) as tar:
        names = set(tar.getnames())
        mode = tar.getmember("lmgate/lmgate").mode
    assert mode & 0o111, "the binary is not executable in the tarball"
    for name in (
        "lmgate/_internal/resources/lmgate.svg",
        "lmgate/share/applications/lmgate.desktop",
        "lmgate/share/icons/hicolor/256x256/apps/lmgate.png",
        "lmgate/share/icons/hicolor/scalable/apps/lmgate.svg",
        "lmgate/install-desktop-entry.sh",
    ):
        assert name in names, name


def test_the_desktop_entry_installs_for_the_user_and_comes_out_again(
    frozen_build: FrozenBuild, tmp_path: Path
) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path)}
    script = str(frozen_build.output / "install-desktop-entry.sh")
    subprocess.run([script], env=env, check=True, capture_output=True, timeout=60)
    entry = (tmp_path / "applications" / "lmgate.desktop").read_text(encoding="utf-8")
    assert f'Exec="{frozen_build.executable}"' in entry.splitlines()
    assert f"TryExec={frozen_build.executable}" in entry.splitlines()
    assert (tmp_path / "icons/hicolor/48x48/apps/lmgate.png").is_file()
    subprocess.run([script, "--remove"], env=env, check=True, capture_output=True, timeout=60)
    assert not (tmp_path / "applications" / "lmgate.desktop").exists()
    assert not list(tmp_path.glob("icons/hicolor/*/apps/lmgate.*"))


def test_the_build_is_within_its_size_budget_and_links(
    debian_packages: None, frozen_build: FrozenBuild
) -> None:
    files = [p for p in frozen_build.output.rglob("*") if p.is_file() and not p.is_symlink()]
    size_mb = sum(p.stat().st_size for p in files) / 1_000_000
    assert size_mb <= SIZE_BUDGET_MB, f"{size_mb:.0f} MB"
    # Dropped by freeze.DROP: they would pull GTK in, or serve platforms nobody runs a tray on.
    names = {p.name for p in files}
    assert not {"libqgtk3.so", "libqeglfs.so", "libqvnc.so"} & names
    assert {"libqxcb.so", "libqoffscreen.so", "libqwayland.so", "libqsvg.so"} <= names
    # Left by the dropped plugins and pruned by freeze.linked: nothing kept links to them.
    assert not {"libgio-2.0.so.0", "libharfbuzz.so.0", "libQt6OpenGL.so.6", "libgtk-3.so.0"} & names
    missing = []
    for library in [p for p in files if ".so" in p.name]:
        linked = subprocess.run(["ldd", str(library)], capture_output=True, text=True, timeout=60)
        missing += [
            f"{library.name}: {line.strip()}"
            for line in linked.stdout.splitlines()
            if "not found" in line
        ]
    assert not missing, "\n".join(missing)


def _project_version() -> str:
    import tomllib

    from tests.paths import REPO

    return str(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"])
