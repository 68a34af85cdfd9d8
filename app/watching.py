"""Which local servers the app watches and on which ports, how to start one, and the quick
search that runs while none answers (every few seconds, backing off once one is found)."""

from __future__ import annotations

import html
import os
from collections.abc import Mapping

from PySide6.QtCore import QObject, QTimer

from app.controller import GatewayController
from gateway.backends.catalogue import CatalogueSnapshot
from gateway.backends.discovery import default_targets, targets_from
from gateway.config import GatewayConfig

__all__ = ["SEARCH_INTERVAL_MS", "BackendSearch", "any_backend_up", "empty_html", "watched"]

# While nothing answers, a server the user just started shows within this; once one answers the
# registry's own interval (10 s with a window, 60 s without) takes over again.
SEARCH_INTERVAL_MS = 3000

NAMES = {
    "lmstudio": "LM Studio",
    "ollama": "Ollama",
    "llamacpp": "llama.cpp",
    "vllm": "vLLM",
    "sglang": "SGLang",
    "jan": "Jan",
}
HOW_TO_START = (
    ("LM Studio", "Developer tab → Start server, or <code>lms server start</code>"),
    ("Ollama", "<code>ollama serve</code> (the desktop app starts it)"),
    ("llama.cpp", "<code>llama-server -m model.gguf --jinja</code>"),
)


def watched(config: GatewayConfig, environ: Mapping[str, str] | None = None) -> list[str]:
    """ "LM Studio on 127.0.0.1:1234", one per place discovery probes; empty when it is off."""
    if not config.discover:
        return []
    env = os.environ if environ is None else environ
    if config.discovery_targets is not None:
        targets = targets_from(config.discovery_targets)
    else:
        targets = default_targets(env)
    return [f"{NAMES.get(t.kind, t.kind)} on {t.root.split('://', 1)[-1]}" for t in targets]


def any_backend_up(snapshot: CatalogueSnapshot) -> bool:
    return any(b.state == "up" for b in snapshot.backends)


def empty_html(config: GatewayConfig, environ: Mapping[str, str] | None = None) -> str:
    """What an empty backend list says: where the app looks and how to start a server."""
    places = watched(config, environ)
    if places:
        where = "No model server answers yet. LM Gate looks for " + ", ".join(
            html.escape(p) for p in places
        )
        where += " and checks again every few seconds."
    else:
        where = "No backend answers yet, and looking for local servers is off (Settings)."
    start = "".join(f"<li><b>{name}</b>: {how}</li>" for name, how in HOW_TO_START)
    return f"{where}<br>Start one, load a model, and it shows here:<ul>{start}</ul>"


class BackendSearch(QObject):
    """Asks the gateway to probe every `SEARCH_INTERVAL_MS` while the gateway runs and no
    backend is up; stops as soon as one is."""

    def __init__(self, controller: GatewayController, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.timer = QTimer(self)
        self.timer.setInterval(SEARCH_INTERVAL_MS)
        self.timer.timeout.connect(controller.refresh_backends)
        controller.state_changed.connect(self.update)
        controller.catalogue_changed.connect(self.update)
        self.update()

    @property
    def searching(self) -> bool:
        return self.timer.isActive()

    def update(self, *_: object) -> None:
        wanted = self.controller.running and not any_backend_up(self.controller.snapshot)
        if wanted and not self.timer.isActive():
            self.timer.start()
        elif not wanted and self.timer.isActive():
            self.timer.stop()
