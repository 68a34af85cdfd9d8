"""`GatewayServer`: uvicorn on a worker thread with clean start/stop; `serve_forever` headless.

The socket is bound here, not by uvicorn, so a taken port is a clear `PortInUse` at start() and a
port of 0 gives a free port that is known before the server runs. uvicorn's signal handlers are
only installed on the main thread; the headless loop and the GUI handle SIGINT/SIGTERM themselves.
"""

from __future__ import annotations

import errno
import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import uvicorn
from fastapi import FastAPI

from gateway.api.connections import guarded_protocol
from gateway.api.state import GatewayState
from gateway.backends.catalogue import CatalogueSnapshot
from gateway.backends.registry import Registry
from gateway.config import GatewayConfig
from gateway.errors import GatewayError
from gateway.events import Bus, EventBus
from gateway.memory import freeze_startup
from gateway.server import create_app
from gateway.team.gate import TeamFiles
from gateway.upstream.client import Transport

__all__ = ["LIVE_FIELDS", "GatewayServer", "PortInUse", "serve_forever"]

# Read by every request from the live config: a change applies without a restart.
LIVE_FIELDS = frozenset(
    {
        "big",
        "small",
        "opus",
        "aliases",
        "commit_after",
        "ping_interval",
        "max_stream_line_bytes",
        "capture_bodies",
        "capture_count",
        "capture_max_bytes",
        "log_level",
        "start_hidden",
        "theme",
        "notifications",
        "load_context",
        "profiles",
        "review",
        # Scenario routes and fallbacks; the breaker's settings take effect at the next start.
        "routes",
    }
)


class PortInUse(OSError):
    def __init__(self, host: str, port: int) -> None:
        super().__init__(errno.EADDRINUSE, f"port {port} on {host} is already in use")
        self.host = host
        self.port = port


