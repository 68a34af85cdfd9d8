"""Team mode through a real gateway on loopback, driven as an operator and a team would: keys
issued with `lmgate clients`, the official SDK sending them as Claude Code does, limits
answered with Anthropic's 429, and `lmgate usage` and /metrics adding up to what the fake
backend served."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import anthropic
import httpx
import pytest

from tests.fakes.server import FakeBackend
from tests.gateway.api.client import wait_until
from tests.gateway.team.helpers import (
    IN,
    OUT,
    add_client,
    ask,
    run_lmgate,
    sdk,
    team_gateway,
    usage_json,
)


def _metric(base: str, key: str, line_start: str) -> int:
    text = httpx.get(f"{base}/metrics", headers={"x-api-key": key}).text
    for line in text.splitlines():
        if line.startswith(line_start):
            return int(line.rsplit(" ", 1)[1])
    return 0


def test_keys_are_issued_listed_revoked_and_checked(
    fake: FakeBackend, config: Path, tmp_path: Path
) -> None:
    key = add_client(config, "alice", "--daily-tokens", "1000", "--rpm", "50")
    listed = run_lmgate("clients", "list", "--config", str(config)).stdout
    assert "alice" in listed and "1000" in listed and "50" in listed
    stored = (tmp_path / "clients.toml").read_text()
    assert key not in listed and key not in stored
    assert hashlib.sha256(key.encode()).hexdigest() in stored
    assert (tmp_path / "clients.toml").stat().st_mode & 0o077 == 0
    again = run_lmgate("clients", "add", "alice", "--config", str(config), check=False)
    assert again.returncode == 1 and "exists" in again.stderr

    with team_gateway(fake, config) as server:
        with sdk(server.url, api_key=key) as client:  # ANTHROPIC_API_KEY: x-api-key
            assert ask(client).content[0].text == "ok"
        with sdk(server.url, auth_token=key) as client:  # ANTHROPIC_AUTH_TOKEN: Bearer
            assert ask(client).content[0].text == "ok"
        for wrong in ("lmg-not-a-key", key[:-1]):
            with sdk(server.url, api_key=wrong) as client:
                with pytest.raises(anthropic.AuthenticationError) as refused:
                    ask(client)
            assert refused.value.status_code == 401
            assert refused.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
        bare = httpx.post(
            f"{server.url}/v1/messages",
            json={"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}]},
        )
        assert bare.status_code == 401 and "client key" in bare.json()["error"]["message"]

        removed = run_lmgate("clients", "remove", "alice", "--config", str(config))
        assert "removed" in removed.stderr
        assert "alice" not in run_lmgate("clients", "list", "--config", str(config)).stdout

        def refused_now() -> bool:
            with sdk(server.url, api_key=key) as client:
                try:
                    ask(client)
                except anthropic.AuthenticationError:
                    return True
            return False

        # The gateway looks at the list at most once a second.
        wait_until(refused_now, "the revoked key refused", timeout=5)
    # Two successful requests reached the backend; no refused one did.
    assert len(fake.chat_requests) >= 2


def test_rate_and_budget_answer_429_with_retry_after(
    fake: FakeBackend, config: Path, tmp_path: Path
) -> None:
    quick = add_client(config, "bob", "--rpm", "2")
    thrifty = add_client(config, "carol", "--daily-tokens", str(2 * (IN + OUT)))
    ops = add_client(config, "ops", "--admin")
    with team_gateway(fake, config) as server:
        with sdk(server.url, api_key=quick) as client:
            ask(client)
            ask(client)
            with pytest.raises(anthropic.RateLimitError) as limited:
                ask(client)
        error = limited.value
        assert error.status_code == 429
        assert error.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
        headers = error.response.headers
        assert 1 <= int(headers["retry-after"]) <= 60
        assert headers["anthropic-ratelimit-requests-limit"] == "2"
        assert headers["anthropic-ratelimit-requests-remaining"] == "0"
        assert headers["anthropic-ratelimit-requests-reset"].endswith("Z")

        served = len(fake.chat_requests)
        with sdk(server.url, api_key=thrifty) as client:
            for spent in (1, 2):
                ask(client)
                # What an answer spent counts once its record is in: /metrics shows it.
                wait_until(
                    lambda spent=spent: (
                        _metric(  # type: ignore[misc]
                            server.url, ops, 'lmgate_input_tokens_total{client="carol"'
                        )
                        == spent * IN
                    ),
                    "carol's tokens counted",
                )
            with pytest.raises(anthropic.RateLimitError) as over:
                ask(client)
        assert len(fake.chat_requests) == served + 2  # the refused one never reached it
        headers = over.value.response.headers
        until_midnight = 86_400 - time.time() % 86_400
        assert abs(int(headers["retry-after"]) - until_midnight) <= 5
        assert headers["anthropic-ratelimit-tokens-limit"] == str(2 * (IN + OUT))
        assert "daily budget" in over.value.body["error"]["message"]  # type: ignore[index]
        limited_line = 'lmgate_rate_limited_total{client="carol",limit="tokens"}'
        assert _metric(server.url, ops, limited_line) == 1


def test_usage_adds_up_to_what_the_fake_served(
    fake: FakeBackend, config: Path, tmp_path: Path
) -> None:
    alice = add_client(config, "alice")
    bob = add_client(config, "bob", "--rpm", "2")
    with team_gateway(fake, config) as server:
        with sdk(server.url, api_key=alice) as client:
            ask(client)
            ask(client, "again")
            with client.messages.stream(
                model="claude-sonnet-4-6",
                max_tokens=16,
                messages=[{"role": "user", "content": "streamed"}],
            ) as events:
                assert events.get_final_message().usage.output_tokens == OUT
        with sdk(server.url, auth_token=bob) as client:
            ask(client)
            ask(client)
            with pytest.raises(anthropic.RateLimitError):
                ask(client)
    # Stopped: what the gateway kept is on disk.
    assert len(fake.chat_requests) == 5
    by_client = {line["client"]: line for line in usage_json(config, "--by", "client")}
    assert by_client == {
        "alice": {
            "client": "alice",
            "requests": 3,
            "errors": 0,
            "input_tokens": 3 * IN,
            "output_tokens": 3 * OUT,
        },
        "bob": {
            "client": "bob",
            "requests": 3,
            "errors": 1,
            "input_tokens": 2 * IN,
            "output_tokens": 2 * OUT,
        },
    }
    by_model = usage_json(config, "--by", "model")
    assert by_model == [
        {
            "model": "fake/fake-model",
            "requests": 5,
            "errors": 0,
            "input_tokens": 5 * IN,
            "output_tokens": 5 * OUT,
        },
        {  # refused before its body was read: no model is known
            "model": "?",
            "requests": 1,
            "errors": 1,
            "input_tokens": 0,
            "output_tokens": 0,
        },
    ]
    table = run_lmgate("usage", "--config", str(config)).stdout
    assert "alice" in table and "fake/fake-model" in table
    assert table.splitlines()[-1].split() == ["total", "6", "1", str(5 * IN), str(5 * OUT)]


def test_metrics_want_the_gateway_token_or_an_admin_key(fake: FakeBackend, config: Path) -> None:
    alice = add_client(config, "alice")
    ops = add_client(config, "ops", "--admin")
    # On loopback without --require-client-keys: the token works as before, and a client key
    # is recognised (its usage is its own).
    with team_gateway(fake, config, require_keys=False, token="gateway-token") as server:
        with sdk(server.url, api_key="gateway-token") as client:
            ask(client)
        with sdk(server.url, api_key=alice) as client:
            ask(client)
        with sdk(server.url, api_key="neither") as client:
            with pytest.raises(anthropic.AuthenticationError):
                ask(client)
        url = f"{server.url}/metrics"
        assert httpx.get(url).status_code == 401
        assert httpx.get(url, headers={"x-api-key": alice}).status_code == 401
        by_admin = httpx.get(url, headers={"authorization": f"Bearer {ops}"})
        by_token = httpx.get(url, headers={"x-api-key": "gateway-token"})
        assert by_admin.status_code == by_token.status_code == 200
        assert by_admin.headers["content-type"].startswith("text/plain; version=0.0.4")
        text = by_token.text
        assert "# TYPE lmgate_requests_total counter" in text
        assert 'lmgate_requests_total{client="alice",model="fake/fake-model"} 1' in text
        assert 'lmgate_requests_total{client="",model="fake/fake-model"} 1' in text
        assert f'lmgate_output_tokens_total{{client="alice",model="fake/fake-model"}} {OUT}' in (
            text
        )
        assert alice not in text and ops not in text


def test_a_restart_does_not_hand_out_a_second_budget(fake: FakeBackend, config: Path) -> None:
    thrifty = add_client(config, "carol", "--daily-tokens", str(IN + OUT))
    with team_gateway(fake, config) as server:
        with sdk(server.url, api_key=thrifty) as client:
            ask(client)
    # What carol spent is in the history; a new gateway reads it at start.
    with team_gateway(fake, config) as server:
        with sdk(server.url, api_key=thrifty) as client:
            with pytest.raises(anthropic.RateLimitError):
                ask(client)
    assert len(fake.chat_requests) == 1
