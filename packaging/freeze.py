"""What every PyInstaller spec of LM Gate bundles: data files, hidden imports, excludes, and the
Qt plugins and libraries dropped after analysis. Shared by the three `release-*.spec` files and
checked by tests/packaging (every data file exists, every hidden import imports).

Plain Python with no PyInstaller import at module level, so that a test can load it without
starting a build.
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "APP_NAME",
    "BUNDLE_ID",
    "CLI_NAME",
    "DROP",
    "ENTRY",
    "EXCLUDES",
    "HIDDEN_IMPORTS",
    "ICONS",
    "ROOT",
    "data_files",
    "hidden_imports",
    "keep",
    "linked",
    "metadata_files",
    "version",
    "version_tuple",
]

ROOT = Path(__file__).resolve().parent.parent
ENTRY = ROOT / "packaging" / "lmgate_entry.py"
ICONS = ROOT / "packaging" / "icons"
VOCABULARY = ROOT / "gateway" / "data"
APP_NAME = "LM Gate"
CLI_NAME = "lmgate"
# Reverse DNS for macOS (Keychain access and code signing are tied to it); the project has no
# domain of its own, so the name space is its repository host's.
BUNDLE_ID = "io.github.lmgate.LMGate"

# Imported by name at run time, where PyInstaller's analysis cannot see them.
HIDDEN_IMPORTS = (
    # Chosen by import string in uvicorn.Config (gateway.runner): asyncio loop, httptools.
    "uvicorn.loops.asyncio",
    "uvicorn.protocols.http.httptools_impl",
    "uvicorn.lifespan.on",
    "httptools",
    "httptools.parser.parser",
    # aiohttp's C parser and writer: without them it falls back to pure Python, silently.
    "aiohttp._http_parser",
    "aiohttp._http_writer",
    "multidict._multidict",
    "yarl._quoting_c",
    "frozenlist._frozenlist",
    "propcache._helpers_c",
    "httpx_aiohttp",
    # keyring finds its backends through entry points; the OS's own must be there.
    "keyring.backends.SecretService",
    "keyring.backends.kwallet",
    "keyring.backends.libsecret",
    "keyring.backends.macOS",
    "keyring.backends.Windows",
    "keyring.backends.chainer",
    "keyring.backends.fail",
    "keyring.backends.null",
    "orjson",
)

# Modules no code path of the app imports, but that some dependency may pull in.
EXCLUDES = (
    "tkinter",
    "_tkinter",
    "unittest",
    "pydoc",
    "doctest",
    "pdb",
    "lib2to3",
    "idlelib",
    "ensurepip",
    "venv",
    "setuptools",
    "pkg_resources",
    "distutils",
    "keyrings.alt",  # plaintext "keyrings": never ship them
    "uvloop",
    "watchfiles",
    "websockets",
    "wsproto",
    "dotenv",
    "yaml",
    "pytest",
    "_pytest",
    "IPython",
    "numpy",
    "PIL",
    "PyInstaller",
    # Development tools that hooks or optional imports drag in (pydantic's mypy plugin).
    "mypy",
    "pydantic.mypy",
    "pydantic.v1.mypy",
    "hypothesis",
    "pygments",  # httpx imports it for its CLI only, and copes without
    "rich",
    "psutil",
    "bpe_openai",  # the tests' reference tokenizer; the gateway counts with gateway/bpe.py
    # Replicas sharing a Redis run the headless gateway (a uv install, the container); the
    # desktop build serves one machine and says so if a Redis URL is configured.
    "redis",
    "gateway.team.redis_shared",
    "ast_serialize",
    "librt",
    # The CJK codecs (1 MB): nothing the gateway reads or writes is other than UTF-8.
    "_multibytecodec",
    "_codecs_cn",
    "_codecs_hk",
    "_codecs_iso2022",
    "_codecs_jp",
    "_codecs_kr",
    "_codecs_tw",
    # Qt: the app uses QtCore, QtGui, QtWidgets, QtSvg and QtNetwork (app/instance.py).
    "PySide6.QtConcurrent",
    "PySide6.QtDBus",
    "PySide6.QtDesigner",
    "PySide6.QtHelp",
    "PySide6.QtLabsStyleKit",
    "PySide6.QtOpenGL",
    "PySide6.QtOpenGLWidgets",
    "PySide6.QtPrintSupport",
    "PySide6.QtQml",
    "PySide6.QtQmlFeatures",
    "PySide6.QtQuick",
    "PySide6.QtQuickControls2",
    "PySide6.QtQuickTest",
    "PySide6.QtQuickWidgets",
    "PySide6.QtSql",
    "PySide6.QtSvgWidgets",
    "PySide6.QtTest",
    "PySide6.QtUiTools",
    "PySide6.QtXml",
    "PySide6.QtWebEngineCore",
    "PySide6.QtWebEngineWidgets",
    "PySide6.QtMultimedia",
    "PySide6.QtPdf",
    "PySide6.QtCharts",
)

# Substrings of paths inside PySide6/ to leave out after analysis (the same on every OS: Qt's
# folder is PySide6/Qt/plugins on Linux and macOS, PySide6/plugins on Windows). Kept: the xcb,
# wayland, offscreen and minimal platforms (cocoa, windows), the SVG image and icon plugins, and
# whatever the window, the tray and QLocalSocket load.
DROP = (
    "/translations/",
    "/qml/",
    "/plugins/platformthemes/libqgtk3",  # drags in GTK; Qt's own style is used instead
    "/plugins/platforms/libqeglfs",
    "/plugins/platforms/libqlinuxfb",
    "/plugins/platforms/libqvnc",
    "/plugins/platforms/libqminimalegl",
    "/plugins/platforms/libqvkkhrdisplay",
    "/plugins/egldeviceintegrations/",
    "/plugins/generic/",  # evdev input, for the framebuffer platforms dropped above
    "/plugins/tls/",  # QLocalSocket needs no TLS, and the gateway's is Python's
    "/plugins/networkinformation/",
    "/plugins/printsupport/",
    "/plugins/sqldrivers/",
    "/plugins/qmltooling/",
    "/plugins/designer/",
    # OpenGL buffers and compositor-side integrations; QWidget windows draw into shared memory.
    "/plugins/xcbglintegrations/",
    "/plugins/wayland-graphics-integration-client/",
    "libQt6EglFSDeviceIntegration",
    "libQt6EglFsKmsSupport",
    "libQt6Qml",
    "libQt6Quick",
    "libQt6Pdf",
    "libQt6VirtualKeyboard",
)
# The icons are SVG (QtSvg); PNG is built into QtGui. Every other image plugin goes.
_IMAGE_PLUGINS = "/plugins/imageformats/"
_RESOURCE_PATTERNS = ("*.svg", "icons/*.svg")


def version() -> str:
    """The project's version, from pyproject.toml."""
    with open(ROOT / "pyproject.toml", "rb") as handle:
        project: dict[str, Any] = tomllib.load(handle)["project"]
    return str(project["version"])


