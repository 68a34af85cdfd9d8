"""`GatewayServer`: uvicorn on a worker thread with clean start/stop; `serve_forever` headless.

The socket is bound here, not by uvicorn, so a taken port is a clear `PortInUse` at start() and a
port of 0 gives a free port that is known before the server runs. uvicorn's signal handlers are
only installed on the main thread; the headless loop and the GUI handle SIGINT/SIGTERM themselves.
"""

from __future__ import annotations

import errno
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

import uvicorn

from gateway.config import GatewayConfig
from gateway.events import EventBus
from gateway.upstream.client import Transport

__all__ = ["GatewayServer", "PortInUse", "serve_forever"]


class PortInUse(OSError):
    def __init__(self, host: str, port: int) -> None:
        super().__init__(errno.EADDRINUSE, f"port {port} on {host} is already in use")
        self.host = host
        self.port = port


class GatewayServer:
    def __init__(
        self,
        config: GatewayConfig,
        *,
        bus: EventBus | None = None,
        token: Callable[[], str | None] | str | None = None,
        transport: Transport = "aiohttp",
        api_keys: dict[str, str] | None = None,
    ) -> None:
        self.config = config
        self.bus = bus or EventBus()
        self.token = token
        self.transport: Transport = transport
        self.api_keys = api_keys
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self.port = config.port
        self.app: Any = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def url(self) -> str:
        return self.config.model_copy(update={"port": self.port}).base_url

    def start(self, timeout: float = 10.0) -> None:
        from gateway.server import create_app

        if self.running:
            return
        sock = _bind(self.config.host, self.config.port)
        self.port = sock.getsockname()[1]
        self.app = create_app(
            self.config,
            bus=self.bus,
            token=self.token,
            transport=self.transport,
            api_keys=self.api_keys,
        )
        uconfig = uvicorn.Config(
            self.app,
            loop="asyncio",
            http="httptools",
            ws="none",
            lifespan="on",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=2,
            timeout_keep_alive=75,
            server_header=False,
            date_header=False,
        )
        server = uvicorn.Server(uconfig)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="lmgate-gateway", daemon=True
        )
        self._server, self._thread, self._sock = server, thread, sock
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive():
                self._cleanup()
                raise RuntimeError("the gateway failed to start (see the log)")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError("the gateway did not start in time")
            time.sleep(0.005)

    def stop(self, timeout: float = 10.0) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(timeout)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout)
        self._cleanup()

    def _cleanup(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        if exc.errno in (errno.EADDRINUSE, errno.EACCES) or getattr(exc, "winerror", 0) == 10048:
            raise PortInUse(host, port) from None
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve_forever(
    config: GatewayConfig,
    *,
    token: str | None = None,
    api_keys: dict[str, str] | None = None,
    out: TextIO | None = None,
    log_records: bool = True,
) -> int:
    """Run the gateway headless until Ctrl-C or SIGTERM. Prints the URL and the export line."""
    from gateway.envline import claude_env, default_shell, render
    from gateway.logfile import attach_log_file, format_record

    out = out or sys.stdout
    bus = EventBus()
    server = GatewayServer(config, bus=bus, token=token, api_keys=api_keys)
    try:
        server.start()
    except PortInUse as exc:
        print(f"lmgate: {exc}. Pass --port with another port.", file=sys.stderr)
        return 2
    detach = attach_log_file(bus)
    if log_records:
        bus.subscribe(lambda record: print(format_record(record), file=out, flush=True))
    live = config.model_copy(update={"port": server.port})
    backends = ", ".join(b.url for b in config.backends)
    print(f"LM Gate is listening on {server.url} (backends: {backends})", file=out)
    print("For Claude Code, run this in your shell:", file=out)
    print(render(claude_env(live, token=token), default_shell()), file=out, flush=True)
    stop = threading.Event()

    def _on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(0.5):
            if not server.running:
                print("lmgate: the gateway stopped unexpectedly", file=sys.stderr)
                return 1
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        print("LM Gate is stopping…", file=out, flush=True)
        server.stop()
        detach()
    return 0
