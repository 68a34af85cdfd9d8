"""`lmgate self-test`: whether this install (a frozen build above all) has everything it needs,
checked by using it: requests through the gateway to a fake backend, a keyring round trip, and
the desktop app's window and tray drawn offscreen.

The fake OpenAI-compatible backend lives here, in the product, because tests/ is not bundled.
The GUI half is `app.selftest`: the `lmgate` launcher (app/) hands its checks in through
`gui_checks`, since gateway/ never imports app/ or Qt.
"""

from __future__ import annotations

import base64
import functools
import importlib
import os
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

import httpx
import orjson
import uvicorn

from gateway.routing import ROLE_MODELS

__all__ = [
    "MODEL",
    "REPLY",
    "Check",
    "FakeOpenAI",
    "bundle_checks",
    "gateway_checks",
    "keyring_checks",
    "process_age",
    "run",
]

MODEL = "lmgate-self-test"
REPLY = ("The gateway", " answered", " the self-test.")
_PROMPT = "Reply to the LM Gate self-test."
# Counted through the gateway: letters with and without case, a contraction, digits, CJK, astral
# symbols and letters, a combining mark, code. o200k_base makes it 45 tokens, plus the 4 every
# message costs; a frozen build missing a piece of the tokenizer (its vocabulary, unicodedata)
# counts it otherwise. tests/packaging/test_selftest.py checks the figure against the reference.
COUNT_TEXT = (
    "Grüße aus Köln: it's 2026, 日本語のテキスト, naïve café — 😀👍🏽 𝐀𝐛𝐜 x\u0301\n\t"
    "def f(a, b): return a+b"
)
COUNT_EXPECTED = 49
_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


# --- the fake backend ---------------------------------------------------------------------------


