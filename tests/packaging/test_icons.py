"""packaging/make_icons.py: the committed icons are what the SVG master renders to today, byte
for byte, and each file holds the sizes its platform asks for."""

from __future__ import annotations

import importlib.util
import types
from pathlib import Path

import pytest
from PIL import Image

from tests.paths import REPO

ICONS = REPO / "packaging" / "icons"


@pytest.fixture(scope="module")
def make_icons() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_icons", REPO / "packaging" / "make_icons.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_icons_are_the_master_regenerated(
    make_icons: types.ModuleType, tmp_path: Path, qapp: object
) -> None:
    written = make_icons.generate(tmp_path)
    assert sorted(p.name for p in written) == sorted(p.name for p in ICONS.iterdir())
    stale = [p.name for p in written if p.read_bytes() != (ICONS / p.name).read_bytes()]
    assert not stale, f"run `uv run python packaging/make_icons.py`: {stale} differ"


def test_each_file_has_the_sizes_its_platform_uses(make_icons: types.ModuleType) -> None:
    for size in make_icons.PNG_SIZES:
        with Image.open(ICONS / f"lmgate-{size}.png") as png:
            assert (png.format, png.size, png.mode) == ("PNG", (size, size), "RGBA")
            # Transparent corners (the rounded square), an opaque middle.
            corner, middle = png.getpixel((0, 0)), png.getpixel((size // 2, size // 2))
            assert isinstance(corner, tuple) and isinstance(middle, tuple)
            assert corner[3] == 0 and middle[3] == 255
    with Image.open(ICONS / "lmgate.ico") as ico:
        assert ico.format == "ICO"
        assert ico.info["sizes"] == {(s, s) for s in make_icons.ICO_SIZES}
    with Image.open(ICONS / "lmgate.icns") as icns:
        assert icns.format == "ICNS"
        # (points, points, scale): 512@2x is the 1024-pixel image Retina screens ask for.
        assert {(16, 16, 2), (128, 128, 1), (256, 256, 2), (512, 512, 2)} <= set(icns.info["sizes"])
