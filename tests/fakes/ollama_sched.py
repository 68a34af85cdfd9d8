"""The fake Ollama's scheduler: which models are in memory, with which runner options, and when a
request makes Ollama load or reload one, at what cost.

Source of truth: ollama/ollama server/sched.go and server/routes.go.
- Every generation request (/api/chat, /api/generate, and the OpenAI and Anthropic endpoints,
  which become /api/chat inside Ollama with no runner option) asks the scheduler for a runner.
  The options that shape a runner are api.Runner's: num_ctx, num_batch, num_gpu, main_gpu,
  use_mmap, num_thread, draft_num_predict. Sampling options (temperature, num_predict, stop…)
  never reload.
- `needsReload`: a loaded model is reloaded when the request's runner options differ from the
  loaded ones, where num_ctx is first bounded by the model's trained context; a num_ctx both
  sides left to Ollama's automatic choice (`numCtxAuto`: not in the request, the Modelfile or
  OLLAMA_CONTEXT_LENGTH) counts as the loaded one, and so does an automatic num_batch; num_gpu
  below 0 is ignored. So a request without num_ctx reloads a model that was loaded with one
  (unless it equals the automatic choice), and one with num_ctx reloads a model loaded with
  another.
- `keep_alive` (api.Duration: seconds, or "5m"; negative: until unloaded; 0: unload now)
  sets how long the model stays once idle; a request without it leaves the loaded model's as it
  was (useLoadedRunner), and a new load gets OLLAMA_KEEP_ALIVE, 5 minutes by default.
- /api/ps lists each loaded model with `size` (weights and KV cache: it grows with num_ctx),
  `expires_at` and `context_length` (the runner's num_ctx); /api/chat's last object says how
  long the load took in `load_duration` (nanoseconds; a few ms when the model was loaded).
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RUNNER_OPTIONS", "Admission", "Runner", "Scheduler", "keep_alive_seconds"]

RUNNER_OPTIONS = (
    "num_ctx",
    "num_batch",
    "num_gpu",
    "main_gpu",
    "use_mmap",
    "num_thread",
    "draft_num_predict",
)
# api.DefaultOptions: what a runner option is when nobody sets it.
_DEFAULTS: dict[str, Any] = {
    "num_batch": 512,
    "num_gpu": -1,
    "main_gpu": None,
    "use_mmap": None,
    "num_thread": 0,
    "draft_num_predict": 0,
}
DEFAULT_KEEP_ALIVE = 300.0  # OLLAMA_KEEP_ALIVE's default, 5m
WEIGHTS_BYTES = 492523008
KV_BYTES_PER_TOKEN = 12288  # qwen2 0.5B: 24 layers x 2 KV heads x 64 x (K, V) x 2 bytes
_DURATION = re.compile(r"^(-?\d+(?:\.\d+)?)(ms|s|m|h)?$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def keep_alive_seconds(value: Any) -> float | None:
    """api.Duration: a number of seconds or a Go duration string; negative means forever
    (math.inf); None when absent or unreadable."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION.match(value.strip())
        if match is None:
            return None
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    else:
        return None
    return math.inf if seconds < 0 else seconds


@dataclass
class Runner:
    """One loaded model."""

    options: dict[str, Any]
    ctx_auto: bool
    batch_auto: bool
    keep_alive: float
    ready_at: float  # monotonic time the load finishes
    expires_at: float = math.inf  # monotonic; reset by each request

    @property
    def context(self) -> int:
        value: int = self.options["num_ctx"]
        return value

    @property
    def size(self) -> int:
        return WEIGHTS_BYTES + KV_BYTES_PER_TOKEN * self.context


@dataclass(frozen=True)
class Admission:
    """What the scheduler did for one request: how long it waits for the model (0 when it was
    loaded as asked) and whether that was a load or a reload."""

    wait: float
    loaded: bool = False
    reloaded: bool = False