def version_tuple() -> tuple[int, int, int, int]:
    """`0.1.0` → (0, 1, 0, 0): Windows' four-part file version."""
    parts = [int("".join(c for c in p if c.isdigit()) or 0) for p in version().split(".")[:4]]
    padded = (parts + [0, 0, 0, 0])[:4]
    return padded[0], padded[1], padded[2], padded[3]


def resource_files() -> list[Path]:
    """The SVG masters the app draws its icons from at run time (app/icons.py)."""
    found: list[Path] = []
    for pattern in _RESOURCE_PATTERNS:
        found += sorted((ROOT / "resources").glob(pattern))
    return found


def data_files() -> list[tuple[str, str]]:
    """(source, folder in the bundle) pairs, in the form `Analysis(datas=…)` takes."""
    datas = [
        (str(path), str(path.parent.relative_to(ROOT)).replace("\\", "/"))
        for path in resource_files()
    ]
    # The token counter's vocabulary, read through importlib.resources (gateway/bpe.py).
    datas += [(str(path), "gateway/data") for path in sorted(VOCABULARY.glob("*.tiktoken.gz"))]
    return datas


def metadata_files() -> list[tuple[str, str]]:
    """Distribution metadata read at run time: `lmgate --version`, keyring's entry points."""
    from PyInstaller.utils.hooks import copy_metadata  # type: ignore[import-untyped]

    found: list[tuple[str, str]] = []
    for name in ("lmgate", "keyring"):
        found += copy_metadata(name)
    return found


