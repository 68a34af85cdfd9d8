"""The shared spec module (packaging/freeze.py) and the three release specs, run without a build:
every listed data file exists, every hidden import imports, nothing excluded is needed, and each
spec asks PyInstaller for what its platform needs (checked with stand-ins for PyInstaller's
classes, since only the Linux spec can be built here)."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from tests.paths import REPO

PACKAGING = REPO / "packaging"


@pytest.fixture(scope="module")
def freeze() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("lmgate_freeze", PACKAGING / "freeze.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_data_file_exists(freeze: types.ModuleType) -> None:
    datas = freeze.data_files()
    for source, _ in datas:
        assert Path(source).is_file() and Path(source).stat().st_size > 0, source
    targets = {(Path(source).name, target) for source, target in datas}
    assert ("lmgate.svg", "resources") in targets
    assert ("lmgate-dark.svg", "resources") in targets
    assert ("overview.svg", "resources/icons") in targets
    assert ("o200k_base.tiktoken.gz", "gateway/data") in targets
    for name in ("lmgate.ico", "lmgate.icns", "lmgate-256.png"):
        assert (freeze.ICONS / name).is_file(), name
    assert freeze.ENTRY.is_file()


def test_every_hidden_import_imports(freeze: types.ModuleType) -> None:
    imports = freeze.hidden_imports()
    assert {"gateway.runner", "gateway.data", "app.main", "app.selftest"} <= set(imports)
    failed = []
    for name in imports:
        try:
            importlib.import_module(name)
        except Exception as exc:
            failed.append(f"{name}: {type(exc).__name__}: {exc}")
    assert not failed, "\n".join(failed)


def test_the_app_imports_without_anything_excluded(freeze: types.ModuleType) -> None:
    # A fresh interpreter where every excluded module is absent, as in the build: an import of
    # one fails, unless its importer treats it as optional (httpx's CLI and pygments).
    code = (
        "import importlib, sys\n"
        f"for name in {list(freeze.EXCLUDES)!r}:\n"
        "    sys.modules[name] = None\n"
        f"for name in {freeze.hidden_imports()!r}:\n"
        "    importlib.import_module(name)\n"
        "from gateway import cli, selftest, tokens\n"
        "assert tokens.count_text('Hello, world!') == 4\n"
        "print('imported')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout == "imported\n", done.stderr[-3000:]


@pytest.mark.parametrize(
    ("path", "kept"),
    [
        ("PySide6/Qt/plugins/platforms/libqxcb.so", True),
        ("PySide6/Qt/plugins/platforms/libqwayland.so", True),
        ("PySide6/Qt/plugins/platforms/libqoffscreen.so", True),
        ("PySide6/Qt/plugins/imageformats/libqsvg.so", True),
        ("PySide6/plugins/imageformats/qsvg.dll", True),
        ("PySide6/Qt/plugins/iconengines/libqsvgicon.so", True),
        ("PySide6/Qt/lib/libQt6Network.so.6", True),
        ("aiohttp/_http_parser.cpython-311-x86_64-linux-gnu.so", True),
        ("libcairo-gobject.so.2", True),  # until `linked` finds nothing kept links to it
        ("PySide6/Qt/translations/qtbase_de.qm", False),
        ("PySide6/Qt/plugins/platformthemes/libqgtk3.so", False),
        ("PySide6/Qt/plugins/platforms/libqeglfs.so", False),
        ("PySide6/Qt/plugins/imageformats/libqjpeg.so", False),
        ("PySide6/plugins/imageformats/qtiff.dll", False),
        ("PySide6/Qt/plugins/tls/libqopensslbackend.so", False),
        ("PySide6/Qt/plugins/xcbglintegrations/libqxcb-glx-integration.so", False),
    ],
)
def test_keep_drops_what_the_app_never_loads(
    freeze: types.ModuleType, path: str, kept: bool
) -> None:
    assert freeze.keep((path, "/src", "BINARY")) is kept


def test_linked_drops_the_libraries_only_dropped_plugins_linked_to(
    freeze: types.ModuleType,
) -> None:
    links = {
        "/s/_http_parser.so": ["libz.so.1"],
        "/s/QtGui.abi3.so": ["libQt6Gui.so.6", "libpyside6.abi3.so.6.12"],
        "/s/libQt6Gui.so.6": ["libQt6Core.so.6", "libglib-2.0.so.0", "libc.so.6"],
        "/s/libQt6Core.so.6": ["libicuuc.so.73", "libglib-2.0.so.0"],
        "/s/libglib-2.0.so.0": ["libpcre2-8.so.0"],
        "/s/libpcre2-8.so.0": ["libglib-2.0.so.0"],  # a cycle ends
        "/s/libqxcb.so": ["libQt6XcbQpa.so.6"],
        "/s/libQt6XcbQpa.so.6": ["libxcb-cursor.so.0", "libQt6Gui.so.6"],
        "/s/libgio-2.0.so.0": ["libmount.so.1", "libglib-2.0.so.0"],
        "/s/libQt6OpenGL.so.6": ["libQt6Gui.so.6"],
        "/s/libpython3.11.so.1.0": ["libz.so.1"],
        "/s/_ssl.so": ["libssl.so.3"],
        "/s/libssl.so.3": ["libcrypto.so.3"],
    }
    kept = [
        ("aiohttp/_http_parser.cpython-311-x86_64-linux-gnu.so", "/s/_http_parser.so", "EXTENSION"),
        ("PySide6/QtGui.abi3.so", "/s/QtGui.abi3.so", "EXTENSION"),
        ("PySide6/libpyside6.abi3.so.6.12", "/s/libpyside6.abi3.so.6.12", "BINARY"),
        ("PySide6/Qt/lib/libQt6Gui.so.6", "/s/libQt6Gui.so.6", "BINARY"),
        ("PySide6/Qt/lib/libQt6Core.so.6", "/s/libQt6Core.so.6", "BINARY"),
        ("libQt6Core.so.6", "PySide6/Qt/lib/libQt6Core.so.6", "SYMLINK"),
        ("PySide6/Qt/lib/libicuuc.so.73", "/s/libicuuc.so.73", "BINARY"),
        ("libglib-2.0.so.0", "/s/libglib-2.0.so.0", "BINARY"),
        ("libpcre2-8.so.0", "/s/libpcre2-8.so.0", "BINARY"),
        ("PySide6/Qt/plugins/platforms/libqxcb.so", "/s/libqxcb.so", "BINARY"),
        ("PySide6/Qt/lib/libQt6XcbQpa.so.6", "/s/libQt6XcbQpa.so.6", "BINARY"),
        ("libxcb-cursor.so.0", "/s/libxcb-cursor.so.0", "BINARY"),
        ("libpython3.11.so.1.0", "/s/libpython3.11.so.1.0", "BINARY"),
        ("libz.so.1", "/s/libz.so.1", "BINARY"),
        ("python3.11/lib-dynload/_ssl.cpython-311-x86_64-linux-gnu.so", "/s/_ssl.so", "EXTENSION"),
        ("libssl.so.3", "/s/libssl.so.3", "BINARY"),
        ("libcrypto.so.3", "/s/libcrypto.so.3", "BINARY"),
    ]
    orphans = [
        ("libgio-2.0.so.0", "/s/libgio-2.0.so.0", "BINARY"),
        ("libmount.so.1", "/s/libmount.so.1", "BINARY"),
        ("PySide6/Qt/lib/libQt6OpenGL.so.6", "/s/libQt6OpenGL.so.6", "BINARY"),
        ("libQt6OpenGL.so.6", "PySide6/Qt/lib/libQt6OpenGL.so.6", "SYMLINK"),
    ]
    entries = kept[:6] + orphans + kept[6:]
    assert freeze.linked(entries, needed=lambda path: links.get(path, [])) == kept


def test_the_version_comes_from_pyproject(freeze: types.ModuleType) -> None:
    import tomllib

    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert freeze.version() == version
    assert freeze.version_tuple()[:3] == tuple(int(p) for p in version.split(".")[:3])


# --- the specs, with stand-ins for PyInstaller --------------------------------------------------


class Target:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs


class Analysis(Target):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.scripts: list[Any] = []
        self.pure: list[Any] = []
        self.binaries = [("libgtk-3.so.0", "/x", "BINARY"), ("libpython3.11.so", "/x", "BINARY")]
        self.datas = [("PySide6/Qt/translations/qt_de.qm", "/x", "DATA")]


def run_spec(name: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Target]]:
    """Execute a spec the way PyInstaller does; returns what it made, by class name. The
    stand-in binaries link to nothing."""
    from PyInstaller.depend import bindepend

    monkeypatch.setattr(bindepend, "get_imports", lambda path, search_paths=None: set())
    made: dict[str, list[Target]] = {}
    classes: dict[str, type[Target]] = {"Analysis": Analysis}
    classes |= {n: type(n, (Target,), {}) for n in ("PYZ", "EXE", "COLLECT", "BUNDLE")}

    def track(cls_name: str) -> Any:
        def make(*args: Any, **kwargs: Any) -> Target:
            target = classes[cls_name](*args, **kwargs)
            made.setdefault(cls_name, []).append(target)
            return target

        return make

    # The Windows spec builds its version resource from PyInstaller's classes (pefile, which
    # they import, exists on Windows only).
    versioninfo = types.ModuleType("PyInstaller.utils.win32.versioninfo")
    for cls in (
        "FixedFileInfo",
        "StringFileInfo",
        "StringStruct",
        "StringTable",
        "VarFileInfo",
        "VarStruct",
        "VSVersionInfo",
    ):
        setattr(versioninfo, cls, type(cls, (Target,), {}))
    monkeypatch.setitem(sys.modules, "PyInstaller.utils.win32.versioninfo", versioninfo)
    monkeypatch.setattr(sys, "path", list(sys.path))
    namespace: dict[str, Any] = {"SPECPATH": str(PACKAGING)}
    namespace |= {n: track(n) for n in classes}
    exec(compile((PACKAGING / name).read_text(), name, "exec"), namespace)
    return made


def test_the_linux_spec_makes_one_stripped_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    made = run_spec("release-linux.spec", monkeypatch)
    (analysis,) = made["Analysis"]
    assert isinstance(analysis, Analysis)
    assert analysis.binaries == [("libpython3.11.so", "/x", "BINARY")]  # nothing links to GTK
    assert analysis.datas == []
    assert "httptools" in analysis.kwargs["hiddenimports"]
    (exe,) = made["EXE"]
    assert exe.kwargs["name"] == "lmgate" and exe.kwargs["exclude_binaries"] is True
    assert exe.kwargs["strip"] is True and exe.kwargs["upx"] is False
    (collect,) = made["COLLECT"]
    assert collect.kwargs["name"] == "lmgate" and exe in collect.args
    assert "BUNDLE" not in made


def test_the_windows_spec_makes_a_windowed_and_a_console_executable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = run_spec("release-windows.spec", monkeypatch)
    gui, cli = made["EXE"]
    assert (gui.kwargs["name"], gui.kwargs["console"]) == ("LM Gate", False)
    assert (cli.kwargs["name"], cli.kwargs["console"]) == ("lmgate", True)
    for exe in (gui, cli):
        assert exe.kwargs["icon"].endswith("lmgate.ico") and Path(exe.kwargs["icon"]).is_file()
        assert exe.kwargs["exclude_binaries"] is True
        version = exe.kwargs["version"]
        assert type(version).__name__ == "VSVersionInfo"
        (strings,) = version.kwargs["kids"][0].args[0]
        table = {s.args[0]: s.args[1] for s in strings.args[1]}
        assert table["OriginalFilename"] == f"{exe.kwargs['name']}.exe"
        assert table["ProductName"] == "LM Gate"
    (collect,) = made["COLLECT"]
    assert gui in collect.args and cli in collect.args  # one folder, both executables


def test_the_macos_spec_makes_a_menu_bar_app_for_apple_silicon(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = run_spec("release-macos.spec", monkeypatch)
    (exe,) = made["EXE"]
    assert exe.kwargs["target_arch"] == "arm64"
    assert exe.kwargs["console"] is False and exe.kwargs["name"] == "lmgate"
    (bundle,) = made["BUNDLE"]
    assert made["COLLECT"][0] in bundle.args  # a onedir .app, from COLLECT
    assert bundle.kwargs["name"] == "LM Gate.app"
    assert bundle.kwargs["icon"].endswith("lmgate.icns") and Path(bundle.kwargs["icon"]).is_file()
    assert bundle.kwargs["bundle_identifier"] == "io.github.lmgate.LMGate"
    plist = bundle.kwargs["info_plist"]
    assert plist["LSUIElement"] is True
    assert (
        plist[
            "CFBundleShortVersionString"
            if "CFBundleShortVersionString" in plist
            else "CFBundleVersion"
        ]
        == bundle.kwargs["version"]
    )


def test_no_spec_can_be_overwritten_by_pyinstaller_name() -> None:
    # `pyinstaller --name NAME script.py` writes NAME.spec: none of the names the app uses.
    specs = sorted(p.name for p in PACKAGING.glob("*.spec"))
    assert specs == ["release-linux.spec", "release-macos.spec", "release-windows.spec"]
