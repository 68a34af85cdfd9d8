"""What one server says about itself, per kind, from its documented read-only endpoints.

Each probe answers a `Found` only when the server identifies itself positively (a JSON shape only
that server answers); anything else is None. A refused or silent connection is `Unreachable`.
No probe ever asks for a generation. Sources, per server:
  Ollama     docs/api.md: GET /api/version, /api/tags, /api/ps (context_length: the loaded
             window), POST /api/show (capabilities; model_info["<arch>.context_length"])
  LM Studio  docs 2_rest/list.md: GET /api/v1/models (0.4+: loaded_instances[].config.
             context_length, capabilities {vision, trained_for_tool_use}); 2_rest-api/
             endpoints.md: GET /api/v0/models (state, loaded_context_length, type, capabilities)
  llama.cpp  tools/server/README.md: GET /props (default_generation_settings.n_ctx, total_slots,
             modalities, chat_template_caps, build_info), GET /v1/models (meta.n_ctx_train),
             POST /v1/messages/count_tokens (a token count, not a generation)
  vLLM       GET /version, GET /v1/models (max_model_len)
  SGLang     docs basic_usage/native_api: GET /get_model_info (model_path), /get_server_info
  Jan        jan.ai/docs local API: GET /v1/models on port 1337
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from gateway.backends.catalogue import ModelInfo

__all__ = ["PROBES", "Found", "ProbeCache", "Unreachable", "probe_timeout"]


class Unreachable(Exception):
    """Nothing answered at the place (refused, or silent past the timeout)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason  # "connection refused", "no answer within 1 s"…


@dataclass(frozen=True, slots=True)
class Found:
    kind: str
    version: str | None
    models: tuple[ModelInfo, ...]  # backend_id is filled in by the registry
    features: frozenset[str] = frozenset()
    slots: int | None = None
    note: str | None = None  # e.g. "needs an API key to list its models"


@dataclass
class ProbeCache:
    """What does not change between refreshes: /api/show per model digest, and whether a
    llama.cpp build has the Messages API."""

    shown: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    messages_api: dict[tuple[str, str], bool] = field(default_factory=dict)


def probe_timeout() -> httpx.Timeout:
    # A local server accepts at once or refuses at once, and a live one answers these reads in
    # ms; but a machine busy running a model on its CPU can leave the gateway's loop waiting a
    # few hundred ms, and a configured backend taken for down at start-up loses its traits.
    return httpx.Timeout(1.0, connect=1.0)


Client = httpx.AsyncClient
Headers = Mapping[str, str]
Probe = Callable[[Client, str, Headers, ProbeCache], Awaitable["Found | None"]]


async def _get(client: Client, url: str, headers: Headers) -> tuple[int, Any]:
    return await _call(client, "GET", url, headers, None)


async def _call(
    client: Client, method: str, url: str, headers: Headers, body: Any
) -> tuple[int, Any]:
    """(status, parsed JSON or None). Raises Unreachable when nothing answers."""
    try:
        response = await client.request(method, url, headers=headers, json=body)
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        reason = _reason(exc)
        raise Unreachable(f"nothing answers at {url.split('/', 3)[2]} ({reason})", reason) from None
    except httpx.TimeoutException:
        reason = f"no answer within {client.timeout.read:g} s"
        raise Unreachable(f"{url} gave {reason}", reason) from None
    except httpx.HTTPError as exc:
        reason = _reason(exc)
        raise Unreachable(f"{url} failed: {reason}", reason) from None
    try:
        return response.status_code, orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.status_code, None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, httpx.ConnectTimeout):  # its message is empty: not a refusal
        return "no answer to the connection"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if not text or text.startswith("All connection attempts failed"):
        return "connection refused"
    return text[:120]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _openai_models(listing: Any) -> list[dict[str, Any]] | None:
    data = listing.get("data") if isinstance(listing, dict) else None
    if not isinstance(data, list):
        return None
    return [m for m in _dicts(data) if isinstance(m.get("id"), str)]


# --- Ollama -------------------------------------------------------------------------------------


