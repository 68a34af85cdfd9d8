"""The gateway as a security boundary: forged browser requests, the token, body limits and bad
input are refused in Anthropic's format, and nothing reaches the backend."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway.events import EventBus
from gateway.runner import GatewayServer
from tests.gateway.api.client import Gateway, Start, error_of
from tests.records import RecordSink

BODY: dict[str, Any] = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 5,
    "messages": [{"role": "user", "content": "hi"}],
}


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://evil.example"},
        {"origin": "null"},
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site"},
        {"host": "evil.example"},
        {"host": "attacker.test:8082"},
    ],
)
def test_forged_browser_requests_are_refused(
    headers: dict[str, str], fake_backend: Start, gateway_server: Gateway
) -> None:
    fake = fake_backend("lmstudio")
    server = gateway_server(fake.url)
    for method, path in (("POST", "/v1/messages"), ("GET", "/v1/models"), ("GET", "/health")):
        response = httpx.request(
            method, f"{server.url}{path}", json=BODY if method == "POST" else None, headers=headers
        )
        assert response.status_code == 403, (method, path)
        assert error_of(response)["type"] == "permission_error"
        assert "access-control-allow-origin" not in response.headers
    assert fake.chat_requests == []


def test_claude_codes_own_browser_flag_is_not_a_browser(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake = fake_backend("lmstudio")
    server = gateway_server(fake.url)
    headers = {"anthropic-dangerous-direct-browser-access": "true", "host": "localhost"}
    assert httpx.post(f"{server.url}/v1/messages", json=BODY, headers=headers).status_code == 200


def test_options_gets_no_cors(fake_backend: Start, gateway_server: Gateway) -> None:
    server = gateway_server(fake_backend("lmstudio").url)
    response = httpx.options(
        f"{server.url}/v1/messages",
        headers={"origin": "https://a.example", "access-control-request-method": "POST"},
    )
    assert response.status_code == 403
    assert not [h for h in response.headers if h.startswith("access-control")]
    plain = httpx.options(f"{server.url}/v1/messages")
    assert plain.status_code == 403 and not [h for h in plain.headers if h.startswith("access-")]


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None]
)
def test_non_json_post_is_415(
    content_type: str | None, fake_backend: Start, gateway_server: Gateway
) -> None:
    fake = fake_backend("lmstudio")
    server = gateway_server(fake.url)
    headers = {"content-type": content_type} if content_type else {}
    response = httpx.post(f"{server.url}/v1/messages", content=b'{"a":1}', headers=headers)
    assert response.status_code == 415
    assert error_of(response)["type"] == "invalid_request_error"
    assert fake.chat_requests == []


def test_loopback_names_are_accepted(fake_backend: Start, gateway_server: Gateway) -> None:
    server = gateway_server(fake_backend("lmstudio").url, allowed_hosts=["gateway.lan"])
    for host in ("127.0.0.1", f"127.0.0.1:{server.port}", "localhost", "[::1]:1", "gateway.lan"):
        assert httpx.get(f"{server.url}/health", headers={"host": host}).status_code == 200, host


@pytest.fixture
def token_server(fake_backend: Start, gateway_server: Gateway) -> Iterator[GatewayServer]:
    yield gateway_server(fake_backend("lmstudio").url, token="s3cret-token")


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"x-api-key": "wrong"}, 401),
        ({"authorization": "Bearer wrong"}, 401),
        ({"authorization": "s3cret-token"}, 401),
        ({"x-api-key": "s3cret-token"}, 200),
        ({"authorization": "Bearer s3cret-token"}, 200),
        ({"authorization": "bearer s3cret-token"}, 200),
    ],
)
def test_token_is_required_when_set(
    headers: dict[str, str], status: int, token_server: GatewayServer
) -> None:
    response = httpx.post(f"{token_server.url}/v1/messages", json=BODY, headers=headers)
    assert response.status_code == status
    if status == 401:
        assert error_of(response)["type"] == "authentication_error"
        assert "s3cret" not in response.text
    assert httpx.get(f"{token_server.url}/v1/models", headers=headers).status_code == status


def test_client_credentials_never_reach_the_backend(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake = fake_backend("lmstudio")
    server = gateway_server(fake.url)
    headers = {"x-api-key": "sk-ant-real-key", "authorization": "Bearer sk-ant-real-key"}
    httpx.post(f"{server.url}/v1/messages", json=BODY, headers=headers)
    sent = fake.chat_requests[-1].headers
    assert "sk-ant-real-key" not in str(sent)
    assert "x-api-key" not in sent and "authorization" not in sent


def test_body_over_limit_is_413_from_content_length(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    server = gateway_server(fake_backend("lmstudio").url, max_body_bytes=1000)
    response = httpx.post(
        f"{server.url}/v1/messages", json={**BODY, "system": "x" * 2000}, timeout=5
    )
    assert response.status_code == 413
    assert error_of(response)["type"] == "request_too_large"


def test_chunked_body_over_limit_is_413_without_reading_it_all(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake = fake_backend("lmstudio")
    server = gateway_server(fake.url, max_body_bytes=64 * 1024)
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        yield b'{"model":"claude-sonnet-4-6","max_tokens":5,"system":"'
        for _ in range(10_000):  # 160 MB if it were all read
            sent += 16 * 1024
            yield b"x" * (16 * 1024)

    with _maybe_closed() as outcome:
        response = httpx.post(
            f"{server.url}/v1/messages",
            content=body(),
            headers={"content-type": "application/json"},
            timeout=10,
        )
        outcome.append(response)
    if outcome:
        assert outcome[0].status_code == 413
    assert sent < 50 * 1024 * 1024
    assert fake.chat_requests == []


class _maybe_closed:
    """The server may answer 413 and close while the client is still sending."""

    def __enter__(self) -> list[httpx.Response]:
        self.result: list[httpx.Response] = []
        return self.result

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        return kind is not None and issubclass(
            kind, (httpx.WriteError, httpx.ReadError, httpx.RemoteProtocolError)
        )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"max_tokens": 5, "messages": []}, "model"),
        ({"model": "claude-sonnet-4-6", "max_tokens": 5}, "messages"),
        ({"model": "claude-sonnet-4-6", "messages": []}, "max_tokens"),
        ({"model": 5, "max_tokens": 5, "messages": []}, "model"),
        ({"model": "claude-sonnet-4-6", "max_tokens": "5", "messages": []}, "max_tokens"),
        ({"model": "claude-sonnet-4-6", "max_tokens": 0, "messages": []}, "max_tokens"),
        ({"model": "claude-sonnet-4-6", "max_tokens": 5, "messages": "hi"}, "messages"),
        (
            {
                "model": "claude-sonnet-4-6",
                "max_tokens": 5,
                "messages": [{"role": "bot", "content": "x"}],
            },
            "messages.0.role",
        ),
    ],
)
def test_bad_fields_are_400_naming_the_field(
    body: dict[str, Any], field: str, fake_backend: Start, gateway_server: Gateway
) -> None:
    server = gateway_server(fake_backend("lmstudio").url)
    response = httpx.post(f"{server.url}/v1/messages", json=body)
    assert response.status_code == 400
    error = error_of(response)
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith(field + ":"), error["message"]
    assert response.headers["x-should-retry"] == "false"


@pytest.mark.parametrize("raw", [b"{not json", b"[1,2]", b'"text"', b"\xff\xfe", b""])
def test_malformed_json_is_400(raw: bytes, fake_backend: Start, gateway_server: Gateway) -> None:
    server = gateway_server(fake_backend("lmstudio").url)
    response = httpx.post(
        f"{server.url}/v1/messages", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert error_of(response)["type"] == "invalid_request_error"


def test_unknown_model_is_404_listing_names(fake_backend: Start, gateway_server: Gateway) -> None:
    server = gateway_server(fake_backend("lmstudio").url)
    response = httpx.post(f"{server.url}/v1/messages", json={**BODY, "model": "gpt-4o"})
    assert response.status_code == 404
    assert "fake-model" in error_of(response)["message"]


def test_unknown_path_and_method(fake_backend: Start, gateway_server: Gateway) -> None:
    server = gateway_server(fake_backend("lmstudio").url)
    missing = httpx.get(f"{server.url}/v1/nothing")
    assert missing.status_code == 404 and error_of(missing)["type"] == "not_found_error"
    wrong = httpx.get(f"{server.url}/v1/messages")
    assert wrong.status_code == 405 and error_of(wrong)["type"] == "invalid_request_error"


def test_default_bind_is_loopback_only(fake_backend: Start, gateway_server: Gateway) -> None:
    server = gateway_server(fake_backend("lmstudio").url)
    assert server.config.host == "127.0.0.1"
    # An IPv4 or IPv6 address is a string (an int would be AF_CAN's, never resolved here).
    addresses = {str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None)}
    outside = [a for a in addresses if not a.startswith("127.") and ":" not in a]
    for address in outside[:1]:
        with pytest.raises(OSError):
            socket.create_connection((address, server.port), timeout=1).close()


class _SlowStore:
    """A keystore whose keyring answers only when the test says so (D-Bus can be slow)."""

    def __init__(self, value: str | None) -> None:
        self.value = value
        self.release = threading.Event()

    def get(self, name: str) -> str | None:
        self.release.wait(10)
        return self.value


def test_a_token_still_read_from_the_keyring_fails_closed(
    fake_backend: Start, gateway_server: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway.keystore import LazyToken

    monkeypatch.delenv("LMGATE_TOKEN", raising=False)
    store = _SlowStore("kr-token")
    token = LazyToken(store)  # type: ignore[arg-type]
    server = gateway_server(fake_backend("lmstudio").url, token=token)
    early = httpx.post(f"{server.url}/v1/messages", json=BODY, headers={"x-api-key": "guess"})
    assert early.status_code == 529 and early.headers["retry-after"] == "1"
    assert error_of(early)["type"] == "overloaded_error"
    store.release.set()
    assert token.wait(5)
    headers = {"x-api-key": "kr-token"}
    assert httpx.post(f"{server.url}/v1/messages", json=BODY, headers=headers).status_code == 200
    assert httpx.post(f"{server.url}/v1/messages", json=BODY).status_code == 401


def test_every_refusal_is_a_request_record(fake_backend: Start, gateway_server: Gateway) -> None:
    # The request log shows what was refused and why, like any other answer: a web page probing
    # the gateway, or Claude Code started with the wrong token, is visible in the GUI and the log.
    bus = EventBus()
    records = RecordSink(bus)
    fake = fake_backend("lmstudio")
    server = gateway_server(fake.url, bus=bus, token="s3cret-gateway-token")
    good = {"x-api-key": "s3cret-gateway-token"}
    cases = [
        ("POST", "/v1/messages", {**good, "origin": "https://evil.example"}, 403),
        ("GET", "/v1/models", {**good, "host": "rebound.evil.example"}, 403),
        ("POST", "/v1/messages", {"x-api-key": "wrong-token"}, 401),
        ("POST", "/v1/messages/count_tokens", {**good, "content-type": "text/plain"}, 415),
        ("OPTIONS", "/v1/messages", good, 403),
    ]
    answered = []
    for method, path, headers, status in cases:
        response = httpx.request(
            method, f"{server.url}{path}", content=b'{"model":"x"}', headers=headers
        )
        assert response.status_code == status, (method, path, response.text)
        answered.append(response.headers["request-id"])
    found = records.wait(len(cases))
    assert [r.request_id for r in found] == answered
    for record, (method, path, _, status) in zip(found, cases, strict=True):
        assert (record.method, record.path, record.status) == (method, path, status)
        assert record.error and record.extra["refused"] is True
        assert record.request_class == "refused"
    assert found[0].extra["origin"] == "https://evil.example"
    assert found[1].extra["host"] == "rebound.evil.example"
    assert "token" in (found[2].error or "")
    assert all("s3cret" not in repr(r) and "wrong-token" not in repr(r) for r in found)
    assert fake.chat_requests == []
