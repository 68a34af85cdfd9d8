"""`lmgate serve --backend A --backend B` as a user runs it: B answers when A fails before
answering, and the log line names the route taken."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Callable

import anthropic

from tests.e2e.test_serve import Lines, lmgate
from tests.fakes.replies import Error
from tests.fakes.server import FakeBackend

Start = Callable[..., FakeBackend]


def test_the_later_backends_are_the_fallbacks_of_the_first(fake_backend: Start) -> None:
    a, b = fake_backend("lmstudio"), fake_backend("lmstudio")
    a.default_reply = Error(500)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "SHELL": "/bin/bash"}
    env.pop("LMGATE_TOKEN", None)
    argv = [lmgate(), "serve", "--port", "0", "--backend", a.root_url, "--backend", b.url]
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as proc:
        try:
            out = Lines(proc)
            lines = out.until(r"export ANTHROPIC_BASE_URL=")
            url = re.search(r"listening on (http://127\.0\.0\.1:\d+)", "\n".join(lines))
            assert url, lines
            with anthropic.Anthropic(base_url=url.group(1), api_key="x", max_retries=0) as client:
                message = client.messages.create(
                    model="claude-sonnet-5-5",
                    max_tokens=16,
                    messages=[{"role": "user", "content": "hi"}],
                )
            assert message.content
            logged = out.until(r"claude-sonnet-5-5")[-1]
            assert "fallback-1/fake-model" in logged and " 200 " in logged
            assert "hops=[default HTTP 500, fallback-1 ok]" in logged
            assert len(a.chat_requests) == 1 and len(b.chat_requests) == 1
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
