"""A real `redis-server` (Debian's package, provisioned like the suite's other tools) on a free
loopback port, for the tests of gateway replicas; the fake backend and the operator's config
file the team tests share."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.server import FakeBackend, free_port
from tests.gateway.api.client import Start
from tests.gateway.team.helpers import reply_with_usage
from tests.provision import ensure_debian_packages


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    ensure_debian_packages(("redis-server",))
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is installed but not on PATH; add its folder to PATH")
    port = free_port()
    command = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(tmp_path),
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
        try:
            deadline = time.monotonic() + 10
            while not _answers(port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    output = proc.stdout.read().decode() if proc.stdout else ""
                    pytest.fail(f"redis-server did not start on port {port}:\n{output}")
                time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait(10)


@pytest.fixture
def fake(fake_backend: Start) -> FakeBackend:
    backend = fake_backend("lmstudio")
    reply_with_usage(backend)
    return backend


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """The operator's config file (defaults); clients.toml and the history go beside it."""
    path = tmp_path / "config.toml"
    path.write_text("")
    return path
