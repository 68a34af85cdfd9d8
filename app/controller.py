"""The desktop app's hold on the gateway: start, stop and restart off the GUI thread, the live
config and its file, the token, the backend catalogue, and the facts the window and tray show.

Every blocking call (keyring, server start/stop, file writes) runs on `Background`; results come
back as signals on the GUI thread. Lifecycle work runs in order on one worker, so a stop can
never overtake the start before it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from PySide6.QtCore import QObject, Signal

from app.background import Background
from app.bridge import CatalogueBridge
from app.model_advice import routed
from app.ports import next_free_port
from app.signals import emit
from gateway.backends.catalogue import CatalogueSnapshot
from gateway.config import BackendConfig, ConfigLoad, GatewayConfig, save_config
from gateway.envline import claude_env, compact_window, render
from gateway.events import EventBus
from gateway.keystore import (
    TOKEN_NAME,
    KeyringUnavailable,
    Keystore,
    default_keystore,
    generate_token,
    get_token,
)
from gateway.loopback import unguarded
from gateway.routing import ROLES
from gateway.runner import GatewayServer, PortInUse
from gateway.team.clients import clients_path
from gateway.team.gate import TeamFiles
from gateway.upstream.client import Transport

__all__ = ["HEALTH_TEXT", "MASK", "GatewayController"]

log = logging.getLogger("lmgate.app")

MASK = "********"
# What the window says for each `health()`; the tray says it in lower case.
HEALTH_TEXT = {
    "healthy": "Running",
    "degraded": "Running, with a problem",
    "starting": "Starting…",
    "stopping": "Stopping…",
    "stopped": "Stopped",
    "failed": "Failed",
}


class GatewayController(QObject):
    state_changed = Signal(str)  # "starting" | "running" | "stopping" | "stopped" | "failed"
    config_changed = Signal(object)
    catalogue_changed = Signal(object)
    token_changed = Signal()
    # (kind, message): "config" | "port" | "keyring" | "reapply" | "error"
    problem_reported = Signal(str, str)
    notice = Signal(str)
    address_changed = Signal(str)

    def __init__(
        self,
        loaded: ConfigLoad,
        *,
        background: Background,
        bus: EventBus | None = None,
        keystore: Keystore | None = None,
        transport: Transport = "aiohttp",
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.config = loaded.config
        self.config_path: Path = loaded.path
        self.load_problem = loaded.problem
        # The backup the settings came from when the config file was lost (None: the file).
        self.recovered_from = loaded.recovered_from
        self.background = background
        self.bus = bus or EventBus()
        self._keystore = keystore
        self.transport: Transport = transport
        self.state = "stopped"
        self.error: str | None = None
        self.token: str | None = None
        self.keyring_problem: str | None = None
        # Keys the keyring could not keep, by backend id: in memory only, gone at quit.
        self._session_keys: dict[str, str] = {}
        self.suggested_port: int | None = None
        self.snapshot = CatalogueSnapshot()
        self.server: GatewayServer | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._bridge = CatalogueBridge(self)
        self._bridge.snapshot_arrived.connect(self._set_snapshot)

    # --- facts --------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.state == "running" and self.server is not None

    @property
    def live_config(self) -> GatewayConfig:
        """The config with the port the server really listens on (port 0 means any free one)."""
        if self.server is not None and self.running:
            return self.config.model_copy(update={"port": self.server.port})
        return self.config

    @property
    def url(self) -> str:
        return self.live_config.base_url

    def health(self) -> str:
        """What the tray's badge shows: "healthy", "degraded" (a routed backend is down or its
        model not loaded), "starting", "stopping", "stopped" or "failed"."""
        if self.state != "running":
            return self.state
        for role in ("big", "small"):
            route = routed(role, self.config, self.snapshot)
            if route is None:
                return "degraded"
            backend = self.snapshot.backend(route.backend_id)
            model = self.snapshot.model(route.backend_id, route.model)
            if (backend is not None and backend.state == "down") or (
                model is not None and model.loaded is False
            ):
                return "degraded"
        return "healthy"

    def big_context_window(self) -> int | None:
        return compact_window(self.config, self.snapshot)

    def environment(self, *, reveal: bool) -> dict[str, str]:
        """The variables for Claude Code; the token masked unless `reveal`."""
        token = self.token if reveal or not self.token else MASK
        return claude_env(
            self.live_config, token=token, auto_compact_window=self.big_context_window()
        )

    def export_line(self, shell: str, *, reveal: bool) -> str:
        return render(self.environment(reveal=reveal), shell)

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        if self.state in ("starting", "running"):
            return
        self.error = None
        self._set_state("starting")
        config = self.config

        def work() -> GatewayServer:
            self._load_token()
            server = GatewayServer(
                config,
                bus=self.bus,
                token=self._current_token,
                transport=self.transport,
                api_keys=self._api_keys(config),
                # The clients beside this config; the app's own history keeps their usage.
                team_files=TeamFiles(clients_path(self.config_path)),
            )
            server.start()
            return server

        self.background.submit(work, self._started, self._failed, serial=True)

    def stop(self) -> None:
        server = self.server
        if server is None or self.state not in ("running", "failed"):
            return
        self._set_state("stopping")
        self._detach()
        self.background.submit(server.stop, lambda _: self._stopped(), self._failed, serial=True)

    def restart(self, config: GatewayConfig | None = None) -> None:
        """Serve `config` (default: the current one) from a fresh server; the old one drains."""
        new = config or self.config
        server = self.server
        if server is None or not self.running:
            self.config = new
            self._save()
            emit(self.config_changed, new)
            self.start()
            return
        old_url = self.url

        def work() -> None:
            server.api_keys = self._api_keys(new)
            server.restart(new)

        self.background.submit(
            work, lambda _: self._restarted(new, old_url), self._restart_failed, serial=True
        )

    def shutdown(self) -> None:
        """At quit: stop the server now, on this thread (nothing else is left to keep alive)."""
        self._detach()
        self.background.shutdown(wait=True)
        if self.server is not None:
            self.server.stop(timeout=5)
        self.server = None
        self.state = "stopped"

    # --- changes ------------------------------------------------------------------------------

    def set_model(self, role: str, target: str | None) -> None:
        """Choose the model for "big", "small" or "opus" (None: automatic / not set apart).
        Applies to the next request and is saved."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        self.update(**{role: target})

    def update(self, **changes: Any) -> bool:
        """Change settings: live ones apply at once, the rest through a restart. False (with a
        problem reported) when the values are refused."""
        try:
            new = GatewayConfig.model_validate({**self.config.model_dump(), **changes})
        except ValidationError as exc:
            error = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in error["loc"])
            emit(self.problem_reported, "error", f"{where}: {error['msg']}")
            return False
        if unguarded(new.host, self.token):
            emit(
                self.problem_reported,
                "error",
                f"Listening on {new.host} lets other machines use your models: create a token "
                "first (Settings → Token → Regenerate)",
            )
            return False
        if "log_level" in changes:
            logging.getLogger("lmgate").setLevel(str(new.log_level).upper())
        server = self.server
        if server is not None and self.running and not server.apply_config(new):
            self.restart(new)
            return True
        self.config = new
        self._save()
        emit(self.config_changed, new)
        return True

    def store_key(self, backend_id: str, api_key: str) -> None:
        """Put a backend's API key in the keyring. Blocking: call it on a worker. Raises
        KeyringUnavailable when the keyring cannot keep it."""
        self._store().set(backend_id, api_key)

    def save_backend(
        self,
        backend: BackendConfig,
        session_key: str | None = None,
        *,
        replacing: str | None = None,
    ) -> None:
        """Add (or replace) a configured backend whose key is in the keyring already or named by
        `api_key_env`. `session_key`: a key no keyring could keep, used until the app quits."""
        backends = [b for b in self.config.backends if b.id not in (backend.id, replacing)]
        new = self.config.model_copy(update={"backends": [*backends, backend]})
        if session_key:
            self._session_keys[backend.id] = session_key
        emit(self.notice, f"Backend {backend.id} saved")
        self.restart(new)

    def set_keyring_problem(self, message: str) -> None:
        """The keyring refused something: the status says so (the asker showed the details)."""
        self.keyring_problem = message
        emit(self.state_changed, self.state)

    def keyring_note(self) -> str | None:
        """What the missing keyring costs, in a few words for the status; None when it works."""
        if not self.keyring_problem:
            return None
        if self.keyring_problem.startswith("no secure keyring"):
            return "API keys can't be saved: no keyring"
        return "API keys can't be saved: the keyring did not answer"

    def status_text(self) -> str:
        """The state in words: what works, then what does not (the keyring never turns a
        gateway that serves Claude Code into "a problem")."""
        health = self.health()
        text = HEALTH_TEXT.get(health, health)
        note = self.keyring_note()
        if note is None or self.state != "running":
            return text
        if health == "healthy":
            text = "Local models ready" if self._routes_local() else "Ready"
        return f"{text} · {note}"

    def keep_recovered(self) -> None:
        """Write the settings read from the backup back to the config file."""
        self._save(saved=f"Settings saved to {self.config_path}")

    def remove_backend(self, backend_id: str) -> None:
        self._session_keys.pop(backend_id, None)
        backends = [b for b in self.config.backends if b.id != backend_id]
        self.restart(self.config.model_copy(update={"backends": backends}))

    def regenerate_token(self) -> None:
        def work() -> str:
            return generate_token(self._store())

        def done(token: str) -> None:
            self.token = token
            self.keyring_problem = None
            emit(self.token_changed)
            emit(self.notice, "A new token is in use: update Claude Code's settings or export line")

        self.background.submit(work, done, self._keyring_failed)

    def clear_token(self) -> None:
        def done(_: None) -> None:
            self.token = None
            emit(self.token_changed)

        self.background.submit(lambda: self._store().delete(TOKEN_NAME), done, self._keyring_failed)

    def refresh_backends(self) -> None:
        """Probe the backends now instead of at the next tick (on the gateway's loop)."""
        if self.server is not None:
            self.server.refresh_backends()

    def set_fast_refresh(self, fast: bool) -> None:
        """While a window shows the catalogue, the registry refreshes it more often."""
        if self.server is not None:
            self.server.set_fast_refresh(fast)

    # --- internals ----------------------------------------------------------------------------

    def _set_state(self, state: str) -> None:
        self.state = state
        emit(self.state_changed, state)

    def _started(self, server: GatewayServer) -> None:
        self.server = server
        self.suggested_port = None
        self._attach()
        self._set_state("running")
        emit(self.token_changed)
        if self.keyring_problem:
            emit(self.problem_reported, "keyring", self.keyring_problem)

    def _stopped(self) -> None:
        self._set_state("stopped")

    def _failed(self, exc: BaseException) -> None:
        if isinstance(exc, PortInUse):
            self.suggested_port = next_free_port(exc.host, exc.port)
            self.error = f"Port {exc.port} on {exc.host} is taken by another program" + (
                f"; port {self.suggested_port} is free" if self.suggested_port else ""
            )
            self._set_state("failed")
            emit(self.problem_reported, "port", self.error)
            return
        self.error = f"The gateway could not start: {exc}"
        log.error("%s", self.error, exc_info=exc)
        self._set_state("failed")
        emit(self.problem_reported, "error", self.error)

    def _restarted(self, config: GatewayConfig, old_url: str) -> None:
        self.config = config
        self.suggested_port = None
        self._save()
        self._attach()
        emit(self.config_changed, config)
        emit(self.state_changed, self.state)
        if self.url != old_url:
            emit(self.address_changed, self.url)

    def _restart_failed(self, exc: BaseException) -> None:
        if isinstance(exc, PortInUse):
            self.suggested_port = next_free_port(exc.host, exc.port)
            message = f"Port {exc.port} on {exc.host} is taken by another program; the gateway "
            message += f"stays on {self.url}"
            emit(self.problem_reported, "port", message)
            return
        emit(self.problem_reported, "error", f"The gateway could not restart: {exc}")

    def _keyring_failed(self, exc: BaseException) -> None:
        message = exc.message if isinstance(exc, KeyringUnavailable) else str(exc)
        self.keyring_problem = message
        emit(self.problem_reported, "keyring", message)

    def _save(self, *, saved: str | None = None) -> None:
        config, path = self.config, self.config_path
        self.recovered_from = None  # the file now holds what is in use

        def failed(exc: BaseException) -> None:
            emit(
                self.problem_reported, "error", f"The settings could not be saved to {path}: {exc}"
            )

        def done(_: Path) -> None:
            if saved:
                emit(self.notice, saved)

        self.background.submit(lambda: save_config(config, path), done, failed, serial=True)

    def _store(self) -> Keystore:
        return self._keystore or default_keystore()

    def _current_token(self) -> str | None:
        return self.token

    def _load_token(self) -> None:
        """On a worker: the token from LMGATE_TOKEN or the keyring."""
        try:
            self.token = get_token(self._store())
            self.keyring_problem = None
        except KeyringUnavailable as exc:
            self.token = None
            self.keyring_problem = exc.message

    def _api_keys(self, config: GatewayConfig) -> dict[str, str]:
        """On a worker: backend id → API key, from `api_key_env` or the keyring."""
        keys: dict[str, str] = {}
        keyring_usable = True
        for backend in config.backends:
            value: str | None = None
            if backend.api_key_env:
                value = os.environ.get(backend.api_key_env)
            elif keyring_usable:
                try:
                    value = self._store().get(backend.id)
                except KeyringUnavailable as exc:
                    self.keyring_problem = exc.message
                    keyring_usable = False  # asked once; the backends after it still count
            value = value or self._session_keys.get(backend.id)
            if value:
                keys[backend.id] = value
        return keys

    def _routes_local(self) -> bool:
        for role in ("big", "small"):
            route = routed(role, self.config, self.snapshot)
            backend = self.snapshot.backend(route.backend_id) if route is not None else None
            if backend is None or backend.remote:
                return False
        return True

    def _attach(self) -> None:
        self._detach()
        if self.server is not None:
            self._unsubscribe = self.server.subscribe_catalogue(self._bridge.publish)
            self._set_snapshot(self.server.catalogue())

    def _detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _set_snapshot(self, snapshot: object) -> None:
        if not isinstance(snapshot, CatalogueSnapshot):
            return
        old = self.snapshot
        if (old.backends, old.models) == (snapshot.backends, snapshot.models):
            return
        self.snapshot = snapshot
        emit(self.catalogue_changed, snapshot)
        emit(self.state_changed, self.state)