@dataclass
class Scheduler:
    """Ollama's runners for one fake server. `default_context` is the automatic num_ctx (the VRAM
    tier, 4096 below 24 GiB, or OLLAMA_CONTEXT_LENGTH); `trained_context` bounds any num_ctx;
    each load takes `load_seconds`."""

    default_context: int
    trained_context: int
    load_seconds: float = 0.0
    runners: dict[str, Runner] = field(default_factory=dict)
    loads: dict[str, int] = field(default_factory=dict)  # every load, the first one included
    reloads: dict[str, int] = field(default_factory=dict)  # loads that replaced a loaded runner

    def preload(self, model: str, context: int | None = None) -> None:
        """A model already in memory when the fake starts (loaded with `context`, or Ollama's
        automatic choice), kept until unloaded."""
        options = self._resolve({"num_ctx": context} if context else {})
        self.runners[model] = Runner(
            options, ctx_auto=context is None, batch_auto=True, keep_alive=math.inf, ready_at=0.0
        )

    def admit(self, model: str, options: Any, keep_alive: Any = None) -> Admission:
        """A generation request for `model` with these `options` (the request's, None on the
        OpenAI and Anthropic endpoints): the runner it gets, loading it when needed."""
        now = time.monotonic()
        self._expire(now)
        asked = options if isinstance(options, dict) else {}
        wanted = self._resolve(asked)
        ctx_auto = "num_ctx" not in asked
        batch_auto = "num_batch" not in asked
        duration = keep_alive_seconds(keep_alive)
        runner = self.runners.get(model)
        if runner is not None and not self._needs_reload(runner, wanted, ctx_auto, batch_auto):
            if duration is not None:
                runner.keep_alive = duration
            self._touch(runner, now)
            return Admission(max(0.0, runner.ready_at - now))
        reloaded = runner is not None
        if runner is not None:
            # A request running on the old runner holds the reload up; it keeps its own options.
            now = max(now, runner.ready_at)
        fresh = Runner(
            wanted,
            ctx_auto=ctx_auto,
            batch_auto=batch_auto,
            keep_alive=duration if duration is not None else DEFAULT_KEEP_ALIVE,
            ready_at=now + self.load_seconds,
        )
        self.runners[model] = fresh
        self._touch(fresh, fresh.ready_at)
        self.loads[model] = self.loads.get(model, 0) + 1
        if reloaded:
            self.reloads[model] = self.reloads.get(model, 0) + 1
        return Admission(fresh.ready_at - time.monotonic(), loaded=True, reloaded=reloaded)

    def unload(self, model: str) -> None:
        self.runners.pop(model, None)

    def loaded(self) -> dict[str, Runner]:
        self._expire(time.monotonic())
        return dict(self.runners)

    def _resolve(self, asked: dict[str, Any]) -> dict[str, Any]:
        resolved = {key: asked.get(key, _DEFAULTS.get(key)) for key in RUNNER_OPTIONS}
        num_ctx = asked.get("num_ctx")
        num_ctx = num_ctx if isinstance(num_ctx, int) and num_ctx > 0 else self.default_context
        # getRunner: at least 4; effectiveContext: at most the trained context.
        resolved["num_ctx"] = min(max(num_ctx, 4), self.trained_context)
        return resolved

    def _needs_reload(
        self, runner: Runner, wanted: dict[str, Any], ctx_auto: bool, batch_auto: bool
    ) -> bool:
        existing = dict(runner.options)
        new = dict(wanted)
        if runner.ctx_auto and ctx_auto:
            new["num_ctx"] = existing["num_ctx"]
        if runner.batch_auto and batch_auto:
            new["num_batch"] = existing["num_batch"]
        if new["use_mmap"] is None:
            new["use_mmap"] = existing["use_mmap"]
        if isinstance(new["num_gpu"], int) and new["num_gpu"] < 0:
            existing["num_gpu"] = new["num_gpu"] = -1
        return existing != new

    def _touch(self, runner: Runner, now: float) -> None:
        runner.expires_at = now + runner.keep_alive

    def _expire(self, now: float) -> None:
        for model, runner in list(self.runners.items()):
            if runner.expires_at <= now:
                del self.runners[model]
