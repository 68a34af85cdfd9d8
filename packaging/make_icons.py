"""Generate the platform icons from the SVG master `resources/lmgate.svg`:
`python packaging/make_icons.py` writes packaging/icons/ (PNG sizes, lmgate.ico, lmgate.icns).

Rendered by QtSvg, written by Pillow (no macOS tool needed), byte for byte the same on every run
with the same Qt and Pillow: a test regenerates them and compares.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ROOT = Path(__file__).resolve().parent.parent
MASTER = ROOT / "resources" / "lmgate.svg"
OUT = ROOT / "packaging" / "icons"
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512, 1024)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICNS_SIZES = (32, 64, 128, 256, 512, 1024)

__all__ = ["ICNS_SIZES", "ICO_SIZES", "PNG_SIZES", "generate", "main", "render"]


def render(svg: bytes, size: int) -> Image.Image:
    """One square RGBA image of the SVG at `size` pixels."""
    renderer = QSvgRenderer(QByteArray(svg))
    if not renderer.isValid():
        raise ValueError("the SVG master cannot be read")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    rgba = image.convertToFormat(QImage.Format.Format_RGBA8888)
    data = bytes(rgba.constBits())
    return Image.frombuffer("RGBA", (size, size), data, "raw", "RGBA", rgba.bytesPerLine(), 1)


def generate(out: Path, master: Path = MASTER) -> list[Path]:
    """Write every icon file into `out`; returns their paths."""
    if QGuiApplication.instance() is None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        app = QGuiApplication(["make_icons"])  # noqa: F841 - QPainter needs an application
    svg = master.read_bytes()
    images = {size: render(svg, size) for size in PNG_SIZES}
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for size, image in images.items():
        path = out / f"lmgate-{size}.png"
        image.save(path, format="PNG", optimize=True)
        written.append(path)
    ico = out / "lmgate.ico"
    images[256].save(
        ico,
        format="ICO",
        sizes=[(s, s) for s in ICO_SIZES],
        append_images=[images[s] for s in ICO_SIZES if s != 256],
    )
    icns = out / "lmgate.icns"
    images[1024].save(
        icns, format="ICNS", append_images=[images[s] for s in ICNS_SIZES if s != 1024]
    )
    return [*written, ico, icns]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate the app icons from the SVG master.")
    parser.add_argument("--out", type=Path, default=OUT, help=f"where to write (default: {OUT})")
    args = parser.parse_args(argv)
    for path in generate(args.out):
        print(f"{path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
