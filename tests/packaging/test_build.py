"""packaging/build.py without PyInstaller: the Linux layout and archive it makes around the
frozen folder, and `--reuse`, which rebuilds exactly when an input changed."""

from __future__ import annotations

import tarfile
import types
from pathlib import Path
from typing import Any

import pytest

from tests.packaging.frozen import build_module


class FakePyInstaller:
    """Stands in for `python -m PyInstaller`: makes the folder a onedir build would."""

    def __init__(self) -> None:
        self.runs = 0

    def run(self, command: list[str], **kwargs: Any) -> None:
        self.runs += 1
        dist = Path(command[command.index("--distpath") + 1])
        (dist / "lmgate" / "_internal").mkdir(parents=True, exist_ok=True)
        (dist / "lmgate" / "lmgate").write_bytes(b"\x7fELF")


@pytest.fixture
def build(monkeypatch: pytest.MonkeyPatch) -> tuple[types.ModuleType, FakePyInstaller]:
    module = build_module()
    fake = FakePyInstaller()
    monkeypatch.setattr(module, "subprocess", types.SimpleNamespace(run=fake.run))
    monkeypatch.setattr(module.sys, "platform", "linux")
    return module, fake


def test_the_linux_folder_gets_its_desktop_files_and_a_tarball(
    build: tuple[types.ModuleType, FakePyInstaller], tmp_path: Path
) -> None:
    module, _ = build
    result = module.build(tmp_path / "dist", tmp_path / "work")
    share = result.output / "share"
    assert (share / "applications" / "lmgate.desktop").is_file()
    assert (share / "icons/hicolor/512x512/apps/lmgate.png").is_file()
    assert (result.output / "install-desktop-entry.sh").stat().st_mode & 0o111
    assert result.archive.name.startswith(f"lmgate-{module.freeze.version()}-linux-")
    with tarfile.open(result.archive) as tar:
        assert "lmgate/lmgate" in tar.getnames()
    assert "archive:" in result.describe() and str(result.executable) in result.describe()


def test_reuse_skips_the_build_until_an_input_changes(
    build: tuple[types.ModuleType, FakePyInstaller],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module, fake = build
    dist, work = tmp_path / "dist", tmp_path / "work"
    assert not module.build(dist, work, reuse=True).reused
    assert module.build(dist, work, reuse=True).reused
    assert fake.runs == 1
    assert not module.build(dist, work).reused  # without --reuse: always
    monkeypatch.setattr(module, "fingerprint", lambda: "something changed")
    assert not module.build(dist, work, reuse=True).reused
    assert fake.runs == 3


def test_the_fingerprint_covers_the_sources_and_not_the_screenshots() -> None:
    module = build_module()
    names = {
        str(path.relative_to(module.ROOT))
        for pattern in module._INPUTS
        for path in module.ROOT.glob(pattern)
    }
    assert {"gateway/runner.py", "app/main.py", "resources/lmgate.svg", "uv.lock"} <= names
    assert {"packaging/release-linux.spec", "packaging/icons/lmgate.ico"} <= names
    assert not [name for name in names if name.endswith("screenshot.png")]
    assert module.fingerprint() == module.fingerprint()
