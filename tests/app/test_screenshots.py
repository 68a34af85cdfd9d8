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
SECTIONS = ("overview", "models", "backends", "requests", "settings")


def shoot(scale: int) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QT_SCALE_FACTOR": str(scale)}
    done = subprocess.run(
        [sys.executable, "-m", "tests.app.shoot", str(SHOTS), f"-{scale}x"],
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