async def probe_ollama(
    client: Client, root: str, headers: Headers, cache: ProbeCache
) -> Found | None:
    _, answer = await _get(client, f"{root}/api/version", headers)
    if not (isinstance(answer, dict) and isinstance(answer.get("version"), str)):
        return None
    (_, tags), (_, ps) = await asyncio.gather(
        _get(client, f"{root}/api/tags", headers), _get(client, f"{root}/api/ps", headers)
    )
    listed = [m for m in _dicts(_dict(tags).get("models")) if isinstance(m.get("name"), str)]
    running = {m.get("name"): m for m in _dicts(_dict(ps).get("models"))}
    shows = await asyncio.gather(*(_show(client, root, m, headers, cache) for m in listed))
    models = []
    for tag, show in zip(listed, shows, strict=True):
        name = tag["name"]
        caps = show.get("capabilities") if isinstance(show.get("capabilities"), list) else None
        info = _dict(show.get("model_info"))
        arch = info.get("general.architecture")
        loaded = running.get(name)
        models.append(
            ModelInfo(
                backend_id="",
                name=name,
                loaded=loaded is not None,
                context_window=_int(loaded.get("context_length")) if loaded else None,
                max_context=_int(info.get(f"{arch}.context_length")),
                tools=None if caps is None else "tools" in caps,
                vision=None if caps is None else "vision" in caps,
                thinking=None if caps is None else "thinking" in caps,
                kind="embedding" if caps and "completion" not in caps else "llm",
                size_bytes=_int(tag.get("size")),
            )
        )
    return Found("ollama", answer["version"], tuple(models))


async def _show(
    client: Client, root: str, tag: dict[str, Any], headers: Headers, cache: ProbeCache
) -> dict[str, Any]:
    key = (root, tag["name"], str(tag.get("digest", "")))
    if key not in cache.shown:
        status, shown = await _call(client, "POST", f"{root}/api/show", headers, {"model": key[1]})
        if status != 200 or not isinstance(shown, dict):
            return {}
        cache.shown[key] = shown
    return cache.shown[key]


# --- LM Studio ----------------------------------------------------------------------------------


async def probe_lmstudio(
    client: Client, root: str, headers: Headers, cache: ProbeCache
) -> Found | None:
    # Unknown paths answer 200 {"error": …} here, so only the list's own shape identifies it.
    _, v1 = await _get(client, f"{root}/api/v1/models", headers)
    entries = _dicts(v1.get("models")) if isinstance(v1, dict) else []
    if isinstance(v1, dict) and isinstance(v1.get("models"), list):
        models = tuple(_lmstudio_v1(m) for m in entries if isinstance(m.get("key"), str))
        return Found("lmstudio", None, models, frozenset({"rest-v1"}))
    _, v0 = await _get(client, f"{root}/api/v0/models", headers)
    data = _openai_models(v0)
    if data is None or any("state" not in m for m in data):
        return None
    return Found("lmstudio", None, tuple(_lmstudio_v0(m) for m in data))


def _lmstudio_v1(entry: dict[str, Any]) -> ModelInfo:
    instances = _dicts(entry.get("loaded_instances"))
    config = instances[0].get("config") if instances else None
    caps = entry.get("capabilities") if isinstance(entry.get("capabilities"), dict) else None
    return ModelInfo(
        backend_id="",
        name=entry["key"],
        loaded=bool(instances),
        context_window=_int(config.get("context_length")) if isinstance(config, dict) else None,
        max_context=_int(entry.get("max_context_length")),
        tools=None if caps is None else bool(caps.get("trained_for_tool_use")),
        vision=None if caps is None else bool(caps.get("vision")),
        kind="embedding" if entry.get("type") == "embedding" else "llm",
        size_bytes=_int(entry.get("size_bytes")),
    )


def _lmstudio_v0(entry: dict[str, Any]) -> ModelInfo:
    kind = entry.get("type")
    caps = entry.get("capabilities")
    loaded = entry.get("state") == "loaded"
    return ModelInfo(
        backend_id="",
        name=entry["id"],
        loaded=loaded,
        context_window=_int(entry.get("loaded_context_length")) if loaded else None,
        max_context=_int(entry.get("max_context_length")),
        tools="tool_use" in caps if isinstance(caps, list) else None,
        vision=kind == "vlm",
        kind="embedding" if kind in ("embeddings", "embedding") else str(kind or "llm"),
    )


# --- llama.cpp ----------------------------------------------------------------------------------


