"""Fixtures of the packaging tests: the Linux build, made once per session (and cached)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.packaging.frozen import build_module, linux_build


@dataclass(frozen=True)
class FrozenBuild:
    dist: Path
    output: Path  # the folder users run from
    executable: Path
    archive: Path
    log: str


@pytest.fixture(scope="session")
def frozen_build() -> FrozenBuild:
    dist, log = linux_build()
    build = build_module()
    _, suffix = build.target()
    output = dist / "lmgate"
    archive = dist / f"lmgate-{build.freeze.version()}-{suffix}"
    return FrozenBuild(dist, output, output / "lmgate", archive, log)
