"""`lmgate doctor`: what is wrong with a setup and how to fix it, from the catalogue and a few
facts the command gathers (keyring, port). Pure: the findings come from what is passed in.

Claude Code's system prompt and tools alone are about 17k tokens, so a context window under 32k
cannot hold one request, and under 64k leaves little room for the conversation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.backends.catalogue import BackendInfo, CatalogueSnapshot, ModelInfo
from gateway.config import GatewayConfig
from gateway.errors import GatewayError
from gateway.routing import ROLE_MODELS, Route, resolve

__all__ = ["MIN_WINDOW", "WANTED_WINDOW", "Diagnosis", "Finding", "diagnose"]

MIN_WINDOW = 32 * 1024
WANTED_WINDOW = 64 * 1024

_WINDOW_FIX = {
    "ollama": "start Ollama with OLLAMA_CONTEXT_LENGTH=65536 (or raise the context length in "
    "the Ollama app's settings)",
    "lmstudio": "reload it with a larger context: `lms load {model} --context-length 65536` "
    "(or in LM Studio's model load settings)",
    "llamacpp": "restart llama-server with `-c 65536` (per slot: times --parallel)",
    "vllm": "restart vLLM with `--max-model-len 65536`",
    "sglang": "restart SGLang with `--context-length 65536`",
}


@dataclass(frozen=True, slots=True)
class Finding:
    level: str  # "ok" | "warning" | "error"
    message: str
    fix: str | None = None


@dataclass
class Diagnosis:
    findings: list[Finding] = field(default_factory=list)
    # The `small` setting that stops big/small swapping, when that is the advice.
    swap_fix: str | None = None

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.level == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.level == "warning")

    def add(self, level: str, message: str, fix: str | None = None) -> None:
        self.findings.append(Finding(level, message, fix))


def diagnose(
    config: GatewayConfig,
    snapshot: CatalogueSnapshot,
    *,
    keyring_problem: str | None,
    keyed: frozenset[str],
    port_state: str,
) -> Diagnosis:
    """`keyring_problem`: why the OS keyring cannot be used (None: it can); `keyed`: the
    backend ids that have an API key; `port_state`: "free" | "lmgate" (an LM Gate answers
    there) | "taken"."""
    diagnosis = Diagnosis()
    _backends(snapshot, diagnosis)
    if any(b.state == "up" for b in snapshot.backends):
        _roles(config, snapshot, diagnosis)
    _keys(config, snapshot, keyring_problem, keyed, diagnosis)
    _port(config, port_state, diagnosis)
    return diagnosis


def _backends(snapshot: CatalogueSnapshot, d: Diagnosis) -> None:
    if not any(b.state != "disabled" for b in snapshot.backends):
        d.add(
            "error",
            "no backend was found: nothing answers at the usual places of LM Studio, Ollama, "
            "llama.cpp, vLLM, SGLang or Jan, and the config names none",
            "start LM Studio's server (`lms server start`) or Ollama (`ollama serve`), or add "
            "a [[backends]] entry to the config",
        )
        return
    for b in snapshot.backends:
        if b.state == "disabled":
            continue
        models = [m for m in snapshot.models_of(b.id) if m.routable]
        if b.state == "down":
            level = "warning" if b.discovered else "error"
            d.add(level, f"backend {b.id} ({b.url}) is down: {b.error or 'no answer'}")
            continue
        if b.state != "up":
            d.add("warning", f"backend {b.id} ({b.url}) was not checked: {b.error or b.state}")
            continue
        if b.error:
            d.add("warning", f"backend {b.id}: {b.error}")
        if not models:
            d.add(
                "error",
                f"backend {b.id} ({b.kind}) is up but lists no model",
                "download a model in it, then run `lmgate backends`",
            )
            continue
        loaded = [m for m in models if m.loaded]
        version = f" {b.version}" if b.version else ""
        d.add(
            "ok",
            f"backend {b.id} ({b.kind}{version}) is up: {len(models)} models, {len(loaded)} "
            f"loaded; protocol {b.protocol}",
        )
        if not b.remote and not loaded and all(m.loaded is False for m in models):
            d.add(
                "warning",
                f"no model is loaded on {b.id}: the first request waits while one loads",
                "load the model you use for Claude Code before starting it",
            )


def _roles(config: GatewayConfig, snapshot: CatalogueSnapshot, d: Diagnosis) -> None:
    index = snapshot.index()
    routes: dict[str, Route] = {}
    for role in ("big", "small"):
        try:
            routes[role] = resolve(ROLE_MODELS[role], config, index)
        except GatewayError as exc:
            d.add("error", f"the {role} model cannot be chosen: {exc.message}")
    checked: set[tuple[str, str]] = set()
    for role, route in routes.items():
        model = snapshot.model(route.backend_id, route.model)
        backend = snapshot.backend(route.backend_id)
        if model is None or backend is None:
            listed = ", ".join(snapshot.index().models.get(route.backend_id, ())) or "none"
            d.add(
                "error",
                f"the {role} model '{route.model}' is not served by backend {route.backend_id}",
                f"choose one it lists ({listed}) with --{role} or `{role} = …` in the config",
            )
            continue
        if (route.backend_id, route.model) not in checked:
            checked.add((route.backend_id, route.model))
            _window(role, model, backend, d)
    big, small = routes.get("big"), routes.get("small")
    if big and small and big.backend_id == small.backend_id and big.model != small.model:
        _swapping(config, snapshot, big, small, d)


def _window(role: str, model: ModelInfo, backend: BackendInfo, d: Diagnosis) -> None:
    name = f"the {role} model {model.name} on {backend.id}"
    fix = _WINDOW_FIX.get(backend.kind, "load the model with a context of 64k tokens or more")
    fix = fix.format(model=model.name)
    window = model.context_window
    if window is None:
        if model.loaded is False:
            d.add("warning", f"{name} is not loaded, so its context window is not known yet")
        elif not backend.remote:
            d.add("warning", f"{name}: its backend does not say its context window")
        return
    if window < MIN_WINDOW:
        d.add(
            "error",
            f"{name} has a {window}-token context window: Claude Code's system prompt and "
            "tools alone take about 17k tokens",
            fix,
        )
    elif window < WANTED_WINDOW:
        d.add(
            "warning",
            f"{name} has a {window}-token context window; 64k or more leaves room to work",
            fix,
        )
    else:
        d.add("ok", f"{name} has a {window}-token context window")


def _swapping(
    config: GatewayConfig, snapshot: CatalogueSnapshot, big: Route, small: Route, d: Diagnosis
) -> None:
    backend = snapshot.backend(big.backend_id)
    if backend is None or backend.remote:
        return
    big_model = snapshot.model(big.backend_id, big.model)
    small_model = snapshot.model(small.backend_id, small.model)
    if big_model is None or small_model is None:
        return
    if big_model.loaded and small_model.loaded:
        d.add("ok", f"the big and small models are both loaded on {backend.id}")
        return
    if not (big_model.loaded or small_model.loaded):
        return
    target = config.big or f"{big.backend_id}:{big.model}"
    d.swap_fix = target
    d.add(
        "warning",
        f"big ({big.model}) and small ({small.model}) are different models on {backend.id}, "
        f"and only {big.model if big_model.loaded else small.model} is loaded: every switch "
        "between them reloads a model, which takes seconds to minutes",
        f"use the big model for small too: `lmgate doctor --fix-swap` (sets small = "
        f'"{target}"), or run with `--small {target}`',
    )


def _keys(
    config: GatewayConfig,
    snapshot: CatalogueSnapshot,
    keyring_problem: str | None,
    keyed: frozenset[str],
    d: Diagnosis,
) -> None:
    remote = [b for b in config.backends if b.enabled and _is_remote(snapshot.backend(b.id))]
    for backend in remote:
        if backend.id in keyed:
            continue
        if backend.api_key_env:
            d.add(
                "error",
                f"backend {backend.id}: {backend.api_key_env} is not set, so it gets no API key",
                f"export {backend.api_key_env}=… before starting LM Gate",
            )
        else:
            d.add(
                "error",
                f"backend {backend.id} has no API key",
                f"store one with `lmgate keys set {backend.id}` (or set api_key_env)",
            )
    if keyring_problem is None:
        d.add("ok", "the OS keyring is usable")
        return
    needed = any(not b.api_key_env for b in remote)
    d.add("error" if needed else "warning", f"the OS keyring cannot be used: {keyring_problem}")


def _is_remote(backend: BackendInfo | None) -> bool:
    return backend is not None and backend.remote


def _port(config: GatewayConfig, port_state: str, d: Diagnosis) -> None:
    where = f"{config.host}:{config.port}"
    if port_state == "free":
        d.add("ok", f"{where} is free for the gateway")
    elif port_state == "lmgate":
        d.add("ok", f"an LM Gate is already serving on {where}")
    else:
        d.add(
            "error",
            f"{where} is taken by another program",
            "pass --port with a free port, or set port = … in the config",
        )
