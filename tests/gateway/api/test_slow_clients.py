"""Slow and surplus clients: connections that do not finish their headers in time are closed,
and past the connection limit a request gets Anthropic's 529, while normal clients are served."""

from __future__ import annotations

import socket
import threading
import time

import httpx

from gateway.runner import GatewayServer
from tests.gateway.api.client import Gateway, Start, body, error_of

SLOW = 200
HEAD = b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"


def connect(server: GatewayServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=15)
    return sock


def closed_by_peer(sock: socket.socket) -> bool:
    """Waits (up to the socket's timeout) for the server to close: True when it did."""
    try:
        while data := sock.recv(4096):
            assert not data.startswith(b"HTTP/1.1 200"), data
        return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_200_slow_clients_are_disconnected_and_a_normal_one_is_served(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    fake = fake_backend("lmstudio")
    server = gateway_server(fake.url, header_timeout=1.0)
    socks = [connect(server) for _ in range(SLOW)]
    stop = threading.Event()

    def dribble() -> None:
        # One byte of the headers per connection every 0.2 s: each byte is progress, none
        # finishes the headers.
        for position in range(len(HEAD)):
            for sock in socks:
                try:
                    sock.send(HEAD[position : position + 1])
                except OSError:
                    pass
            if stop.wait(0.2):
                return

    dribbler = threading.Thread(target=dribble)
    dribbler.start()
    started = time.perf_counter()
    try:
        response = httpx.post(f"{server.url}/v1/messages", json=body(), timeout=30)
        assert response.json()["content"][0]["text"] == "Hello from the fake backend."
        assert all(closed_by_peer(sock) for sock in socks)
        elapsed = time.perf_counter() - started
    finally:
        stop.set()
        dribbler.join()
        for sock in socks:
            sock.close()
    assert elapsed < 10, f"{elapsed:.1f} s"
    # And after them, still serving.
    response = httpx.post(f"{server.url}/v1/messages", json=body(), timeout=30)
    assert response.status_code == 200


def test_a_client_that_sends_nothing_is_disconnected(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    server = gateway_server(fake_backend("lmstudio").url, header_timeout=0.5)
    with connect(server) as sock:
        assert closed_by_peer(sock)


def test_a_kept_alive_connection_is_not_cut_between_requests(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    """The header deadline runs while a request is awaited first, then from each request's
    first byte: an idle kept-alive connection is the keep-alive timer's business."""
    server = gateway_server(fake_backend("lmstudio").url, header_timeout=0.5)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for _ in range(3):
            assert client.post("/v1/messages", json=body()).status_code == 200
            time.sleep(0.8)


def test_past_the_connection_limit_a_request_gets_529(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    server = gateway_server(fake_backend("lmstudio").url, max_connections=8, header_timeout=30)
    held = [connect(server) for _ in range(8)]
    try:
        time.sleep(0.2)  # accepted by the gateway
        response = httpx.post(f"{server.url}/v1/messages", json=body(), timeout=30)
        error = error_of(response, 529)
        assert error["type"] == "overloaded_error"
        assert error["message"] == (
            "the gateway has more than 8 connections open; try again in a moment"
        )
        assert response.headers["x-should-retry"] == "true"
        assert response.headers["retry-after"] == "1"
        assert response.headers["connection"] == "close"
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.2)
    response = httpx.post(f"{server.url}/v1/messages", json=body(), timeout=30)
    assert response.status_code == 200