class FakeOpenAI:
    """A vLLM-like OpenAI-compatible server on 127.0.0.1 (a free port), with one model that
    always gives REPLY, streamed or not. `requests` holds the chat bodies it received."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> FakeOpenAI:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            loop="asyncio",
            http="httptools",
            ws="none",
            lifespan="off",
            interface="asgi3",
            log_config=None,
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="lmgate-fake", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + _TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the self-test's fake backend did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(_TIMEOUT)

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        path, method = scope["path"], scope["method"]
        if (method, path) == ("GET", "/version"):
            await _json(send, {"version": "0.0.0-selftest"})
        elif (method, path) == ("GET", "/v1/models"):
            model = {"id": MODEL, "object": "model", "owned_by": "lmgate", "max_model_len": 8192}
            await _json(send, {"object": "list", "data": [model]})
        elif (method, path) == ("POST", "/v1/chat/completions"):
            request = orjson.loads(body)
            self.requests.append(request)
            if request.get("stream"):
                await _stream(send, request)
            else:
                await _json(send, _completion())
        else:
            await _json(send, {"error": {"message": f"no route {path}"}}, status=404)


def _completion() -> dict[str, Any]:
    return {
        "id": "chatcmpl-selftest",
        "object": "chat.completion",
        "created": 0,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(REPLY)},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
    }


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    chunk = {
        "id": "chatcmpl-selftest",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


async def _json(send: Any, payload: dict[str, Any], status: int = 200) -> None:
    body = orjson.dumps(payload)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _stream(send: Any, request: dict[str, Any]) -> None:
    headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    frames = [_chunk({"role": "assistant", "content": ""})]
    frames += [_chunk({"content": piece}) for piece in REPLY]
    frames.append(_chunk({}, "stop"))
    usage = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
    last = {"id": "chatcmpl-selftest", "object": "chat.completion.chunk", "choices": []}
    frames.append(b"data: " + orjson.dumps({**last, "usage": usage}) + b"\n\n")
    frames.append(b"data: [DONE]\n\n")
    for frame in frames:
        await send({"type": "http.response.body", "body": frame, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


# --- checks ---------------------------------------------------------------------------------


# A one-page PDF that says "LM Gate reads PDFs." (Helvetica, uncompressed; 599 bytes).
_PDF = (
    "JVBERi0xLjQKMSAwIG9iago8PCAvVHlwZSAvRm9udCAvU3VidHlwZSAvVHlwZTEgL0Jhc2VGb250IC9IZWx2ZXRp"
    "Y2EgPj4KZW5kb2JqCjIgMCBvYmoKPDwgL0xlbmd0aCA1NSA+PgpzdHJlYW0KQlQgL0YxIDExIFRmIDUwIDc2MCBU"
    "ZCAxNCBUTAooTE0gR2F0ZSByZWFkcyBQREZzLikgJwpFVAplbmRzdHJlYW0KZW5kb2JqCjMgMCBvYmoKPDwgL1R5"
    "cGUgL1BhZ2UgL1BhcmVudCA0IDAgUiAvTWVkaWFCb3ggWzAgMCA2MTIgNzkyXSAvUmVzb3VyY2VzIDw8IC9Gb250"
    "IDw8IC9GMSAxIDAgUiA+PiA+PiAvQ29udGVudHMgMiAwIFIgPj4KZW5kb2JqCjQgMCBvYmoKPDwgL1R5cGUgL1Bh"
    "Z2VzIC9LaWRzIFszIDAgUl0gL0NvdW50IDEgPj4KZW5kb2JqCjUgMCBvYmoKPDwgL1R5cGUgL0NhdGFsb2cgL1Bh"
    "Z2VzIDQgMCBSID4+CmVuZG9iagp4cmVmCjAgNgowMDAwMDAwMDAwIDY1NTM1IGYgCjAwMDAwMDAwMDkgMDAwMDAg"
    "biAKMDAwMDAwMDA3OSAwMDAwMCBuIAowMDAwMDAwMTg0IDAwMDAwIG4gCjAwMDAwMDAzMTAgMDAwMDAgbiAKMDAw"
    "MDAwMDM2NyAwMDAwMCBuIAp0cmFpbGVyCjw8IC9TaXplIDYgL1Jvb3QgNSAwIFIgPj4Kc3RhcnR4cmVmCjQxNgol"
    "JUVPRgo="
)


def bundle_checks() -> list[Check]:
    """What a frozen build can silently lack: C extensions, certificates, metadata."""
    checks = [
        Check(
            "python",
            True,
            f"{sys.version.split()[0]} on {sys.platform}, "
            + ("frozen build" if getattr(sys, "frozen", False) else "source install"),
        )
    ]
    checks.append(_attempt("orjson", _orjson))
    checks.append(_attempt("speedups", _speedups))
    checks.append(_attempt("certificates", _certificates))
    checks.append(_attempt("metadata", _metadata))
    checks.append(_attempt("pdf", _pdf))
    return checks


def _attempt(name: str, probe: Callable[[], str]) -> Check:
    try:
        return Check(name, True, probe())
    except Exception as exc:
        return Check(name, False, f"{type(exc).__name__}: {exc}")


def _pdf() -> str:
    """PDF documents reach the model as text (pypdf, imported on the first PDF): a build that
    leaves it out would turn every PDF into a 400."""
    from gateway.translate.documents import pdf_pages

    pages = pdf_pages(base64.b64decode(_PDF))
    if pages != ["LM Gate reads PDFs."]:
        raise RuntimeError(f"read {pages!r} from the test PDF")
    return "the text of a PDF page read"


def _orjson() -> str:
    value = {"text": "é ✓", "n": [1, 2.5, None]}
    if orjson.loads(orjson.dumps(value)) != value:
        raise ValueError("a JSON round trip changed the value")
    return f"orjson {orjson.__version__}"


def _speedups() -> str:
    import aiohttp.http_parser as parser
    import httptools

    if parser.HttpResponseParser.__module__ != "aiohttp._http_parser":
        raise ImportError("aiohttp runs without its C parser (aiohttp._http_parser is missing)")
    for module in ("multidict._multidict", "yarl._quoting_c", "propcache._helpers_c"):
        importlib.import_module(module)
    return f"httptools {httptools.__version__}, aiohttp's C parser, multidict/yarl C extensions"


def _certificates() -> str:
    context = httpx.create_ssl_context()
    count = context.cert_store_stats()["x509_ca"]
    if count < 10:
        raise ValueError(f"only {count} CA certificates: HTTPS to remote providers would fail")
    return f"{count} CA certificates for HTTPS backends"


def _metadata() -> str:
    from importlib.metadata import version

    return f"lmgate {version('lmgate')}, keyring {version('keyring')}"


def gateway_checks(fake: FakeOpenAI) -> list[Check]:
    """The real server (uvicorn, the guard, routing, translation, the upstream client) in front
    of `fake`: health, a refused request, one plain and one streamed message, a token count."""
    from gateway.config import BackendConfig, GatewayConfig
    from gateway.runner import GatewayServer

    token = secrets.token_urlsafe(16)
    backend = BackendConfig(id="selftest", url=fake.url, kind="vllm", protocol="openai")
    config = GatewayConfig(port=0, discover=False, backends=[backend], big=MODEL, small=MODEL)
    server = GatewayServer(config, token=token)
    try:
        server.start()
    except Exception as exc:
        return [Check("gateway", False, f"the server did not start: {type(exc).__name__}: {exc}")]
    checks = [Check("gateway", True, f"listening on {server.url}")]
    try:
        with httpx.Client(
            base_url=server.url, timeout=_TIMEOUT, headers={"x-api-key": token}
        ) as client:
            for name, probe in (
                ("health", _health),
                ("guard", _guard),
                ("message", _message),
                ("stream", _streamed),
                ("count tokens", _count),
            ):
                checks.append(_attempt(name, functools.partial(probe, client, fake)))
    finally:
        server.stop()
    return checks


def _request() -> dict[str, Any]:
    return {
        "model": ROLE_MODELS["big"],
        "max_tokens": 64,
        "messages": [{"role": "user", "content": _PROMPT}],
    }


def _health(client: httpx.Client, fake: FakeOpenAI) -> str:
    response = client.get("/health")
    response.raise_for_status()
    return f"GET /health → {response.status_code}"


def _guard(client: httpx.Client, fake: FakeOpenAI) -> str:
    response = client.post("/v1/messages", json=_request(), headers={"x-api-key": "wrong"})
    error = response.json().get("error", {})
    if response.status_code != 401 or error.get("type") != "authentication_error":
        raise ValueError(f"a wrong token got {response.status_code} {error}")
    return "a wrong token is refused (401 authentication_error)"


def _message(client: httpx.Client, fake: FakeOpenAI) -> str:
    response = client.post("/v1/messages", json=_request())
    answer = response.json()
    if response.status_code != 200:
        raise ValueError(f"{response.status_code}: {answer}")
    text = "".join(b.get("text", "") for b in answer["content"])
    if text != "".join(REPLY) or answer["stop_reason"] != "end_turn":
        raise ValueError(f"unexpected answer {answer}")
    sent = fake.requests[-1]
    if sent["model"] != MODEL or _PROMPT not in orjson.dumps(sent["messages"]).decode():
        raise ValueError(f"the backend got {sent}")
    return f"POST /v1/messages → {MODEL}: {text!r}"


def _streamed(client: httpx.Client, fake: FakeOpenAI) -> str:
    events: list[str] = []
    text = ""
    with client.stream("POST", "/v1/messages", json={**_request(), "stream": True}) as response:
        if response.status_code != 200:
            raise ValueError(f"{response.status_code}: {response.read().decode()}")
        for name, data in _sse(response.iter_lines()):
            events.append(name)
            if name == "content_block_delta" and data["delta"].get("type") == "text_delta":
                text += data["delta"]["text"]
            if name == "error":
                raise ValueError(f"the stream failed: {data}")
    if not fake.requests[-1].get("stream"):
        raise ValueError("the backend was not asked to stream")
    if events[:1] != ["message_start"] or events[-1:] != ["message_stop"] or text != "".join(REPLY):
        raise ValueError(f"unexpected stream: events {events}, text {text!r}")
    return f"streamed {len(events)} events (SSE), {text!r}"


def _sse(lines: Iterable[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    name = ""
    for line in lines:
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            yield name, orjson.loads(line[5:])


def _count(client: httpx.Client, fake: FakeOpenAI) -> str:
    body = {**_request(), "messages": [{"role": "user", "content": COUNT_TEXT}]}
    response = client.post("/v1/messages/count_tokens", json=body)
    count = response.json().get("input_tokens")
    if response.status_code != 200 or count != COUNT_EXPECTED:
        raise ValueError(
            f"expected {COUNT_EXPECTED} input tokens: {response.status_code}: {response.text}"
        )
    return f"{count} input tokens, as o200k_base counts them (the bundled tokenizer)"


def keyring_checks() -> list[Check]:
    """Set, read back (through a fresh store, past any cache), delete, and read nothing."""
    from gateway.keystore import KeyringUnavailable, Keystore

    name = f"self-test-{secrets.token_hex(4)}"
    value = secrets.token_urlsafe(16)
    try:
        Keystore().set(name, value)
        try:
            read = Keystore().get(name)
        finally:
            Keystore().delete(name)
        gone = Keystore().get(name)
    except KeyringUnavailable as exc:
        problem: str | None = exc.message
    else:
        problem = None
        if read != value:
            problem = "a value set in the keyring did not read back"
        elif gone is not None:
            problem = "a value deleted from the keyring is still there"
    if problem is not None:
        return [Check("keyring", False, f"{problem} (--no-keyring skips this check)")]
    return [Check("keyring", True, "set, read back and deleted an entry in the OS keyring")]


# --- the command ------------------------------------------------------------------------------


def run(
    *,
    keyring: bool = True,
    gui: bool = True,
    gui_checks: Callable[[], list[Check]] | None = None,
    out: TextIO | None = None,
) -> int:
    """Run every check, printing each as it ends; 0 when all passed, else 1. `gui_checks` are
    the window and tray checks, which live in app/ (`lmgate` passes them in)."""
    stream = out or sys.stdout
    failed = 0

    def report(checks: Iterable[Check]) -> None:
        nonlocal failed
        for check in checks:
            failed += not check.ok
            mark = "ok  " if check.ok else "FAIL"
            print(f"{mark}  {check.name}: {check.detail}", file=stream, flush=True)

    # The GUI first: its timing then says how soon a window can show after the process starts.
    if gui:
        report(_gui_checks(gui_checks))
    report(bundle_checks())
    try:
        with FakeOpenAI() as fake:
            report(gateway_checks(fake))
    except RuntimeError as exc:
        report([Check("fake backend", False, str(exc))])
    if keyring:
        report(keyring_checks())
    else:
        report([Check("keyring", True, "not checked (--no-keyring)")])
    verdict = "all checks passed" if not failed else f"{failed} check(s) failed"
    print(f"lmgate self-test: {verdict}", file=stream, flush=True)
    return 0 if not failed else 1


def _gui_checks(gui_checks: Callable[[], list[Check]] | None) -> list[Check]:
    if gui_checks is None:
        return [
            Check(
                "gui", False, "the desktop checks run from `lmgate self-test`; --no-gui skips them"
            )
        ]
    return gui_checks()


def process_age() -> float | None:
    """Seconds since this process started (Linux), for start-up figures; None elsewhere."""
    try:
        with open("/proc/self/stat", encoding="ascii") as handle:
            started = int(handle.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as handle:
            uptime = float(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return uptime - started / os.sysconf("SC_CLK_TCK")
