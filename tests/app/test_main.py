"""The real app process (offscreen): one instance only, a clean exit on SIGTERM and SIGINT, and a
corrupt config that is set aside instead of stopping it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from app.instance import instance_key
from gateway.config import BackendConfig, GatewayConfig, save_config
from tests.fakes import FakeBackend, free_port
from tests.paths import REPO

RUN = "import sys; from app.main import run; sys.exit(run())"
STARTUP_S = 60.0


def app_env(home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("XDG_", "DBUS_", "LMGATE_"))
        and k not in ("DISPLAY", "WAYLAND_DISPLAY")
    }
    for name in ("config", "state", "data", "cache"):
        (home / name).mkdir(parents=True, exist_ok=True)
    env.update(
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_STATE_HOME=str(home / "state"),
        XDG_DATA_HOME=str(home / "data"),
        XDG_CACHE_HOME=str(home / "cache"),
        CLAUDE_CONFIG_DIR=str(home / "claude"),
        PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
        QT_QPA_PLATFORM="offscreen",
    )
    return env


def config_path(home: Path) -> Path:
    return home / "config" / "lmgate" / "config.toml"


class AppProcess:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.process = subprocess.Popen(
            [sys.executable, "-c", RUN],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def second_launch(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", RUN],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=STARTUP_S,
            check=False,
        )

    def wait_until_it_answers_a_second_launch(self, config: Path) -> str:
        # Its local server's socket shows that it runs; a second launch made any earlier could
        # become the first instance itself.
        socket_path = Path(tempfile.gettempdir()) / instance_key(config)
        deadline = time.monotonic() + STARTUP_S
        while not socket_path.exists():
            assert self.process.poll() is None, self.process.communicate()
            assert time.monotonic() < deadline, "the app did not start listening"
            time.sleep(0.1)
        second = self.second_launch()
        assert second.returncode == 0, second.stderr
        assert "already running" in second.stderr
        assert self.process.poll() is None
        return second.stderr

    def stop(self, signum: int) -> tuple[int, str]:
        self.process.send_signal(signum)
        _, err = self.process.communicate(timeout=30)
        return self.process.returncode, err


@pytest.fixture
def launched() -> Iterator[Callable[[dict[str, str]], AppProcess]]:
    started: list[AppProcess] = []

    def launch(env: dict[str, str]) -> AppProcess:
        app = AppProcess(env)
        started.append(app)
        return app

    yield launch
    for app in started:
        if app.process.poll() is None:
            app.process.kill()
            app.process.communicate(timeout=30)


def test_one_instance_serves_and_sigterm_quits_cleanly(
    tmp_path: Path,
    fake_backend: Callable[..., FakeBackend],
    launched: Callable[[dict[str, str]], AppProcess],
) -> None:
    backend = fake_backend("lmstudio")
    port = free_port()
    env = app_env(tmp_path)
    config = GatewayConfig(
        port=port, discover=False, backends=[BackendConfig(id="lmstudio", url=backend.url)]
    )
    save_config(config, config_path(tmp_path))

    app = launched(env)
    app.wait_until_it_answers_a_second_launch(config_path(tmp_path))
    deadline = time.monotonic() + STARTUP_S
    while True:
        try:
            health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
            break
        except httpx.HTTPError:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    assert health.status_code == 200

    code, err = app.stop(signal.SIGTERM)

    assert code == 0, err
    assert "Traceback" not in err
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)


def test_a_corrupt_config_is_set_aside_and_sigint_quits(
    tmp_path: Path, launched: Callable[[dict[str, str]], AppProcess]
) -> None:
    env = app_env(tmp_path)
    path = config_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text("[[backends]\nurl = ", encoding="utf-8")

    app = launched(env)
    app.wait_until_it_answers_a_second_launch(path)
    assert (path.parent / "config.toml.corrupt-1").read_text() == "[[backends]\nurl = "

    code, err = app.stop(signal.SIGINT)
    assert code == 0, err
    assert "Traceback" not in err


def test_a_lost_config_runs_on_its_backup_and_says_so_on_stderr_and_in_the_log(
    tmp_path: Path, launched: Callable[[dict[str, str]], AppProcess]
) -> None:
    env = app_env(tmp_path)
    path = config_path(tmp_path)
    save_config(GatewayConfig(port=0, discover=False, big="kept-big"), path)
    os.replace(path, path.with_name("config.toml.bak"))

    app = launched(env)
    app.wait_until_it_answers_a_second_launch(path)
    code, err = app.stop(signal.SIGTERM)
    assert code == 0, err
    assert "config.toml is missing; LM Gate is using the settings in its backup" in err
    log = tmp_path / "state" / "lmgate" / "log" / "lmgate.log"
    logged = log.read_text(encoding="utf-8")
    assert "WARNING lmgate.app: the config file" in logged and "config.toml.bak" in logged
    assert not path.exists()  # nothing is written until the user keeps or changes the settings
