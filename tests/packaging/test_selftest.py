"""`lmgate self-test` from the source tree: what it checks, that each check can fail, and the
exit status. (tests/packaging/test_frozen.py runs it from the build.)"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from typing import Any

import pytest
from PySide6.QtGui import QImage

from app.selftest import drawn
from gateway import selftest, tokens
from gateway.selftest import FakeOpenAI, gateway_checks
from tests.paths import REPO
from tests.reference_tokens import reference_count


def lmgate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def lines_of(stdout: str) -> dict[str, str]:
    """check name → its line."""
    return {line[6:].split(":", 1)[0]: line for line in stdout.splitlines() if line[4:6] == "  "}


def test_self_test_checks_the_gui_the_bundle_and_the_gateway() -> None:
    result = lmgate("self-test", "--no-keyring")
    assert result.returncode == 0, result.stdout + result.stderr
    checks = lines_of(result.stdout)
    assert all(line.startswith("ok") for line in checks.values()), result.stdout
    assert list(checks)[:6] == ["qt", "fonts", "icons", "window", "sections", "tray"]
    assert "'offscreen'" in checks["qt"]
    assert "Overview" in checks["sections"] and "Settings" in checks["sections"]
    assert "'The gateway answered the self-test.'" in checks["message"]
    assert "source install" in checks["python"]
    assert checks["keyring"] == "ok    keyring: not checked (--no-keyring)"
    assert result.stdout.endswith("lmgate self-test: all checks passed\n")


def test_self_test_fails_when_the_keyring_cannot_keep_a_secret() -> None:
    # The suite pins keyring's null backend, which accepts a value and forgets it.
    assert os.environ["PYTHON_KEYRING_BACKEND"] == "keyring.backends.null.Keyring"
    result = lmgate("self-test", "--no-gui")
    assert result.returncode == 1
    checks = lines_of(result.stdout)
    assert "qt" not in checks
    assert checks["keyring"] == (
        "FAIL  keyring: a value set in the keyring did not read back "
        "(--no-keyring skips this check)"
    )
    assert result.stdout.endswith("lmgate self-test: 1 check(s) failed\n")


def test_the_gateway_checks_fail_on_a_wrong_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    def wrong() -> dict[str, Any]:
        answer = original()
        answer["choices"][0]["message"]["content"] = "something else"
        return answer

    original = selftest._completion
    monkeypatch.setattr(selftest, "_completion", wrong)
    with FakeOpenAI() as fake:
        checks = {check.name: check for check in gateway_checks(fake)}
    assert not checks["message"].ok and "something else" in checks["message"].detail
    assert checks["stream"].ok and checks["health"].ok


def test_run_reports_a_fake_backend_that_cannot_start(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: FakeOpenAI) -> FakeOpenAI:
        raise RuntimeError("the self-test's fake backend did not start")

    monkeypatch.setattr(FakeOpenAI, "__enter__", broken)
    out = io.StringIO()
    assert selftest.run(keyring=False, gui=False, out=out) == 1
    assert "FAIL  fake backend: the self-test's fake backend did not start" in out.getvalue()


def test_drawn_tells_a_blank_image_from_a_drawing() -> None:
    blank = QImage(32, 32, QImage.Format.Format_ARGB32)
    blank.fill(0)
    assert not drawn(blank)
    assert not drawn(QImage())
    blank.setPixel(3, 3, 0xFF000000)
    assert drawn(blank)


def test_the_self_tests_token_count_is_the_references() -> None:
    # The frozen build's self-test expects this exact figure from its bundled tokenizer.
    expected = reference_count(selftest.COUNT_TEXT) + tokens.MESSAGE_OVERHEAD_TOKENS
    assert selftest.COUNT_EXPECTED == expected
    assert not selftest.COUNT_TEXT.isascii()
