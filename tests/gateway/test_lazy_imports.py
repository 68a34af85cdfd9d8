"""What a headless gateway does not load until it needs it (issue #15's lighter gateway): checked
on the modules of a real `lmgate serve` process, started and asked a small request, not on
timings or sizes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import FakeBackend, free_port
from tests.paths import REPO

pytestmark = pytest.mark.alone

# `lmgate serve` in a child process; a watcher thread waits for /health, sends one small
# message request, writes down what is loaded and stops the server as a user's Ctrl+C would.
# Raw sockets only, so that the watcher itself imports nothing the check looks for.
_SERVE = textwrap.dedent(
    """
    import json, os, signal, socket, sys, threading, time
    from gateway.cli import main

    port, backend, model, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]

    def ask(raw):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(raw)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        return answer

    def watch():
        deadline = time.monotonic() + 30
        while True:
            try:
                if ask(b"GET /health HTTP/1.1\\r\\nhost: 127.0.0.1\\r\\n"
                       b"connection: close\\r\\n\\r\\n"):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    os._exit(3)
                time.sleep(0.05)
        from gateway import tokens
        bpe_at_start = tokens.is_loaded()
        body = json.dumps({"model": "claude-sonnet-4-6", "max_tokens": 16,
                           "messages": [{"role": "user", "content": "hi"}]}).encode()
        head = (f"POST /v1/messages HTTP/1.1\\r\\nhost: 127.0.0.1:{port}\\r\\n"
                f"content-type: application/json\\r\\ncontent-length: {len(body)}\\r\\n"
                "connection: close\\r\\n\\r\\n").encode()
        status = ask(head + body).split(b"\\r\\n", 1)[0].decode()
        from gateway.upstream import tls
        with open(out, "w") as found:
            json.dump({
                "status": status,
                "modules": sorted(k for k, v in sys.modules.items() if v is not None),
                "bpe_at_start": bpe_at_start,
                "verified_tls": tls.verified.cache_info().currsize,
            }, found)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=watch, daemon=True).start()
    sys.exit(main(["serve", "--port", str(port), "--backend", backend, "--big", model]))
    """
)

# Loaded on first use only: PDF reading (a document block), auto mode's review (a request with
# safeguards), pydantic's v1 layer (FastAPI's check for v1 models, built for a typed route
# parameter), httpx's command-line client (click, pygments, rich), Qt.
_LAZY = (
    "pypdf",
    "gateway.api.reviewer",
    "gateway.review",
    "gateway.review.rules",
    "gateway.review.classifier",
    "pydantic.v1",
    "httpx._main",
    "rich",
    "pygments",
    "PySide6",
)


@pytest.fixture
def served(fake_backend: Callable[..., FakeBackend], tmp_path: Path) -> dict[str, Any]:
    backend = fake_backend("llamacpp", models=["bench-model"])
    out = tmp_path / "found.json"
    port = str(free_port())
    result = subprocess.run(
        [sys.executable, "-c", _SERVE, port, backend.url, "bench-model", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert out.exists(), f"exit {result.returncode}: {result.stderr[-3000:]}"
    found: dict[str, Any] = json.loads(out.read_text())
    return found


def test_a_started_gateway_has_not_loaded_what_it_loads_on_first_use(
    served: dict[str, Any],
) -> None:
    assert served["status"] == "HTTP/1.1 200 OK"
    loaded = set(served["modules"])
    assert sorted(name for name in _LAZY if name in loaded) == []
    # The prompt counter's tables (~27 MB) wait for the first count (this backend lists its
    # context window, so the request counted its prompt).
    assert served["bpe_at_start"] is False
    # A local http:// backend: no verifying TLS context (certifi's CAs) was built.
    assert served["verified_tls"] == 0