async def probe_llamacpp(
    client: Client, root: str, headers: Headers, cache: ProbeCache
) -> Found | None:
    _, props = await _get(client, f"{root}/props", headers)
    if not (isinstance(props, dict) and isinstance(props.get("default_generation_settings"), dict)):
        return None
    build = props.get("build_info") if isinstance(props.get("build_info"), str) else None
    _, listing = await _get(client, f"{root}/v1/models", headers)
    data = _openai_models(listing) or []
    caps = props.get("chat_template_caps")
    modalities = props.get("modalities")
    n_ctx = _int(props["default_generation_settings"].get("n_ctx"))
    names = [m["id"] for m in data] or [str(props.get("model_path", "model")).rsplit("/", 1)[-1]]
    metas = [_dict(m.get("meta")) for m in data] or [{}]
    models = tuple(
        ModelInfo(
            backend_id="",
            name=name,
            loaded=True,
            context_window=n_ctx,
            max_context=_int(meta.get("n_ctx_train")),
            tools=bool(caps.get("supports_tools")) if isinstance(caps, dict) else None,
            vision=bool(modalities.get("vision")) if isinstance(modalities, dict) else None,
            size_bytes=_int(meta.get("size")),
        )
        for name, meta in zip(names, metas, strict=False)
    )
    features = (
        frozenset({"messages"})
        if await _messages_api(client, root, build, names[0], headers, cache)
        else frozenset()
    )
    return Found("llamacpp", build, models, features, _int(props.get("total_slots")))


async def _messages_api(
    client: Client, root: str, build: str | None, model: str, headers: Headers, cache: ProbeCache
) -> bool:
    """Whether this build has the Messages API: asked once per build, by counting one word's
    tokens (llama.cpp#17570 added /v1/messages and /v1/messages/count_tokens together)."""
    key = (root, build or "")
    if key not in cache.messages_api:
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
        status, answer = await _call(
            client, "POST", f"{root}/v1/messages/count_tokens", headers, body
        )
        cache.messages_api[key] = (
            status == 200
            and isinstance(answer, dict)
            and (_int(answer.get("input_tokens")) is not None)
        )
    return cache.messages_api[key]


# --- vLLM, SGLang, Jan --------------------------------------------------------------------------


async def probe_vllm(
    client: Client, root: str, headers: Headers, cache: ProbeCache
) -> Found | None:
    _, answer = await _get(client, f"{root}/version", headers)
    if not (isinstance(answer, dict) and isinstance(answer.get("version"), str)):
        return None
    return await _served(client, root, headers, "vllm", answer["version"])


async def probe_sglang(
    client: Client, root: str, headers: Headers, cache: ProbeCache
) -> Found | None:
    _, info = await _get(client, f"{root}/get_model_info", headers)
    if not (isinstance(info, dict) and isinstance(info.get("model_path"), str)):
        return None
    version = None
    for path in ("/get_server_info", "/server_info"):
        status, server = await _get(client, f"{root}{path}", headers)
        if status == 200 and isinstance(server, dict):
            version = server.get("version") if isinstance(server.get("version"), str) else None
            break
    return await _served(client, root, headers, "sglang", version, fallback=info["model_path"])


async def probe_jan(client: Client, root: str, headers: Headers, cache: ProbeCache) -> Found | None:
    # Jan asks for its API key on every endpoint; without one it cannot be told apart.
    status, listing = await _get(client, f"{root}/v1/models", headers)
    if status != 200 or _openai_models(listing) is None:
        return None
    return await _served(client, root, headers, "jan", None, listing=listing)


async def _served(
    client: Client,
    root: str,
    headers: Headers,
    kind: str,
    version: str | None,
    *,
    fallback: str | None = None,
    listing: Any = None,
) -> Found:
    """A one-model-at-a-time OpenAI server's list: every listed model is the loaded one."""
    status = 200
    if listing is None:
        status, listing = await _get(client, f"{root}/v1/models", headers)
    data = _openai_models(listing) or []
    note = None
    if status in (401, 403):
        note = "it needs an API key to list its models: add it to the config"
    names = [m["id"] for m in data] or ([fallback] if fallback else [])
    windows = [_int(m.get("max_model_len")) for m in data] or [None]
    models = tuple(
        ModelInfo(
            backend_id="",
            name=name,
            loaded=True if kind != "jan" else None,
            context_window=window,
            max_context=window,
        )
        for name, window in zip(names, windows, strict=False)
    )
    return Found(kind, version, models, note=note)


PROBES: dict[str, Probe] = {
    "ollama": probe_ollama,
    "llamacpp": probe_llamacpp,
    "lmstudio": probe_lmstudio,
    "sglang": probe_sglang,
    "vllm": probe_vllm,
    "jan": probe_jan,
}
