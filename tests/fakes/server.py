"""A fake backend on a real socket: a plain ASGI app served by uvicorn in a thread, scripted
reply by reply in whichever protocol a request speaks (OpenAI chat completions, the server's
own /v1/messages, Ollama's /api/chat), recording every request, how many generations ran at
once, and every client that went away."""

from __future__ import annotations

import asyncio
import atexit
import socket
import threading
from collections import deque
from collections.abc import Sequence
from types import TracebackType
from typing import Any, NamedTuple, Self

import orjson
import uvicorn

from tests.fakes.anthropic import messages_plan
from tests.fakes.flavour import ChatContext, Flavour, Response, estimate_tokens
from tests.fakes.llamacpp import LlamaCpp
from tests.fakes.lmstudio import LMStudio
from tests.fakes.ollama import Ollama
from tests.fakes.ollama_chat import ollama_chat_plan
from tests.fakes.playback import Message, Receive, Scope, Send, play
from tests.fakes.render import ChatRenderer, Plan, error_plan, plan_reply
from tests.fakes.replies import Reply, Respond, Text
from tests.fakes.strict import content_violation, role_order_violation

__all__ = [
    "closed_port",
    "DEFAULT_MODELS",
    "FLAVOURS",
    "FakeBackend",
    "Message",
    "Receive",
    "RecordedRequest",
    "Scope",
    "Send",
    "ServedApp",
    "free_port",
]

FLAVOURS: dict[str, type[Flavour]] = {"lmstudio": LMStudio, "ollama": Ollama, "llamacpp": LlamaCpp}
DEFAULT_MODELS = ("fake-model",)


_RESERVED: list[socket.socket] = []


@atexit.register
def _release_reserved() -> None:
    for sock in _RESERVED:
        sock.close()


