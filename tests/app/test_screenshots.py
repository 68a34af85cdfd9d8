"""Every section drawn offscreen at 100 % and 200 % scale, saved under `screenshots/` for a
reviewer to open."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from PySide6.QtGui import QImage

from tests.paths import REPO

SHOTS = REPO / "screenshots"
SECTIONS = ("overview", "models", "backends", "requests", "usage", "settings", "about")


def shoot(scale: int, theme: str = "light") -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QT_SCALE_FACTOR": str(scale)}
    suffix = f"-{scale}x" if theme == "light" else f"-{theme}"
    done = subprocess.run(
        [sys.executable, "-m", "tests.app.shoot", str(SHOTS), suffix, theme],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def colours(image: QImage) -> int:
    step = max(1, image.width() // 64)
    return len(
        {
            image.pixel(x, y)
            for x in range(0, image.width(), step)
            for y in range(0, image.height(), step)
        }
    )


@pytest.mark.timeout(400)
def test_each_section_is_drawn_at_scale_1_and_2() -> None:
    shoot(1)
    shoot(2)
    for section in SECTIONS:
        one = QImage(str(SHOTS / f"{section}-1x.png"))
        two = QImage(str(SHOTS / f"{section}-2x.png"))
        assert not one.isNull() and not two.isNull(), section
        # The same layout with twice the pixels: nothing reflowed, nothing clipped away.
        assert two.width() == 2 * one.width() and two.height() == 2 * one.height(), section
        assert colours(one) > 8 and colours(two) > 8, section


def lightness(image: QImage) -> float:
    step = max(1, image.width() // 64)
    values = [
        image.pixelColor(x, y).lightness()
        for x in range(0, image.width(), step)
        for y in range(0, image.height(), step)
    ]
    return sum(values) / len(values)


@pytest.mark.timeout(400)
def test_each_section_is_drawn_dark_when_asked() -> None:
    shoot(1, "dark")
    for section in SECTIONS:
        image = QImage(str(SHOTS / f"{section}-dark.png"))
        assert not image.isNull(), section
        assert lightness(image) < 90, section
        assert colours(image) > 8, section
