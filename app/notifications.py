"""Tray messages for what happens while nobody looks at the window: a backend goes down or comes
back, a model Claude Code is routed to is unloaded, requests keep failing. Each is said once
per event (the next after it is over), and none when the user switched them off."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject

from app.controller import GatewayController
from app.model_advice import routed
from gateway.backends.catalogue import CatalogueSnapshot
from gateway.events import RequestRecord
from gateway.routing import ROLES

__all__ = ["FAILURES_IN_A_ROW", "Notifier"]

# Failed requests in a row before "requests keep failing": one is a hiccup, three a pattern.
FAILURES_IN_A_ROW = 3
Deliver = Callable[[str, str], None]


def failed(record: RequestRecord) -> bool:
    """The backend or the gateway failed the request (not the client's own 4xx)."""
    return (
        record.status >= 500 or record.status == 429 or (record.status == 0 and bool(record.error))
    )


class Notifier(QObject):
    def __init__(
        self,
        controller: GatewayController,
        deliver: Deliver,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.deliver = deliver
        self.sent: list[tuple[str, str]] = []  # what was said, oldest first (bounded)
        self._states: dict[str, str] = {}  # backend id → "up" | "down", as last seen
        self._unloaded: set[str] = set()  # "backend:model" said to be unloaded
        self._failures = 0
        self._failing_said = False
        controller.catalogue_changed.connect(self.catalogue)

    @property
    def enabled(self) -> bool:
        return self.controller.config.notifications

    def say(self, title: str, text: str) -> None:
        if not self.enabled:
            return
        self.sent.append((title, text))
        del self.sent[:-50]
        self.deliver(title, text)

    # --- backends and models ------------------------------------------------------------------

    def catalogue(self, snapshot: object) -> None:
        if not isinstance(snapshot, CatalogueSnapshot):
            return
        for backend in snapshot.backends:
            if backend.state not in ("up", "down"):
                continue
            before = self._states.get(backend.id)
            self._states[backend.id] = backend.state
            name = backend.display_name or backend.id
            if before == "up" and backend.state == "down":
                why = f": {backend.error}" if backend.error else ""
                self.say("A backend is down", f"{name} is not answering{why}")
            elif before == "down" and backend.state == "up":
                self.say("A backend is back", f"{name} answers again")
        self._needed_models(snapshot)

    def _needed_models(self, snapshot: CatalogueSnapshot) -> None:
        config = self.controller.config
        needed: dict[str, list[str]] = {}
        for role in ROLES:
            if role == "opus" and config.opus is None:
                continue  # Opus goes where big goes: said as big
            route = routed(role, config, snapshot)
            if route is not None:
                needed.setdefault(f"{route.backend_id}:{route.model}", []).append(role)
        for target, roles in needed.items():
            backend_id, _, name = target.partition(":")
            model = snapshot.model(backend_id, name)
            if model is None or model.loaded is None:
                continue
            if model.loaded:
                self._unloaded.discard(target)
            elif target not in self._unloaded:
                self._unloaded.add(target)
                who = " and ".join(roles)
                self.say(
                    "A model Claude Code needs is unloaded",
                    f"{name} on {backend_id} ({who}) is no longer loaded: the next request waits "
                    "while it loads",
                )

    # --- requests -----------------------------------------------------------------------------

    def record(self, record: object) -> None:
        if not isinstance(record, RequestRecord) or record.status == 0 and not record.error:
            return
        if not failed(record):
            self._failures = 0
            self._failing_said = False
            return
        self._failures += 1
        if self._failures >= FAILURES_IN_A_ROW and not self._failing_said:
            self._failing_said = True
            last = record.error or f"status {record.status}"
            self.say(
                "Requests keep failing",
                f"The last {self._failures} requests failed; the last: {last[:200]}",
            )
