"""LM Studio as its server answers, not as would be convenient.

Sources of truth:
- OpenAI-compatible endpoints: https://lmstudio.ai/docs/developer/openai-compat and the tool-use
  page (lmstudio-ai/docs 1_developer/3_openai-compat/tools.md): ids `chatcmpl-` + 22 lowercase
  letters and digits, numeric tool-call ids ("365174485"), `system_fingerprint` = the model id,
  `logprobs: null` in every choice, a tool-call message has no `content` key.
- REST API v0 (lmstudio-ai/docs 1_developer/_2_rest/endpoints.md): GET /api/v0/models with
  type, publisher, arch, compatibility_type, quantization, state, max_context_length; a loaded
  model also reports `loaded_context_length` (zed-industries/zed#25606) and `capabilities`
  such as ["tool_use"] (agustif/opencode-lmstudio#21).
- REST API v1 (LM Studio 0.4.0+, lmstudio-ai/docs 1_developer/2_rest/list.md): GET
  /api/v1/models → {"models": [{type "llm" | "embedding", publisher, key, display_name,
  architecture, quantization {name, bits_per_weight}, size_bytes, params_string,
  loaded_instances [{id, config {context_length, …}}], max_context_length, format,
  capabilities {vision, trained_for_tool_use}}]}; embedding models have no capabilities.
  The server reports no version of its own (api-changelog: v1 REST in 0.4.0, /v1/messages in
  0.4.1).
- Anthropic-compatible POST /v1/messages (lmstudio.ai/docs/developer/anthropic-compat, since
  0.4.1; with the v1 REST API): the documented event sequence, each block closed before the
  next, tool input streamed in pieces after an empty one (tests/gateway/repair/native.py);
  x-api-key or Bearer accepted. A prompt longer than the loaded context is the same overflow,
  as HTTP 500 with type `api_error` in Anthropic's envelope.
- Load and unload (REST v1, 2_rest/load.md and unload.md): POST /api/v1/models/load {model,
  config {context_length, …}} → {model_instance_id, config {context_length, eval_batch_size,
  flash_attention, num_experts, offload_kv_cache_to_gpu}, load_time_seconds}; POST
  /api/v1/models/unload {instance_id} → {instance_id}. The v0 REST API has neither.
- Just-in-time loading (lmstudio.ai/docs/api/ttl-and-auto-evict, app/api/headless): with JIT on
  (the default) a request to an inference endpoint for a model not in memory loads it first,
  with its default settings; such a model is unloaded after `ttl` seconds without a request (the
  request's `ttl`, default 60 minutes), and Auto-Evict (on by default) unloads the models loaded
  that way before loading another; models loaded by hand (`lms load`, the REST load) stay.
  Several requests that arrive while a model is being loaded that way each load an instance of
  it (lmstudio-bug-tracker#1751, 0.4.9). No request field changes how a loaded model is loaded.
- Unknown paths answer 200 with {"error": "Unexpected endpoint or method. (POST /x)"} from
  Express (lmstudio-ai/lmstudio-bug-tracker#618, #2085).
- Context overflow: "Trying to keep the first N tokens when context the overflows. However, the
  model is loaded with context length of only M tokens, which is not enough. Try to load the
  model with a larger context length, or provide a shorter input." (lmstudio-bug-tracker#546),
  answered as HTTP 500, which Claude Code retries for minutes (Claudette's LM Studio provider
  page, field survey). Newer builds also send a 400 "The number of tokens to keep from the
  initial prompt is greater than the context length (n_keep: N>= n_ctx: M)…"
  (Gitlawb/openclaude#353): `n_keep_overflow`.
"""

from __future__ import annotations

import string
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from tests.fakes.flavour import (
    AnthropicStyle,
    ChatContext,
    Flavour,
    Response,
    UsageCounts,
    json_response,
    random_id,
)
from tests.fakes.replies import Error

__all__ = ["LMStudio", "context_overflow", "n_keep_overflow", "overflow_message"]

_LOWER_ALNUM = string.ascii_lowercase + string.digits


def overflow_message(prompt_tokens: int, context_length: int) -> str:
    return (
        f"Trying to keep the first {prompt_tokens} tokens when context the overflows. However, "
        f"the model is loaded with context length of only {context_length} tokens, which is not "
        "enough. Try to load the model with a larger context length, or provide a shorter input."
    )


def context_overflow(prompt_tokens: int, context_length: int, status: int = 500) -> Error:
    return Error(status, {"error": overflow_message(prompt_tokens, context_length)})