class GatewayServer:
    """The running gateway as the app and the CLI see it: start, stop, restart, the live config,
    and the backends' catalogue (`catalogue`, `subscribe_catalogue`, `refresh_backends`), which
    stays one subscription across restarts."""

    def __init__(
        self,
        config: GatewayConfig,
        *,
        bus: EventBus | None = None,
        token: Callable[[], str | None] | str | None = None,
        transport: Transport = "aiohttp",
        api_keys: dict[str, str] | None = None,
        team_files: TeamFiles | None = None,
    ) -> None:
        self.config = config
        self.team_files = team_files
        self.bus = bus or EventBus()
        self.token = token
        self.transport: Transport = transport
        self.api_keys = api_keys
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self.port = config.port
        self.app: FastAPI | None = None
        self._state: GatewayState | None = None
        self._registry: Registry | None = None
        self._snapshots: Bus[CatalogueSnapshot] = Bus("catalogue")
        self._unforward: Callable[[], None] | None = None
        self._fast_refresh = False
        self._drainers: set[threading.Thread] = set()
        self._draining: dict[threading.Thread, GatewayState] = {}

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def url(self) -> str:
        return self.config.model_copy(update={"port": self.port}).base_url

    def start(self, timeout: float = 10.0) -> None:
        if self.running:
            return
        sock = _bind(self.config.host, self.config.port)
        self._server, self._thread, self._sock = self._launch(sock, self.config, timeout)
        self.port = sock.getsockname()[1]

    def stop(self, timeout: float = 10.0) -> None:
        server, thread = self._server, self._thread
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(timeout)
            if thread.is_alive():
                server.force_exit = True
                thread.join(timeout)
            self._cleanup()
        for drainer in list(self._drainers):
            drainer.join(timeout)

    def apply_config(self, config: GatewayConfig) -> bool:
        """Use `config` for the requests that start from now on. Returns False, and changes
        nothing, when a setting fixed at start differs (address, backends, limits): restart()."""
        if self.running and _fixed_at_start(self.config) != _fixed_at_start(config):
            return False
        self.config = config
        if self.running and self._state is not None:
            self._state.config = config
        # A server still draining after a restart finishes its requests with the new choices.
        live = {name: getattr(config, name) for name in LIVE_FIELDS}
        for state in list(self._draining.values()):
            state.config = state.config.model_copy(update=live)
        return True

    def restart(
        self, config: GatewayConfig | None = None, *, timeout: float = 10.0, drain: float = 60.0
    ) -> None:
        """Serve `config` from a fresh server without dropping a request: the new listener opens
        first (the same socket when the address is unchanged, so no connection is refused),
        then the old server stops accepting and its requests in flight get up to `drain`
        seconds to finish, on a thread of their own. A taken port raises PortInUse and leaves
        the running server as it was."""
        config = config or self.config
        if not self.running or self._sock is None:
            self.config = config
            self.start(timeout)
            return
        same_address = config.host == self.config.host and config.port in (
            self.port,
            self.config.port,
        )
        sock = self._sock.dup() if same_address else _bind(config.host, config.port)
        try:
            launched = self._launch(sock, config, timeout)
        except BaseException:
            sock.close()
            raise
        old = (self._server, self._thread, self._sock)
        old_state = self.app_state
        self._server, self._thread, self._sock = launched
        self.config = config
        self.port = sock.getsockname()[1]
        if old[0] is not None:
            # Both servers accept on a shared socket until the old one stops: stop it now, not
            # at its next tick, so that every new connection reaches the new server.
            _stop_accepting(old[0])
        drainer = threading.Thread(
            target=self._drain, args=(*old, drain), name="lmgate-drain", daemon=True
        )
        if old_state is not None:
            self._draining[drainer] = old_state
        self._drainers.add(drainer)
        drainer.start()

    @property
    def app_state(self) -> GatewayState | None:
        """The running app's shared state, None before a start."""
        return self._state

    @property
    def registry(self) -> Registry | None:
        """The running server's backends, None before a start."""
        return self._registry

    # --- the catalogue (any thread) -----------------------------------------------------------

    def catalogue(self) -> CatalogueSnapshot:
        """The backends and models as last seen (empty before the first refresh)."""
        return self._registry.snapshot() if self._registry is not None else CatalogueSnapshot()

    def subscribe_catalogue(
        self, callback: Callable[[CatalogueSnapshot], None]
    ) -> Callable[[], None]:
        """`callback(snapshot)` after every refresh, and with the new server's catalogue after a
        restart; on the gateway's thread, so keep it quick. Returns the unsubscribe."""
        return self._snapshots.subscribe(callback)

    def refresh_backends(self) -> None:
        """Probe the backends now instead of at the next tick."""
        if self._registry is not None:
            self._registry.probe_soon()

    def set_fast_refresh(self, fast: bool) -> None:
        """Refresh often while a window shows the catalogue (kept across restarts)."""
        self._fast_refresh = fast
        if self._registry is not None:
            self._registry.set_fast_refresh(fast)

    def _serve_catalogue_of(self, registry: Registry) -> None:
        """From now on the catalogue is `registry`'s: a draining server's refreshes are not."""
        if self._unforward is not None:
            self._unforward()
        self._registry = registry
        self._unforward = registry.subscribe(self._snapshots.publish)
        self._snapshots.publish(registry.snapshot())

    def _launch(
        self, sock: socket.socket, config: GatewayConfig, timeout: float
    ) -> tuple[uvicorn.Server, threading.Thread, socket.socket]:
        # Built here, started and stopped by the app's lifespan on the server's loop.
        registry = Registry(config, api_keys=self.api_keys or {}, transport=self.transport)
        registry.set_fast_refresh(self._fast_refresh)
        app = create_app(
            config,
            bus=self.bus,
            token=self.token,
            transport=self.transport,
            api_keys=self.api_keys,
            registry=registry,
            team_files=self.team_files,
        )
        state = app.state.gateway
        if not isinstance(state, GatewayState):  # create_app's own, read once here
            raise TypeError(f"the app's state is a {type(state).__name__}, not a GatewayState")
        uconfig = uvicorn.Config(
            app,
            loop="asyncio",
            # httptools, with its 400 in Anthropic's format, a deadline for each request's
            # headers and a cap on open connections (api/connections.py).
            http=guarded_protocol(config.header_timeout, config.max_connections),
            ws="none",
            lifespan="on",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=2,
            timeout_keep_alive=75,
            server_header=False,
            proxy_headers=False,  # X-Forwarded-* from a client is never trusted here
            date_header=False,
        )
        server = uvicorn.Server(uconfig)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="lmgate-gateway", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive():
                sock.close()
                raise RuntimeError("the gateway failed to start (see the log)")
            if time.monotonic() > deadline:
                server.should_exit = server.force_exit = True
                thread.join(timeout)
                sock.close()
                raise TimeoutError("the gateway did not start in time")
            time.sleep(0.005)
        self.app, self._state = app, state
        self._serve_catalogue_of(registry)
        return server, thread, sock

    def _drain(
        self,
        server: uvicorn.Server | None,
        thread: threading.Thread | None,
        sock: socket.socket | None,
        drain: float,
    ) -> None:
        try:
            if server is not None and thread is not None:
                server.config.timeout_graceful_shutdown = int(drain)
                server.should_exit = True
                thread.join(drain + 5)
                if thread.is_alive():
                    server.force_exit = True
                    thread.join(5)
            if sock is not None:
                sock.close()
        finally:
            self._drainers.discard(threading.current_thread())
            self._draining.pop(threading.current_thread(), None)

    def _cleanup(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None


def _stop_accepting(server: uvicorn.Server, timeout: float = 2.0) -> None:
    """Close the server's listeners on its own loop and wait until that is done."""
    listeners = list(getattr(server, "servers", []))
    if not listeners:
        return
    closed = threading.Event()

    def close() -> None:
        for listener in listeners:
            listener.close()
        closed.set()

    try:
        listeners[0].get_loop().call_soon_threadsafe(close)
    except RuntimeError:  # its loop has already stopped
        return
    closed.wait(timeout)


def _fixed_at_start(config: GatewayConfig) -> dict[str, Any]:
    """The settings the app, its guard and its upstream clients take when they are built."""
    return config.model_dump(exclude=set(LIVE_FIELDS))


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on accepted sockets whose proto says TCP;
    # without it every response's second write waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
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
    token: str | Callable[[], str | None] | None = None,
    api_keys: dict[str, str] | None = None,
    out: TextIO | None = None,
    log_records: bool = True,
    notices: Sequence[str] = (),
    team_files: TeamFiles | None = None,
) -> int:
    """Run the gateway headless until Ctrl-C or SIGTERM. Prints the URL and the export line.
    `notices`: what the user must know (settings read from a backup), on stderr and in the log."""
    from gateway.envline import claude_env, compact_window, default_shell, render
    from gateway.logfile import attach_log_file, format_record

    out = out or sys.stdout
    bus = EventBus()
    server = GatewayServer(config, bus=bus, token=token, api_keys=api_keys, team_files=team_files)
    try:
        server.start()
    except PortInUse as exc:
        print(f"lmgate: {exc}. Pass --port with another port.", file=sys.stderr)
        return 2
    detach = attach_log_file(bus)
    # What lives as long as the process is built by now: out of the collector's way.
    freeze_startup()
    for notice in notices:
        logging.getLogger("lmgate.config").warning("%s", notice)
        print(f"lmgate: warning: {notice}", file=sys.stderr, flush=True)
    if log_records:
        bus.subscribe(lambda record: print(format_record(record), file=out, flush=True))
    live = config.model_copy(update={"port": server.port})
    # The lifespan waited for the first catalogue refresh: say what was found.
    snapshot = server.catalogue()
    found = [
        f"{b.id} {b.url} ({b.state}, {len(snapshot.models_of(b.id))} models)"
        for b in snapshot.backends
    ]
    backends = "; ".join(found) or "none found yet: start LM Studio or Ollama"
    # A plain flag, not a threading.Event: the handler runs on the main thread, which may be
    # inside Event.wait() holding the Event's lock, and set() would then deadlock.
    stopping: list[int] = []

    def _on_signal(signum: int, frame: Any) -> None:
        stopping.append(signum)

    # Before the first line is printed: whoever reads it may signal at once.
    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(f"LM Gate is listening on {server.url} (backends: {backends})", file=out)
        print("For Claude Code, run this in your shell:", file=out)
        window = compact_window(live, snapshot)
        if callable(token):
            wait = getattr(token, "wait", None)
            if wait is not None:
                wait(10.0)  # the keyring, read while the server came up
            try:
                known: str | None = token()
            except GatewayError:
                known = "unknown"  # still not read: print the placeholder, never an empty token
        else:
            known = token
        env = claude_env(live, token=known, auto_compact_window=window)
        if known:
            # A console may be logged (a container's, a terminal's scrollback): never the token.
            env["ANTHROPIC_AUTH_TOKEN"] = "<the gateway token: `lmgate token` prints it>"
        team = server.app_state.team if server.app_state is not None else None
        if team is not None and team.enforced():
            env["ANTHROPIC_AUTH_TOKEN"] = "<your client key: `lmgate clients add NAME` prints it>"
        print(render(env, default_shell()), file=out, flush=True)
        while not stopping:
            time.sleep(0.2)
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
