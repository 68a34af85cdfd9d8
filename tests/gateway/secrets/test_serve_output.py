"""`lmgate serve --token …` as a user runs it, with a backend key from the environment: after
good requests, 401s of both kinds and a stream, neither the console nor the log file it writes
holds the token or the key, and the log file is the user's alone."""

from __future__ import annotations

import os
import queue
import re
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

import httpx

from gateway.config import BackendConfig, GatewayConfig, default_log_dir, save_config
from gateway.logfile import LOG_FILE_NAME
from tests.fakes.replies import Error
from tests.fakes.server import FakeBackend

TOKEN = "lmg-TOKEN-MARKER-31b7c9d4"
KEY = "sk-KEY-MARKER-0a6f52e1"
MARKERS = (TOKEN, KEY, TOKEN[4:20], KEY[3:19])
BODY = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 5,
    "messages": [{"role": "user", "content": "hi"}],
}


def leaks(text: str) -> list[str]:
    return [marker for marker in MARKERS if marker in text]


class Pump:
    """A pipe read on a thread, line by line, so that a test can wait for a line."""

    def __init__(self, pipe: IO[str]) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._thread.start()

    def _read(self, pipe: IO[str]) -> None:
        for line in pipe:
            self._queue.put(line)
        self._queue.put(None)

    def until(self, pattern: str, timeout: float = 20) -> str:
        while True:
            line = self._queue.get(timeout=timeout)
            assert line is not None, f"the output ended without {pattern!r}: {self.lines}"
            self.lines.append(line)
            if re.search(pattern, line):
                return line

    def rest(self) -> str:
        self._thread.join(10)
        while (line := self._queue.get_nowait()) is not None:
            self.lines.append(line)
        return "".join(self.lines)


def test_serve_prints_and_logs_no_secret(
    fake_backend: Callable[..., FakeBackend], tmp_path: Path
) -> None:
    fake = fake_backend("lmstudio")
    config = GatewayConfig(
        port=0,
        backends=[BackendConfig(id="fake", url=fake.url, api_key_env="LMGATE_TEST_KEY")],
        discover=False,
        big="fake-model",
    )
    path = save_config(config, tmp_path / "config.toml")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "SHELL": "/bin/bash", "LMGATE_TEST_KEY": KEY}
    env.pop("LMGATE_TOKEN", None)
    lmgate = str(Path(sys.executable).with_name("lmgate"))
    argv = [lmgate, "serve", "--config", str(path), "--token", TOKEN]
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as proc:
        try:
            assert proc.stdout is not None and proc.stderr is not None
            out, err = Pump(proc.stdout), Pump(proc.stderr)
            found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", out.until("listening on"))
            assert found
            url = f"{found.group(1)}/v1/messages"
            good = {"x-api-key": TOKEN}
            assert httpx.post(url, json=BODY, headers=good, timeout=10).status_code == 200
            stream = {**BODY, "stream": True}
            bearer = {"authorization": f"Bearer {TOKEN}"}
            assert httpx.post(url, json=stream, headers=bearer, timeout=10).status_code == 200
            for headers in ({}, {"x-api-key": TOKEN[:-1]}, {"authorization": TOKEN}):
                refused = httpx.post(url, json=BODY, headers=headers, timeout=10)
                assert refused.status_code == 401 and not leaks(refused.text)
            fake.script(Error(401, {"error": {"message": "Invalid API key"}}))
            refused = httpx.post(url, json=BODY, headers=good, timeout=10)
            assert refused.status_code == 401 and not leaks(refused.text)
            out.until(r"POST /v1/messages .* 401 ")  # the record of the backend's refusal
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        stdout, stderr = out.rest(), err.rest()

    # The key was in play: the backend got it from the environment.
    assert fake.chat_requests[0].headers["authorization"] == f"Bearer {KEY}"
    log_dir = default_log_dir()
    log = log_dir / LOG_FILE_NAME
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log_dir.stat().st_mode) == 0o700
    logged = log.read_text(encoding="utf-8")
    assert "POST /v1/messages" in logged and not leaks(logged)
    assert not leaks(path.read_text(encoding="utf-8"))
    assert "Traceback" not in stderr and not leaks(stderr), stderr
    printed = [line for line in stdout.splitlines() if leaks(line)]
    assert printed == [], "the token or the key is printed by `lmgate serve`"