def hidden_imports() -> list[str]:
    """HIDDEN_IMPORTS and every module of the project's own packages: the CLI and the launcher
    import theirs through importlib, which analysis cannot follow."""
    return [*HIDDEN_IMPORTS, *_own_modules()]


def keep(entry: tuple[str, str, str] | tuple[Any, ...]) -> bool:
    """Whether a TOC entry (destination, source, kind) stays in the bundle."""
    name = str(entry[0]).replace("\\", "/")
    if not name.startswith("PySide6/"):
        return True
    if any(part in name for part in DROP):
        return False
    if _IMAGE_PLUGINS in name:
        plugin = name.rsplit("/", 1)[1].split(".")[0].removeprefix("lib").removeprefix("q")
        return plugin.startswith("svg")
    return True


def filtered(entries: Iterable[Any]) -> list[Any]:
    return [entry for entry in entries if keep(entry)]


def linked(
    entries: Iterable[Any], needed: Callable[[str], Iterable[str]] | None = None
) -> list[Any]:
    """Linux: the binaries TOC without the shared libraries that nothing kept links to.

    Analysis collects what every plugin links to, so the system libraries of a plugin `keep`
    drops (GTK's for the GTK theme, GIO, HarfBuzz, libQt6OpenGL…) would stay behind. Python's
    extension modules, Qt's plugins and libpython are the roots (they are loaded by name); a
    library stays if a root reaches it through DT_NEEDED. `needed(path)` gives the sonames a
    file links to (PyInstaller's own reader by default)."""
    if needed is None:
        from PyInstaller.depend.bindepend import get_imports  # type: ignore[import-untyped]

        def needed(path: str) -> list[str]:
            return [soname for soname, _resolved in get_imports(path)]

    entries = list(entries)
    libraries: dict[str, list[Any]] = {}
    roots: list[str] = []
    for entry in entries:
        name = str(entry[0])
        if _library(name):
            libraries.setdefault(_library(name), []).append(entry)
        elif entry[2] == "EXTENSION" or "libpython" in name or "/plugins/" in name:
            roots.append(str(entry[1]))
    reached: set[str] = set()
    while roots:
        for soname in needed(roots.pop()):
            if soname in libraries and soname not in reached:
                reached.add(soname)
                roots += [str(e[1]) for e in libraries[soname] if e[2] != "SYMLINK"]
    return [entry for entry in entries if _library(str(entry[0])) in ("", *reached)]


def _library(name: str) -> str:
    """The file name of a shared library that other code links to; "" for anything else (a
    module Python imports, a Qt plugin, libpython, data)."""
    base = name.rsplit("/", 1)[-1]
    is_library = (
        base.startswith("lib")
        and ".so" in base
        and not base.startswith("libpython")
        and "/plugins/" not in name
        and not base.endswith(".abi3.so")
        and ".cpython-" not in base
    )
    return base if is_library else ""


def _own_modules() -> Iterator[str]:
    for package in ("gateway", "app"):
        base = ROOT / package
        for path in sorted(base.rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            if parts[-1] == "__main__":
                continue
            name = ".".join(parts)
            if name not in EXCLUDES:
                yield name


if __name__ == "__main__":
    # `python packaging/freeze.py`: what a build would take.
    print(f"{APP_NAME} {version()} ({sys.platform})")
    for source, target in data_files():
        print(f"data    {target}/{Path(source).name}")
    for module in hidden_imports():
        print(f"import  {module}")
