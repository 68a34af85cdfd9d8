"""Loading and unloading models from the app (the Models page and the tray): one job per model
at a time on a worker thread, its progress (what runs, for how long) as signals, the context
length per model from the config, and the catalogue refreshed when a job ends."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx
from PySide6.QtCore import QObject, QTimer, Signal

from app.controller import GatewayController
from app.model_advice import context_label
from app.signals import emit
from gateway.backends.doctor import MIN_WINDOW, WANTED_WINDOW
from gateway.backends.loading import Loaded, LoadError, can_load, load, unload

__all__ = ["CONTEXT_CHOICES", "Job", "ModelLoader", "context_advice"]

# What the context dropdown offers, capped at the model's maximum.
CONTEXT_CHOICES = (8192, 16384, 32768, 65536, 98304, 131072, 196608, 262144)


@dataclass(frozen=True, slots=True)
class Job:
    target: str  # "backend:model"
    action: str  # "load" | "unload"
    started: float  # monotonic

    def text(self) -> str:
        seconds = time.monotonic() - self.started
        verb = "Loading" if self.action == "load" else "Unloading"
        return f"{verb} {self.target.split(':', 1)[1]}… {seconds:.0f} s"


def context_advice(tokens: int | None) -> tuple[str, str]:
    """(level, words) for a context length to load with: what it means for Claude Code."""
    if tokens is None:
        return "info", "the backend's default (often 4k on Ollama: too small for Claude Code)"
    if tokens < MIN_WINDOW:
        return "error", f"{context_label(tokens)}: Claude Code needs at least 32k"
    if tokens < WANTED_WINDOW:
        return "warning", f"{context_label(tokens)}: under 64k, sessions compact often"
    return "ok", f"{context_label(tokens)}: enough for Claude Code (more costs memory)"


class ModelLoader(QObject):
    """Runs load and unload jobs; `changed` after each start, tick and end."""

    changed = Signal()
    finished = Signal(str, str)  # target, what happened in words

    def __init__(self, controller: GatewayController, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.jobs: dict[str, Job] = {}
        # A second's tick while something runs, so the progress shows time passing.
        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(lambda: emit(self.changed))

    def context_for(self, target: str) -> int | None:
        return self.controller.config.load_context.get(target)

    def set_context(self, target: str, tokens: int | None) -> None:
        """Remember the context length to load `target` with (None: the backend's default)."""
        chosen = dict(self.controller.config.load_context)
        if tokens is None:
            chosen.pop(target, None)
        else:
            chosen[target] = tokens
        if chosen != self.controller.config.load_context:
            self.controller.update(load_context=chosen)

    def why_not(self, target: str) -> str | None:
        backend_id = target.split(":", 1)[0]
        if target in self.jobs:
            return "busy"
        return can_load(self.controller.snapshot.backend(backend_id))

    def load(self, target: str) -> bool:
        return self._start(target, "load")

    def unload(self, target: str) -> bool:
        return self._start(target, "unload")

    def _start(self, target: str, action: str) -> bool:
        backend_id, _, model = target.partition(":")
        backend = self.controller.snapshot.backend(backend_id)
        if backend is None or self.why_not(target) is not None:
            return False
        context = self.context_for(target)
        job = Job(target, action, time.monotonic())
        self.jobs[target] = job

        def work() -> Loaded | None:
            with httpx.Client(trust_env=False) as client:
                if action == "load":
                    return load(client, backend, model, context)
                unload(client, backend, model)
                return None

        def done(result: Loaded | None) -> None:
            if result is None:
                said = f"{model} unloaded from {backend_id}"
            else:
                window = context_label(result.context_length) if result.context_length else ""
                said = f"{model} loaded on {backend_id}" + (f" with {window}" if window else "")
                said += f" in {result.seconds:.1f} s"
            self._end(target, said)

        def failed(exc: BaseException) -> None:
            reason = str(exc) if isinstance(exc, LoadError) else f"{type(exc).__name__}: {exc}"
            verb = "load" if action == "load" else "unload"
            message = f"Could not {verb} {model} on {backend_id}: {reason}"
            emit(self.controller.problem_reported, "error", message)
            self._end(target, message)

        self.controller.background.submit(work, done, failed)
        self._tick.start()
        emit(self.changed)
        return True

    def _end(self, target: str, said: str) -> None:
        self.jobs.pop(target, None)
        if not self.jobs:
            self._tick.stop()
        emit(self.controller.notice, said)
        emit(self.finished, target, said)
        emit(self.changed)
        self.controller.refresh_backends()
