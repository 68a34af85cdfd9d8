"""Suite-wide fixtures: isolation from the user's own files, provisioning, fake backends and an
in-process gateway."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import settings

from tests.fakes import FakeBackend, free_port
from tests.parallel import LOCKS_VARIABLE, Scheduling, run_lock, workers
from tests.provision import ensure_claude_code, ensure_debian_packages

if TYPE_CHECKING:
    from xdist.remote import Producer

    from gateway.events import EventBus
    from gateway.runner import GatewayServer

# Before anything imports Qt: no test may need a display unless it starts Xvfb itself.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# CI replays the same examples every run (a red CI must mean a change broke something); a
# developer's run explores new ones.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# Re-exported: tests that need a port nobody listens on call free_port().
__all__ = ["free_port"]

_LOCKS = pytest.StashKey[str]()


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """`-n auto` (pyproject's addopts) becomes the number of workers tests.parallel chooses for
    the selected marks. Runs before pytest-xdist reads the option."""
    if config.option.numprocesses == "auto":  # not when a number is given: `-n 0`, `-n 4`
        config.option.numprocesses = workers(config.option.markexpr)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "real_keyring: use the system keyring instead of the null backend the suite forces",
    )
    if config.option.numprocesses and not os.environ.get("PYTEST_XDIST_WORKER"):
        # The controlling process of a parallel run: its workers, started after this, inherit
        # the folder of the run's lock.
        folder = tempfile.mkdtemp(prefix="lmgate-test-run-")
        config.stash[_LOCKS] = folder
        os.environ[LOCKS_VARIABLE] = folder


def pytest_unconfigure(config: pytest.Config) -> None:
    lock = run_lock()
    if lock is not None:
        lock.close()
    folder = config.stash.get(_LOCKS, None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
        os.environ.pop(LOCKS_VARIABLE, None)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    """Setup, call and teardown of each test hold the run's lock: shared, or alone for a test
    marked `alone` (tests.parallel.RunLock)."""
    lock = run_lock()
    if lock is None:
        return (yield)
    with lock.held(alone=item.get_closest_marker("alone") is not None):
        return (yield)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """On parallel workers, tests marked `alone` last: early on, one would wait for the other
    worker's test to end, the frozen build among them, with every other test held back."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=lambda item: item.get_closest_marker("alone") is not None)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Producer) -> Scheduling | None:
    """`-n`'s default distribution, with the tests that share a build kept together."""
    return Scheduling(config, log) if config.getvalue("dist") == "load" else None


@pytest.fixture(autouse=True)
def _isolated_user_dirs(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No test reads or writes the user's config, state or data, nor their keyring.

    XDG_CACHE_HOME is left alone on purpose: the pinned Claude Code lives in the cache and an
    install is 245 MB.
    """
    base = tmp_path_factory.mktemp("xdg")
    for variable, name in (
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_DATA_HOME", "data"),
    ):
        (base / name).mkdir()
        monkeypatch.setenv(variable, str(base / name))
    if request.node.get_closest_marker("real_keyring") is None:
        monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")


@pytest.fixture(scope="session")
def debian_packages() -> None:
    """Xvfb, openbox, gnome-keyring, the xcb libraries…: installed when missing (as root)."""
    ensure_debian_packages()


@pytest.fixture(scope="session")
def claude_cli() -> Path:
    """The pinned Claude Code executable (tests.provision.CLAUDE_CODE_VERSION)."""
    return ensure_claude_code()


@pytest.fixture
def fake_backend() -> Iterator[Callable[..., FakeBackend]]:
    """Start fake backends: `fake_backend("ollama", strict_template=True, models=[...])`.
    Every one started is stopped at teardown."""
    started: list[FakeBackend] = []

    def start(
        flavour: str = "lmstudio",
        *,
        strict_template: bool = False,
        models: list[str] | None = None,
        **options: Any,
    ) -> FakeBackend:
        backend = FakeBackend(flavour, strict_template=strict_template, models=models, **options)
        started.append(backend)
        return backend.start()

    yield start
    for backend in started:
        backend.stop()


@pytest.fixture
def gateway_server() -> Iterator[Callable[..., GatewayServer]]:
    """Start the gateway in-process against a backend URL:
    `gateway_server(fake.url, commit_after=0.2)`; keyword `bus` and `token` go to the server,
    every other keyword overrides a GatewayConfig field. Stopped at teardown."""
    from gateway.config import BackendConfig, GatewayConfig
    from gateway.events import EventBus
    from gateway.runner import GatewayServer

    started: list[GatewayServer] = []

    def start(
        backend_url: str,
        *,
        bus: EventBus | None = None,
        token: str | None = None,
        **config_overrides: Any,
    ) -> GatewayServer:
        fields: dict[str, Any] = {
            "port": 0,
            "backends": [BackendConfig(id="fake", url=backend_url)],
            # Only that backend: no probing of the machine's default ports.
            "discover": False,
            "big": "fake-model",
            "small": "fake-model",
            **config_overrides,
        }
        server = GatewayServer(GatewayConfig(**fields), bus=bus or EventBus(), token=token)
        started.append(server)
        server.start()
        return server

    yield start
    for server in reversed(started):
        server.stop()
