"""The loopback rule: which hosts are this machine only, and when a token is required."""

from __future__ import annotations

import pytest

from gateway.loopback import is_loopback, unguarded


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("localhost", True),
        ("LocalHost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("my-laptop.local", False),
        ("", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("host", "token", "refused"),
    [
        ("127.0.0.1", None, False),
        ("127.0.0.1", "t0ken", False),
        ("0.0.0.0", None, True),
        ("0.0.0.0", "", True),
        ("0.0.0.0", "t0ken", False),
        ("192.168.1.20", None, True),
    ],
)
def test_off_loopback_a_token_is_required(host: str, token: str | None, refused: bool) -> None:
    assert unguarded(host, token) is refused
