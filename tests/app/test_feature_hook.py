"""app/feature_hook.py: PySide6's import hook keeps no module's source once quieted (checked on
linecache in a fresh interpreter, not on memory figures)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from tests.paths import REPO

pytestmark = pytest.mark.alone

_HOOK = textwrap.dedent(
    """
    import json, linecache, sys
    from app.feature_hook import quiet

    installed = quiet() if sys.argv[1] == "quiet" else None
    import PySide6.QtCore  # the hook scans every module imported so far
    import gateway.runner  # and every one imported after
    import fastapi
    files = (fastapi.__file__, sys.modules["gateway.runner"].__file__)
    print(json.dumps({"installed": installed,
                      "cached": [f for f in files if f in linecache.cache]}))
    """
)


def _hook(mode: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", _HOOK, mode], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


def test_pysides_import_hook_keeps_no_module_source_once_quieted() -> None:
    quieted = _hook("quiet")
    assert quieted == {"installed": True, "cached": []}


def test_pysides_import_hook_alone_keeps_the_sources() -> None:
    """What app.feature_hook is for: with PySide6 6.12 as it is, the sources stay cached."""
    assert _hook("plain")["cached"] != []