def closed_port(host: str = "127.0.0.1") -> int:
    """A port where connections are refused, and that nobody else can take while the tests run:
    bound, never listening. (A port from `free_port` may be taken by the next server started,
    the gateway under test included.)"""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    _RESERVED.append(sock)
    port: int = sock.getsockname()[1]
    return port


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (another process may still take it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class RecordedRequest(NamedTuple):
    method: str
    path: str
    headers: dict[str, str]
    # Parsed JSON; None for an empty body; the text when the body is not JSON.
    body: Any


class _Server(uvicorn.Server):
    """uvicorn with thread-safe signals for "listening" (or "failed to start") and "stop now"."""

    def __init__(self, config: uvicorn.Config, ready: threading.Event) -> None:
        super().__init__(config)
        self._ready = ready
        self._loop: asyncio.AbstractEventLoop | None = None
        # Set when stop() is called: ends main_loop and every reply's pauses.
        self.stopping: asyncio.Event | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        try:
            await super().startup(sockets=sockets)
        finally:
            self._ready.set()

    async def main_loop(self) -> None:
        # uvicorn polls should_exit every 0.1 s; a fake is stopped once per test, so wait for
        # the request instead. One tick fills in the Date header.
        await self.on_tick(0)
        if self.stopping is not None and not self.should_exit:
            await self.stopping.wait()

    def request_exit(self) -> None:
        # Stalled replies must not hold the shutdown up.
        self.should_exit = True
        self.force_exit = True
        if self._loop is not None and self.stopping is not None:
            try:
                self._loop.call_soon_threadsafe(self.stopping.set)
            except RuntimeError:  # the loop has already closed
                pass


class ServedApp:
    """`app` served by uvicorn on a thread, on a real loopback socket; `root_url` once started;
    `port` restarts a stopped server where it was. Every fake in tests/fakes that speaks HTTP
    through uvicorn runs on one of these."""

    def __init__(
        self, app: Any, *, host: str = "127.0.0.1", port: int = 0, name: str = "fake-asgi"
    ) -> None:
        self.app = app
        self.host = host
        self.name = name
        self._wanted_port = port
        self.server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    def start(self) -> Self:
        if self.server is not None:
            return self
        # IPPROTO_TCP so that asyncio sets TCP_NODELAY on accepted connections (no 40 ms stalls)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._wanted_port))
        self._socket = sock
        config = uvicorn.Config(
            self.app,
            interface="asgi3",
            http="httptools",
            proxy_headers=False,
            server_header=False,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
        ready = threading.Event()
        self.server = _Server(config, ready)
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, name=self.name, daemon=True
        )
        self._thread.start()
        if not ready.wait(timeout=10) or not self.server.started:
            self.stop()
            raise RuntimeError(f"{self.name} did not start")
        return self

    def stop(self) -> None:
        server, thread = self.server, self._thread
        if server is None or thread is None:
            return
        server.request_exit()
        thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self.server = self._thread = self._socket = None

    @property
    def port(self) -> int:
        if self._socket is None:
            raise RuntimeError(f"{self.name} is not running")
        port: int = self._socket.getsockname()[1]
        return port

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class FakeBackend(ServedApp):
    """An LM Studio, Ollama or llama.cpp stand-in. Use `url` as an OpenAI base URL.

    `strict_template` refuses role orders a Gemma chat template refuses (OpenAI endpoint);
    `reject_null_content` (default: on in strict mode) refuses assistant messages with null or
    missing content; `context_length` makes prompts estimated longer than it fail the flavour's
    documented way; `port` restarts a stopped fake where it was; other keywords go to the flavour
    (`loaded`, `version`, and each flavour's own: LM Studio `rest="v1"|"both"` and Ollama
    `version>="0.14"` serve /v1/messages, llama.cpp with `messages_api=True`).
    """

    def __init__(
        self,
        flavour: str = "lmstudio",
        *,
        strict_template: bool = False,
        reject_null_content: bool | None = None,
        models: Sequence[str] | None = None,
        context_length: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        **flavour_options: Any,
    ) -> None:
        if flavour not in FLAVOURS:
            raise ValueError(f"unknown flavour {flavour!r}; one of {', '.join(FLAVOURS)}")
        self.flavour = FLAVOURS[flavour](
            list(models or DEFAULT_MODELS), context_length, **flavour_options
        )
        self.strict_template = strict_template
        self.reject_null_content = (
            strict_template if reject_null_content is None else reject_null_content
        )
        self.default_reply: Reply = Text()
        self._lock = threading.Condition()
        self._replies: deque[Reply] = deque()
        self._requests: list[RecordedRequest] = []
        self._disconnects = 0
        self._in_flight = 0
        self._max_in_flight = 0
        super().__init__(self._app, host=host, port=port, name=f"fake-{flavour}")

    @property
    def url(self) -> str:
        """The OpenAI base URL, with `/v1`."""
        return f"{self.root_url}/v1"

    # --- scripting and records --------------------------------------------------------------

    def script(self, *replies: Reply) -> None:
        """Queue replies for the next chat requests, in order; then `default_reply` again."""
        with self._lock:
            self._replies.extend(replies)

    @property
    def pending_replies(self) -> int:
        with self._lock:
            return len(self._replies)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """Generation requests, in every protocol (look at `path` for which)."""
        dialect = self.flavour.dialect
        return [r for r in self.requests if dialect(r.method, r.path) is not None]

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    @property
    def asked_num_ctx(self) -> list[int | None]:
        """`options.num_ctx` of each /api/chat request, in order (None where it was not set)."""
        asked: list[int | None] = []
        for request in self.requests_to("/api/chat"):
            body = request.body if isinstance(request.body, dict) else {}
            options = body.get("options")
            asked.append(options.get("num_ctx") if isinstance(options, dict) else None)
        return asked

    @property
    def max_in_flight(self) -> int:
        """The most generations this fake was answering at once."""
        with self._lock:
            return self._max_in_flight

    @property
    def disconnects(self) -> int:
        """Responses cut short because the client went away."""
        with self._lock:
            return self._disconnects

    def wait_for_disconnect(self, count: int = 1, timeout: float = 5.0) -> bool:
        """Block until `count` disconnects in total have been seen; False on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: self._disconnects >= count, timeout)

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> bool:
        """Block until `count` chat requests in total have arrived; False on timeout. (The
        gateway's catalogue probes are requests too, and are not counted.)"""
        with self._lock:
            return self._lock.wait_for(lambda: len(self.chat_requests) >= count, timeout)

    # --- the ASGI app -----------------------------------------------------------------------

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        raw = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            raw += message.get("body", b"")
            if not message.get("more_body", False):
                break
        method = "GET" if scope["method"] == "HEAD" else scope["method"]
        path: str = scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        body = _parse(bytes(raw))
        with self._lock:
            self._requests.append(RecordedRequest(scope["method"], path, headers, body))
            self._lock.notify_all()

        dialect = self.flavour.dialect(method, path)
        # The model is loaded (or reloaded) before anything is answered.
        wait = self.flavour.admit(dialect, body) if dialect is not None else 0.0
        if dialect == "openai":
            plan = self._chat(body)
        elif dialect == "anthropic":
            plan = messages_plan(self.flavour, body, lambda: self._take_reply(body))
        elif dialect == "ollama":
            plan = ollama_chat_plan(self.flavour, body, lambda: self._take_reply(body), wait)
        else:
            answer = self.flavour.route(method, path, body) or self.flavour.unknown(method, path)
            if answer.delay:
                await asyncio.sleep(answer.delay)
            if answer.after is not None:
                answer.after()
            plan = _response_plan(answer)
        plan.headers.extend(self.flavour.extra_headers)
        plan.stall += wait
        server = self.server
        assert server is not None and server.stopping is not None
        with self._lock:
            if dialect is not None:
                self._in_flight += 1
                self._max_in_flight = max(self._max_in_flight, self._in_flight)
        try:
            complete = await play(plan, receive, send, server.stopping)
        finally:
            with self._lock:
                if dialect is not None:
                    self._in_flight -= 1
        if not complete:
            with self._lock:
                self._disconnects += 1
                self._lock.notify_all()

    def _take_reply(self, body: Any) -> Reply:
        with self._lock:
            reply = self._replies.popleft() if self._replies else self.default_reply
        while isinstance(reply, Respond):
            reply = reply.make(body)
        return reply

    def _chat(self, body: Any) -> Plan:
        flavour = self.flavour
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return error_plan(flavour.error(400, "'messages' field is required"))
        messages = body["messages"]
        model = body.get("model")
        refusal = flavour.check_model(model if isinstance(model, str) else None)
        if refusal is None and self.strict_template:
            problem = role_order_violation(messages)
            if problem is not None:
                refusal = flavour.error(400, problem)
        if refusal is None and self.reject_null_content:
            refusal = content_violation(messages)
        prompt_tokens = estimate_tokens(body, "messages", "tools")
        if refusal is None and flavour.context_length and prompt_tokens > flavour.context_length:
            refusal = flavour.context_overflow(prompt_tokens, flavour.context_length)
            # None: this backend silently drops what does not fit.
            prompt_tokens = flavour.context_length
        if refusal is not None:
            return error_plan(refusal)
        reply = self._take_reply(body)
        options = body.get("stream_options")
        ctx = ChatContext(
            model=model if isinstance(model, str) else flavour.models[0],
            stream=body.get("stream") is True,
            include_usage=isinstance(options, dict) and options.get("include_usage") is True,
            prompt_tokens=prompt_tokens,
            completion_id=flavour.new_completion_id(),
        )
        return plan_reply(reply, ChatRenderer(flavour, ctx))


def _parse(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace")


def _response_plan(answer: Response) -> Plan:
    headers = [("content-type", answer.content_type), ("content-length", str(len(answer.body)))]
    headers.extend(answer.headers)
    return Plan(answer.status, headers, [answer.body])
