"""Build LM Gate for the OS this runs on: `python packaging/build.py` (from `uv run`).

Runs PyInstaller with this OS's release spec (one folder, never one file: a onefile build
unpacks ~150 MB on every start), then adds what each platform expects and packs an archive:
Linux a tarball with the .desktop file, the icons and an installer for both; macOS a zip of
`LM Gate.app`; Windows a zip of the folder. Prints where the result is and its size.

`--reuse` skips the build when nothing that goes into it changed since the last one into the
same folder (a fingerprint of the sources, the lock file, Python and PyInstaller).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import freeze

__all__ = ["Result", "build", "fingerprint", "main", "target"]

ROOT = freeze.ROOT
STAMP = "build-info.json"
# What a build is made from (resources/ also holds screenshots, which the GUI tests rewrite).
_INPUTS = (
    "pyproject.toml",
    "uv.lock",
    "gateway/**/*.py",
    "gateway/data/*.tiktoken.gz",
    "app/**/*.py",
    "resources/*.svg",
    "resources/icons/*.svg",
    "resources/lmgate.desktop",
    "packaging/freeze.py",
    "packaging/lmgate_entry.py",
    "packaging/build.py",
    "packaging/*.spec",
    "packaging/*.sh",
    "packaging/icons/*",
)
_LINUX_PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


class Result:
    """Where a build is: the folder (or .app) users run, and the archive they download."""

    def __init__(self, output: Path, archive: Path, seconds: float, reused: bool) -> None:
        self.output = output
        self.archive = archive
        self.seconds = seconds
        self.reused = reused

    @property
    def executable(self) -> Path:
        if sys.platform == "darwin":
            return self.output / "Contents" / "MacOS" / freeze.CLI_NAME
        return self.output / (f"{freeze.CLI_NAME}.exe" if os.name == "nt" else freeze.CLI_NAME)

    def describe(self) -> str:
        how = "reused (nothing changed)" if self.reused else f"built in {self.seconds:.0f} s"
        return (
            f"{how}\n"
            f"  app:     {self.output} ({megabytes(tree_size(self.output))} on disk)\n"
            f"  run:     {self.executable}\n"
            f"  archive: {self.archive} ({megabytes(self.archive.stat().st_size)})"
        )


def target() -> tuple[str, str]:
    """(spec file, archive suffix) for this OS."""
    machine = platform.machine().lower().replace("amd64", "x86_64").replace("aarch64", "arm64")
    if sys.platform == "darwin":
        return "release-macos.spec", f"macos-{machine}.zip"
    if sys.platform == "win32":
        return "release-windows.spec", f"windows-{machine}.zip"
    return "release-linux.spec", f"linux-{machine}.tar.gz"


def fingerprint() -> str:
    """A hash of everything a build is made from."""
    import PyInstaller  # type: ignore[import-untyped]

    digest = hashlib.sha256()
    for part in (sys.version, sys.platform, platform.machine(), PyInstaller.__version__):
        digest.update(part.encode() + b"\0")
    files = {path for pattern in _INPUTS for path in ROOT.glob(pattern) if path.is_file()}
    for path in sorted(files):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def build(dist: Path, work: Path, *, reuse: bool = False) -> Result:
    spec, suffix = target()
    dist, work = dist.resolve(), work.resolve()
    output = dist / (f"{freeze.APP_NAME}.app" if sys.platform == "darwin" else freeze.CLI_NAME)
    archive = dist / f"{freeze.CLI_NAME}-{freeze.version()}-{suffix}"
    stamp = dist / STAMP
    print_ = fingerprint()
    if reuse and output.exists() and archive.exists() and _stamped(stamp) == print_:
        return Result(output, archive, 0.0, reused=True)
    stamp.unlink(missing_ok=True)
    started = time.monotonic()
    command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN"]
    command += ["--distpath", str(dist), "--workpath", str(work), str(ROOT / "packaging" / spec)]
    subprocess.run(command, check=True, cwd=ROOT)
    if sys.platform.startswith("linux"):
        _linux_extras(output)
    _archive(output, archive)
    seconds = time.monotonic() - started
    info = {"fingerprint": print_, "seconds": round(seconds, 1), "version": freeze.version()}
    stamp.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return Result(output, archive, seconds, reused=False)


def _stamped(stamp: Path) -> str | None:
    try:
        return str(json.loads(stamp.read_text(encoding="utf-8"))["fingerprint"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _linux_extras(output: Path) -> None:
    """The freedesktop files beside the binary, laid out as under a prefix, and the script
    that installs them for the user."""
    share = output / "share"
    applications = share / "applications"
    applications.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "resources" / "lmgate.desktop", applications / "lmgate.desktop")
    for size in _LINUX_PNG_SIZES:
        folder = share / "icons" / "hicolor" / f"{size}x{size}" / "apps"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy2(freeze.ICONS / f"lmgate-{size}.png", folder / "lmgate.png")
    scalable = share / "icons" / "hicolor" / "scalable" / "apps"
    scalable.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "resources" / "lmgate.svg", scalable / "lmgate.svg")
    installer = output / "install-desktop-entry.sh"
    shutil.copy2(ROOT / "packaging" / "install-desktop-entry.sh", installer)
    installer.chmod(0o755)


def _archive(output: Path, archive: Path) -> None:
    archive.unlink(missing_ok=True)
    if archive.name.endswith(".tar.gz"):
        with tarfile.open(archive, "w:gz", compresslevel=6) as tar:
            tar.add(output, arcname=output.name)
    elif sys.platform == "darwin":
        # ditto keeps the bundle's symlinks and extended attributes, which a plain zip breaks.
        subprocess.run(
            ["ditto", "-c", "-k", "--sequesterRsrc", "--keepParent", str(output), str(archive)],
            check=True,
        )
    else:
        shutil.make_archive(str(archive.with_suffix("")), "zip", output.parent, output.name)


def tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="where the result goes")
    parser.add_argument("--work", type=Path, default=ROOT / "build", help="PyInstaller's scratch")
    parser.add_argument(
        "--reuse", action="store_true", help="keep the last build when its inputs are unchanged"
    )
    args = parser.parse_args(argv)
    result = build(args.dist, args.work, reuse=args.reuse)
    print(f"LM Gate {freeze.version()} for {sys.platform}: {result.describe()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
