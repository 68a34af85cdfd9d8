"""llama.cpp's llama-server as it answers, not as would be convenient.

Sources of truth:
- ggml-org/llama.cpp tools/server/README.md: GET /health → {"status": "ok"}; GET /props with
  `default_generation_settings.n_ctx`, `total_slots`, `model_path`, `chat_template`,
  `modalities`, `build_info`; GET /v1/models lists exactly one model, with `meta`
  (n_ctx_train, and n_ctx in recent builds: 1ay1/agentty#49); /v1/chat/completions answers
  carry `timings` (cache_n, prompt_n, prompt_ms, predicted_n, …) and `usage` with
  `prompt_tokens_details.cached_tokens`; reasoning comes as `reasoning_content`.
- Anthropic Messages API (ggml-org/llama.cpp#17570, Nov 2025; README "POST /v1/messages"): POST
  /v1/messages and POST /v1/messages/count_tokens → {"input_tokens": N}; older builds answer
  404 there. Stream shape (tools/server/server-task.cpp, to_json_anthropic_stream): thinking at
  index 0, text next, tool calls after, all left open and closed in order at the end, thinking
  after an empty signature_delta; tool_use starts without `input`; message_delta usage with
  output_tokens only. Errors keep llama-server's own envelope (overflow included).
- The streamed answer puts `usage` and `timings` in the final chunk, the one with finish_reason
  (observed against llama-server, shared/reference/real-clients-and-backends.md §3).
- Errors are {"error": {"code", "message", "type"}}; a prompt longer than the context is
  HTTP 400 "the request exceeds the available context size, try increasing it" with type
  `exceed_context_size_error`, `n_prompt_tokens` and `n_ctx` (the wording client libraries'
  overflow detectors match on; newer builds say "request (N tokens) exceeds the available
  context size (M tokens), try increasing it").
- With Gemma's official template (`--jinja`), roles that do not alternate give HTTP 400
  "Conversation roles must alternate user/assistant/user/assistant/..." (real-clients §3).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from tests.fakes.flavour import (
    AnthropicStyle,
    ChatContext,
    Flavour,
    Response,
    UsageCounts,
    estimate_tokens,
    json_response,
    random_id,
)
from tests.fakes.replies import Error

__all__ = ["LlamaCpp", "context_overflow"]

_BUILD = "b6800-5b180c3d"


def context_overflow(prompt_tokens: int, context_length: int) -> Error:
    return Error(
        400,
        {
            "error": {
                "code": 400,
                "message": "the request exceeds the available context size, try increasing it",
                "type": "exceed_context_size_error",
                "n_prompt_tokens": prompt_tokens,
                "n_ctx": context_length,
            }
        },
    )


class LlamaCpp(Flavour):
    name = "llamacpp"
    chat_paths: ClassVar[frozenset[str]] = frozenset({"/v1/chat/completions", "/chat/completions"})
    default_context_length: ClassVar[int] = 8192

    def __init__(
        self,
        models: Sequence[str],
        context_length: int | None,
        *,
        loaded: Sequence[str] | None = None,
        version: str | None = None,
        messages_api: bool = False,
        vision: bool = False,
        slots: int = 1,
    ) -> None:
        """`messages_api`: serve /v1/messages and /v1/messages/count_tokens like builds since
        llama.cpp#17570 (off by default: an older build)."""
        super().__init__(models, context_length, loaded=loaded, version=version or _BUILD)
        self.messages_api = messages_api
        self.vision = vision
        self.slots = slots

    def route(self, method: str, path: str, body: Any) -> Response | None:
        if method == "POST" and path == "/v1/messages/count_tokens" and self.messages_api:
            if not isinstance(body, dict):
                return json_response(self.error(400, "invalid JSON body").body, 400)
            return json_response(
                {"input_tokens": estimate_tokens(body, "system", "messages", "tools")}
            )
        if method not in ("GET", "HEAD"):
            return None
        if path in ("/health", "/v1/health"):
            return json_response({"status": "ok"})
        if path == "/props":
            return json_response(self._props())
        if path in ("/v1/models", "/models"):
            return json_response({"object": "list", "data": [self._model()]})
        return None

    def _props(self) -> dict[str, Any]:
        return {
            "default_generation_settings": {
                "id": 0,
                "id_task": -1,
                "n_ctx": self.loaded_context_length,
                "speculative": False,
                "is_processing": False,
                "params": {"n_predict": -1, "temperature": 0.8, "top_k": 40, "top_p": 0.95},
            },
            "total_slots": self.slots,
            "model_path": f"/models/{self.models[0]}.gguf",
            "chat_template": "{{ messages }}",
            "chat_template_caps": {"supports_tools": True, "supports_tool_calls": True},
            "modalities": {"vision": self.vision, "audio": False},
            "build_info": self.version,
            "is_sleeping": False,
        }

    def _model(self) -> dict[str, Any]:
        return {
            "id": self.models[0],
            "object": "model",
            "created": 1759320000,
            "owned_by": "llamacpp",
            "meta": {
                "vocab_type": 2,
                "n_vocab": 151936,
                "n_ctx_train": self.trained_context_length,
                "n_ctx": self.loaded_context_length,
                "n_embd": 896,
                "n_params": 494032768,
                "size": 491400032,
            },
        }

    def unknown(self, method: str, path: str) -> Response:
        body = {"error": {"code": 404, "message": "File Not Found", "type": "not_found_error"}}
        return json_response(body, 404)

    def error(self, status: int, message: str, error_type: str = "invalid_request_error") -> Error:
        return Error(status, {"error": {"code": status, "message": message, "type": error_type}})

    def context_overflow(self, prompt_tokens: int, context_length: int) -> Error:
        return context_overflow(prompt_tokens, context_length)

    def anthropic_style(self) -> AnthropicStyle:
        return AnthropicStyle(open_until_end=True, signature="", tool_input_shell=False)

    def native_error(
        self, status: int, message: str, error_type: str = "invalid_request_error"
    ) -> Error:
        return self.error(status, message, error_type)

    def new_message_id(self) -> str:
        return self.new_completion_id()

    def new_completion_id(self) -> str:
        return "chatcmpl-" + random_id(32)

    def new_tool_call_id(self) -> str:
        return random_id(32)

    def fingerprint(self, model: str) -> str | None:
        return self.version

    def role_delta(self) -> dict[str, Any] | None:
        return {"role": "assistant", "content": None}

    def usage(self, counts: UsageCounts) -> dict[str, Any]:
        usage = super().usage(counts)
        usage["prompt_tokens_details"] = {"cached_tokens": counts.cached or 0}
        return usage

    def timings(self, counts: UsageCounts) -> dict[str, Any]:
        cached = counts.cached or 0
        prompt_n = max(counts.prompt - cached, 0)
        prompt_ms = prompt_n * 1.4 + 0.5
        predicted_ms = counts.completion * 15.0 + 0.5
        return {
            "cache_n": cached,
            "prompt_n": prompt_n,
            "prompt_ms": prompt_ms,
            "prompt_per_token_ms": prompt_ms / max(prompt_n, 1),
            "prompt_per_second": prompt_n / prompt_ms * 1000,
            "predicted_n": counts.completion,
            "predicted_ms": predicted_ms,
            "predicted_per_token_ms": predicted_ms / max(counts.completion, 1),
            "predicted_per_second": counts.completion / predicted_ms * 1000,
        }

    def final_chunk_extras(self, ctx: ChatContext, counts: UsageCounts) -> dict[str, Any]:
        return {"usage": self.usage(counts), "timings": self.timings(counts)}

    def usage_chunk(self, ctx: ChatContext, counts: UsageCounts) -> dict[str, Any] | None:
        return None

    def completion(
        self,
        ctx: ChatContext,
        message: dict[str, Any],
        finish_reason: str,
        counts: UsageCounts,
    ) -> dict[str, Any]:
        body = super().completion(ctx, message, finish_reason, counts)
        body["timings"] = self.timings(counts)
        return body
