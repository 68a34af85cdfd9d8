"""Any small ASGI app on a real loopback socket, for fakes simpler than the three backends: a
server that does not say what it is, a remote provider that checks a request's shape."""

from __future__ import annotations

from tests.fakes.server import Receive, Scope, Send, ServedApp

__all__ = ["PlainServer", "ServedApp"]


class PlainServer(ServedApp):
    """A web server that is no model server: HTTP 200 and a page of text on every path, the way
    a router's admin page or a dev server answers. It must never be taken for a backend."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        super().__init__(self._app, name="plain web server")

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
