"""Loading a model into memory, with a context length, and unloading it, on LM Studio and Ollama.

LM Studio (REST API v1, 0.4+; lmstudio-ai/docs 1_developer/2_rest/load.md, unload.md):
POST /api/v1/models/load {"model", "config": {"context_length"}} answers
{"model_instance_id", "config": {"context_length", …}, "load_time_seconds"}; POST
/api/v1/models/unload {"instance_id"} answers {"instance_id"}; the instances of a model are
`loaded_instances[].id` in GET /api/v1/models. Its v0 REST API (0.3) has no load endpoint.
Ollama (docs/api.md "Load a model", "Unload a model"; docs/context-length.mdx): POST
/api/generate {"model"} with no prompt loads it (`options.num_ctx` the context length,
`keep_alive` how long it stays: -1 until unloaded), {"model", "keep_alive": 0} unloads it
(`done_reason` "unload"); GET /api/ps then lists it with the `context_length` it got.

Both calls block until the backend is done (a load can take minutes); callers run them on a
worker thread, never on an event loop.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from gateway.backends.catalogue import BackendInfo
from gateway.backends.discovery import server_root

__all__ = ["LOAD_TIMEOUT", "LoadError", "Loaded", "can_load", "load", "unload"]

# Loading a 30B model from a slow disk takes minutes; unloading is quick.
LOAD_TIMEOUT = 600.0
_UNLOAD_TIMEOUT = 60.0


class LoadError(Exception):
    """The backend refused or failed; the message says what it answered."""


@dataclass(frozen=True, slots=True)
class Loaded:
    model: str
    context_length: int | None  # what the backend loaded it with, where it says
    seconds: float


def can_load(backend: BackendInfo | None) -> str | None:
    """None when LM Gate can load and unload models on `backend`; else why not, in words."""
    if backend is None:
        return "the backend is not known"
    if backend.kind not in ("lmstudio", "ollama") or backend.remote:
        return "LM Gate loads and unloads models on LM Studio and Ollama"
    if backend.state != "up":
        return f"{backend.id} is not answering"
    if backend.kind == "lmstudio" and "rest-v1" not in backend.features:
        return "loading from LM Gate needs LM Studio 0.4 or later (its REST API v1)"
    return None


def load(
    client: httpx.Client,
    backend: BackendInfo,
    model: str,
    context_length: int | None = None,
    *,
    headers: Mapping[str, str] | None = None,
) -> Loaded:
    """Load `model` (with `context_length` tokens of context, else the backend's default)."""
    why_not = can_load(backend)
    if why_not is not None:
        raise LoadError(why_not)
    root = server_root(backend.url)
    began = time.monotonic()
    if backend.kind == "lmstudio":
        body: dict[str, Any] = {"model": model}
        if context_length:
            body["config"] = {"context_length": context_length}
        answer = _post(client, f"{root}/api/v1/models/load", body, headers, LOAD_TIMEOUT)
        config = answer.get("config")
        loaded = config.get("context_length") if isinstance(config, dict) else None
        return Loaded(model, loaded if isinstance(loaded, int) else None, _since(began))
    body = {"model": model, "keep_alive": -1}
    if context_length:
        body["options"] = {"num_ctx": context_length}
    answer = _post(client, f"{root}/api/generate", body, headers, LOAD_TIMEOUT)
    if answer.get("done") is not True:
        raise LoadError(f"Ollama did not finish loading {model}: {answer}")
    return Loaded(model, _ollama_context(client, root, model, headers), _since(began))


def unload(
    client: httpx.Client,
    backend: BackendInfo,
    model: str,
    *,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Take `model` out of memory (every instance of it, on LM Studio)."""
    why_not = can_load(backend)
    if why_not is not None:
        raise LoadError(why_not)
    root = server_root(backend.url)
    if backend.kind == "lmstudio":
        listed = _get(client, f"{root}/api/v1/models", headers)
        instances = [
            instance["id"]
            for entry in listed.get("models") or ()
            if isinstance(entry, dict) and entry.get("key") == model
            for instance in entry.get("loaded_instances") or ()
            if isinstance(instance, dict) and isinstance(instance.get("id"), str)
        ]
        if not instances:
            raise LoadError(f"{model} is not loaded on {backend.id}")
        for instance in instances:
            url = f"{root}/api/v1/models/unload"
            _post(client, url, {"instance_id": instance}, headers, _UNLOAD_TIMEOUT)
        return
    answer = _post(
        client, f"{root}/api/generate", {"model": model, "keep_alive": 0}, headers, _UNLOAD_TIMEOUT
    )
    if answer.get("done_reason") != "unload" and answer.get("done") is not True:
        raise LoadError(f"Ollama did not unload {model}: {answer}")


def _ollama_context(
    client: httpx.Client, root: str, model: str, headers: Mapping[str, str] | None
) -> int | None:
    running = _get(client, f"{root}/api/ps", headers)
    for entry in running.get("models") or ():
        if isinstance(entry, dict) and model in (entry.get("name"), entry.get("model")):
            value = entry.get("context_length")
            return value if isinstance(value, int) else None
    return None


def _since(began: float) -> float:
    return round(time.monotonic() - began, 3)


def _post(
    client: httpx.Client,
    url: str,
    body: dict[str, Any],
    headers: Mapping[str, str] | None,
    timeout: float,
) -> dict[str, Any]:
    try:
        response = client.post(url, json=body, headers=dict(headers or {}), timeout=timeout)
    except httpx.HTTPError as exc:
        raise LoadError(f"{url} did not answer: {exc}") from None
    return _json(response)


def _get(client: httpx.Client, url: str, headers: Mapping[str, str] | None) -> dict[str, Any]:
    try:
        response = client.get(url, headers=dict(headers or {}), timeout=_UNLOAD_TIMEOUT)
    except httpx.HTTPError as exc:
        raise LoadError(f"{url} did not answer: {exc}") from None
    return _json(response)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code >= 400 or not isinstance(data, dict) or "error" in data:
        detail = data.get("error") if isinstance(data, dict) else response.text[:300]
        if isinstance(detail, dict):
            detail = detail.get("message") or detail
        raise LoadError(f"{response.request.url.path} answered {response.status_code}: {detail}")
    return data
