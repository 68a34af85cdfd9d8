"""Any small ASGI app on a real loopback socket, for fakes simpler than the three backends: a
server that does not say what it is, a remote provider that checks a request's shape."""

from __future__ import annotations

import socket
import threading
from types import TracebackType
from typing import Any

import uvicorn

from tests.fakes.server import Receive, Scope, Send, _Server

__all__ = ["PlainServer", "ServedApp"]


class ServedApp:
    """`app` served by uvicorn on a thread; `root_url` once started; stopped by `stop()`."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1") -> None:
        self.app = app
        self.host = host
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    def start(self) -> ServedApp:
        # IPPROTO_TCP so that asyncio sets TCP_NODELAY on accepted connections (no 40 ms stalls)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        self._socket = sock
        config = uvicorn.Config(
            self.app,
            interface="asgi3",
            http="httptools",
            log_config=None,
            access_log=False,
            lifespan="off",
        )
        ready = threading.Event()
        self._server = _Server(config, ready)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="fake-asgi", daemon=True
        )
        self._thread.start()
        if not ready.wait(timeout=10) or not self._server.started:
            self.stop()
            raise RuntimeError("the fake server did not start")
        return self

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.request_exit()
        self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    @property
    def port(self) -> int:
        if self._socket is None:
            raise RuntimeError("the fake server is not running")
        port: int = self._socket.getsockname()[1]
        return port

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> ServedApp:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class PlainServer(ServedApp):
    """A web server that is no model server: HTTP 200 and a page of text on every path, the way
    a router's admin page or a dev server answers. It must never be taken for a backend."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        super().__init__(self._app)

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        self.paths.append(scope["path"])
        while (await receive()).get("more_body"):
            pass
        body = b"<html><body>It works!</body></html>"
        headers = [(b"content-type", b"text/html"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
