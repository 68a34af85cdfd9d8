"""Which key a request needs, by where the gateway listens and whether clients exist: the rule
the guard applies (gateway/team/gate.py), checked on the guard itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.api.guard import Guard
from gateway.errors import AuthenticationFailed
from gateway.team.clients import add_client
from gateway.team.gate import CLIENT_SCOPE_KEY, Team, TeamFiles


async def _app(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("not called")


def _guard(tmp_path: Path, host: str, *, require: bool = False) -> Guard:
    team = Team(TeamFiles(tmp_path / "clients.toml"), bind_host=host, require_keys=require)
    team.book.recheck = 0  # see each change at once
    return Guard(
        _app,
        bind_host=host,
        allowed_hosts=[],
        token=lambda: "gateway-token",
        max_body_bytes=1024,
        team=team,
    )


def _scope(key: str | None, path: str = "/v1/models") -> dict[str, Any]:
    headers = [(b"host", b"127.0.0.1:8082")]
    if key is not None:
        headers.append((b"x-api-key", key.encode()))
    return {"type": "http", "method": "GET", "path": path, "headers": headers}


@pytest.mark.parametrize("host", ["0.0.0.0", "127.0.0.1"])
def test_without_clients_the_gateway_token_is_what_is_asked(tmp_path: Path, host: str) -> None:
    guard = _guard(tmp_path, host)
    assert guard.check(_scope("gateway-token")) is None
    assert isinstance(guard.check(_scope(None)), AuthenticationFailed)


def test_off_loopback_a_client_key_is_required_once_a_client_exists(tmp_path: Path) -> None:
    guard = _guard(tmp_path, "0.0.0.0")
    _, key = add_client(tmp_path / "clients.toml", "alice")
    refused = guard.check(_scope("gateway-token"))
    assert isinstance(refused, AuthenticationFailed) and "client key" in refused.message
    scope = _scope(key)
    assert guard.check(scope) is None
    assert scope[CLIENT_SCOPE_KEY].name == "alice"


def test_on_loopback_both_work_unless_client_keys_are_required(tmp_path: Path) -> None:
    _, key = add_client(tmp_path / "clients.toml", "alice")
    open_guard = _guard(tmp_path, "127.0.0.1")
    assert open_guard.check(_scope("gateway-token")) is None
    scope = _scope(key)
    assert open_guard.check(scope) is None and scope[CLIENT_SCOPE_KEY].name == "alice"
    strict = _guard(tmp_path, "127.0.0.1", require=True)
    assert isinstance(strict.check(_scope("gateway-token")), AuthenticationFailed)
    assert strict.check(_scope(key)) is None


def test_a_broken_client_list_keeps_the_last_good_one(tmp_path: Path) -> None:
    guard = _guard(tmp_path, "0.0.0.0")
    _, key = add_client(tmp_path / "clients.toml", "alice")
    assert guard.check(_scope(key)) is None
    (tmp_path / "clients.toml").write_text("[[client]\nbroken")
    assert guard.check(_scope(key)) is None
    assert isinstance(guard.check(_scope("gateway-token")), AuthenticationFailed)


def test_health_takes_the_gateway_token_even_where_client_keys_are_required(
    tmp_path: Path,
) -> None:
    guard = _guard(tmp_path, "0.0.0.0")
    _, key = add_client(tmp_path / "clients.toml", "alice")
    assert guard.check(_scope("gateway-token", "/health")) is None
    assert guard.check(_scope(key, "/health")) is None
    assert isinstance(guard.check(_scope(None, "/health")), AuthenticationFailed)
    assert isinstance(guard.check(_scope("gateway-token", "/v1/models")), AuthenticationFailed)