def n_keep_overflow(prompt_tokens: int, context_length: int) -> Error:
    message = (
        "The number of tokens to keep from the initial prompt is greater than the context "
        f"length (n_keep: {prompt_tokens}>= n_ctx: {context_length}). Try to load the model with "
        "a larger context length, or provide a shorter input."
    )
    return Error(400, {"error": message})


class LMStudio(Flavour):
    name = "lmstudio"
    extra_headers: ClassVar[tuple[tuple[str, str], ...]] = (("x-powered-by", "Express"),)

    def __init__(
        self,
        models: Sequence[str],
        context_length: int | None,
        *,
        loaded: Sequence[str] | None = None,
        version: str | None = None,
        rest: str = "v0",
        types: dict[str, str] | None = None,
        tools: bool = True,
        auto_evict: bool = True,
    ) -> None:
        """`rest`: which REST API the build serves: "v0" (0.3, no /v1/messages; the default), "v1"
        or "both" (0.4+, with /v1/messages); `types`: model → "llm" | "vlm" | "embeddings" (v0
        words), default "llm"."""
        super().__init__(models, context_length, loaded=loaded, version=version)
        self.rest = rest
        self.messages_api = rest in ("v1", "both")
        self.types = types or {}
        self.tools = tools
        self.auto_evict = auto_evict
        # Loaded just in time: model → (idle seconds allowed, monotonic time of the last use).
        self.jit: dict[str, tuple[float, float]] = {}
        self._ready_at: dict[str, float] = {}  # a JIT load under way ends then
        self.loads: dict[str, int] = {}  # every load of each model, by hand or just in time

    def admit(self, dialect: str, body: Any) -> float:
        """JIT: a request for a model not in memory loads it (evicting the other models loaded
        that way); one that comes while that load runs loads another instance."""
        model = body.get("model") if isinstance(body, dict) else None
        if not isinstance(model, str) or model not in self.models:
            return 0.0
        now = time.monotonic()
        for name, (ttl, used) in list(self.jit.items()):
            if now - used >= ttl:
                self._drop(name)
        ttl = body.get("ttl")
        idle = float(ttl) if isinstance(ttl, int | float) and ttl > 0 else 3600.0
        if model in self.loaded and self._ready_at.get(model, 0.0) <= now:
            if model in self.jit:
                self.jit[model] = (self.jit[model][0], now)
            return 0.0
        if model not in self.loaded and self.auto_evict:
            for other in list(self.jit):
                self._drop(other)
        if model not in self.loaded:
            self.loaded.append(model)
        self.loads[model] = self.loads.get(model, 0) + 1
        ready = now + self.load_seconds
        self._ready_at[model] = ready
        self.jit[model] = (idle, ready)
        return self.load_seconds

    def _drop(self, model: str) -> None:
        self.jit.pop(model, None)
        self._ready_at.pop(model, None)
        self.load_contexts.pop(model, None)
        if model in self.loaded:
            self.loaded.remove(model)

    def route(self, method: str, path: str, body: Any) -> Response | None:
        if method == "POST" and self.rest in ("v1", "both"):
            if path == "/api/v1/models/load":
                return self._load(body)
            if path == "/api/v1/models/unload":
                return self._unload(body)
        if method != "GET":
            return None
        if path == "/v1/models":
            data = [
                {"id": model, "object": "model", "owned_by": "organization_owner"}
                for model in self.models
            ]
            return json_response({"object": "list", "data": data})
        if path == "/api/v1/models" and self.rest in ("v1", "both"):
            return json_response({"models": [self._v1_model(model) for model in self.models]})
        if self.rest not in ("v0", "both"):
            return None
        if path == "/api/v0/models":
            data = [self._rest_model(model) for model in self.models]
            return json_response({"object": "list", "data": data})
        prefix = "/api/v0/models/"
        if path.startswith(prefix):
            for model in self.models:
                if model == path[len(prefix) :]:
                    return json_response(self._rest_model(model))
            return json_response({"error": "Model not found"}, 404)
        return None

    def _load(self, body: Any) -> Response:
        """POST /api/v1/models/load (2_rest/load.md): `model`, optional `config.context_length`;
        answers the instance id, the config used and `load_time_seconds`."""
        model = body.get("model") if isinstance(body, dict) else None
        if not isinstance(model, str) or model not in self.models:
            return json_response({"error": f"Model not found: {model}"}, 404)
        asked = body.get("config")
        config: dict[str, Any] = asked if isinstance(asked, dict) else {}
        context = config.get("context_length")
        context = context if isinstance(context, int) and context > 0 else None
        used = {
            "context_length": context or self.loaded_context_length,
            "eval_batch_size": 512,
            "flash_attention": bool(config.get("flash_attention", False)),
            "num_experts": 0,
            "offload_kv_cache_to_gpu": True,
        }
        payload = {
            "model_instance_id": model,
            "config": used,
            "load_time_seconds": self.load_seconds,
        }
        self.loads[model] = self.loads.get(model, 0) + 1
        self.jit.pop(model, None)  # loaded by hand: no TTL, never auto-evicted
        return self.load_answer(model, context, payload)

    def _unload(self, body: Any) -> Response:
        """POST /api/v1/models/unload (2_rest/unload.md): `instance_id` → {"instance_id"}."""
        instance = body.get("instance_id") if isinstance(body, dict) else None
        if not isinstance(instance, str) or instance not in self.loaded:
            return json_response({"error": f"No loaded model instance: {instance}"}, 404)
        self.loaded.remove(instance)
        self.load_contexts.pop(instance, None)
        return json_response({"instance_id": instance})

    def _rest_model(self, model: str) -> dict[str, Any]:
        loaded = model in self.loaded
        kind = self.types.get(model, "llm")
        entry: dict[str, Any] = {
            "id": model,
            "object": "model",
            "type": kind,
            "publisher": "lmstudio-community",
            "arch": "qwen2",
            "compatibility_type": "gguf",
            "quantization": "Q4_K_M",
            "state": "loaded" if loaded else "not-loaded",
            "max_context_length": self.trained_context_length,
        }
        if loaded:
            entry["loaded_context_length"] = self.context_of(model)
        if kind != "embeddings":
            entry["capabilities"] = ["tool_use"] if self.tools else []
        return entry

    def _v1_model(self, model: str) -> dict[str, Any]:
        kind = self.types.get(model, "llm")
        instances = []
        if model in self.loaded:
            instances.append({"id": model, "config": {"context_length": self.context_of(model)}})
        entry: dict[str, Any] = {
            "type": "embedding" if kind == "embeddings" else "llm",
            "publisher": "lmstudio-community",
            "key": model,
            "display_name": model,
            "quantization": {"name": "Q4_K_M", "bits_per_weight": 4},
            "size_bytes": 4683073888,
            "params_string": "7B",
            "loaded_instances": instances,
            "max_context_length": self.trained_context_length,
            "format": "gguf",
        }
        if kind != "embeddings":
            entry["architecture"] = "qwen2"
            entry["capabilities"] = {"vision": kind == "vlm", "trained_for_tool_use": self.tools}
            entry["description"] = None
        return entry

    def unknown(self, method: str, path: str) -> Response:
        message = f"Unexpected endpoint or method. ({method} {path})"
        return json_response({"error": message}, 200)

    def error(self, status: int, message: str, error_type: str = "invalid_request_error") -> Error:
        return Error(status, {"error": message})

    def context_overflow(self, prompt_tokens: int, context_length: int) -> Error:
        return context_overflow(prompt_tokens, context_length)

    def anthropic_style(self) -> AnthropicStyle:
        return AnthropicStyle(empty_first_piece=True)

    def native_overflow(self, prompt_tokens: int, context_length: int) -> Error:
        return self.native_error(500, overflow_message(prompt_tokens, context_length), "api_error")

    def new_completion_id(self) -> str:
        return "chatcmpl-" + random_id(22, _LOWER_ALNUM)

    def new_tool_call_id(self) -> str:
        return random_id(9, string.digits)

    def fingerprint(self, model: str) -> str | None:
        return model

    def chunk(
        self, ctx: ChatContext, delta: dict[str, Any], finish_reason: str | None = None
    ) -> dict[str, Any]:
        chunk = super().chunk(ctx, delta, finish_reason)
        for choice in chunk["choices"]:
            choice["logprobs"] = None
        return chunk

    def completion(
        self,
        ctx: ChatContext,
        message: dict[str, Any],
        finish_reason: str,
        counts: UsageCounts,
    ) -> dict[str, Any]:
        body = super().completion(ctx, message, finish_reason, counts)
        for choice in body["choices"]:
            choice["logprobs"] = None
            if choice["message"].get("content") is None:
                del choice["message"]["content"]
        return body
