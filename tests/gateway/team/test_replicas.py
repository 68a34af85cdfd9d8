"""Two real `lmgate serve` processes sharing a real redis-server on loopback, as replicas
behind a load balancer: a message thread started through one continues through the other, a
daily budget spent through both is enforced once, and `lmgate usage` reads the shared figures."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import anthropic
import pytest

from tests.e2e.test_serve import Lines
from tests.fakes.server import FakeBackend
from tests.gateway.api.client import wait_until
from tests.gateway.team.helpers import (
    IN,
    OUT,
    add_client,
    ask,
    lmgate,
    sdk,
    usage_json,
)

THREADS_BETA = "message-threads-2026-08-12"


@contextmanager
def replica(
    fake: FakeBackend, config: Path, redis_url: str, console: list[str] | None = None
) -> Iterator[str]:
    """`lmgate serve` with the shared Redis; yields its URL. `console`: gets what it printed."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("LMGATE_TOKEN", None)
    command = [
        lmgate(),
        "serve",
        "--port",
        "0",
        "--backend",
        fake.root_url,
        "--big",
        "fake-model",
        "--small",
        "fake-model",
        "--require-client-keys",
        "--redis",
        redis_url,
        "--config",
        str(config),
    ]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as proc:
        try:
            out = Lines(proc)
            lines = out.until(r"listening on http://127\.0\.0\.1:\d+", timeout=30)
            found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", "\n".join(lines))
            assert found, lines
            yield found.group(1)
        finally:
            proc.terminate()
            assert proc.wait(10) == 0
            assert proc.stderr is not None
            errors = proc.stderr.read()
            assert "Traceback" not in errors
            out.thread.join(5)
            if console is not None:
                console += [*lines, *iter(out.queue.get_nowait, None), errors]


def _texts(body: dict[str, Any]) -> list[str]:
    return [m["content"] for m in body["messages"] if isinstance(m.get("content"), str)]


def test_replicas_share_threads_budgets_and_usage(
    fake: FakeBackend, config: Path, redis_url: str
) -> None:
    alice = add_client(config, "alice")
    carol = add_client(config, "carol", "--daily-tokens", str(2 * (IN + OUT)))
    with ExitStack() as stack:
        console: list[str] = []
        first = stack.enter_context(replica(fake, config, redis_url, console))
        second = stack.enter_context(replica(fake, config, redis_url, console))

        # A thread created through one replica, continued through the other.
        with sdk(first, api_key=alice) as one, sdk(second, api_key=alice) as other:
            opened = one.beta.messages.create(
                model="claude-sonnet-4-6",
                max_tokens=16,
                messages=[{"role": "user", "content": "Weather in Paris?"}],
                betas=[THREADS_BETA],
                extra_body={"thread": {"type": "create"}},
            )
            continued = other.beta.messages.create(
                model="claude-sonnet-4-6",
                max_tokens=16,
                messages=[{"role": "user", "content": "And tomorrow?"}],
                betas=[THREADS_BETA],
                extra_body={"thread": {"type": "continue", "previous_message_id": opened.id}},
            )
            assert continued.content[0].type == "text"
            # The other replica rebuilt the whole conversation from the shared store.
            assert _texts(fake.chat_requests[-1].body)[-3:] == [
                "Weather in Paris?",
                "ok",
                "And tomorrow?",
            ]
            # A continue names a reply once: the first replica no longer has it either.
            with pytest.raises(anthropic.NotFoundError):
                one.beta.messages.create(
                    model="claude-sonnet-4-6",
                    max_tokens=16,
                    messages=[{"role": "user", "content": "Again?"}],
                    betas=[THREADS_BETA],
                    extra_body={"thread": {"type": "continue", "previous_message_id": opened.id}},
                )

        # A budget of two answers, spent one through each replica, refused by both.
        def carol_spent() -> int:
            lines = usage_json(config, "--by", "client", "--redis", redis_url)
            return sum(
                x["input_tokens"] + x["output_tokens"] for x in lines if x["client"] == "carol"
            )

        for n, url in enumerate((first, second), start=1):
            with sdk(url, api_key=carol) as client:
                ask(client)
            wait_until(lambda n=n: carol_spent() == n * (IN + OUT), "carol's usage shared")  # type: ignore[misc]
        served = len(fake.chat_requests)
        for url in (first, second):
            with sdk(url, auth_token=carol) as client:
                with pytest.raises(anthropic.RateLimitError) as over:
                    ask(client)
            assert over.value.response.headers["retry-after"]
        assert len(fake.chat_requests) == served

    # Both replicas stopped; the shared figures stay, and add up to what the fake served.
    lines = {x["client"]: x for x in usage_json(config, "--by", "client", "--redis", redis_url)}
    assert lines["alice"] == {
        "client": "alice",
        "requests": 3,
        "errors": 1,
        "input_tokens": 2 * IN,
        "output_tokens": 2 * OUT,
    }
    assert lines["carol"] == {
        "client": "carol",
        "requests": 4,
        "errors": 2,
        "input_tokens": 2 * IN,
        "output_tokens": 2 * OUT,
    }
    assert len(fake.chat_requests) == 4
    # The console logs each request under the key's name, never the key itself.
    printed = "\n".join(console)
    assert "client=alice" in printed and "client=carol" in printed
    assert alice not in printed and carol not in printed
    # The export line asks for the person's own key, not the gateway token nobody may use.
    assert (
        "ANTHROPIC_AUTH_TOKEN='<your client key: `lmgate clients add NAME` prints it>'" in printed
    )
