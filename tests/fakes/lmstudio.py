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
from typing import Any, ClassVar

from tests.fakes.flavour import (
    ChatContext,
    Flavour,
    Response,
    UsageCounts,
    json_response,
    random_id,
)
from tests.fakes.replies import Error

__all__ = ["LMStudio", "context_overflow", "n_keep_overflow"]

_LOWER_ALNUM = string.ascii_lowercase + string.digits


def context_overflow(prompt_tokens: int, context_length: int, status: int = 500) -> Error:
    message = (
        f"Trying to keep the first {prompt_tokens} tokens when context the overflows. However, "
        f"the model is loaded with context length of only {context_length} tokens, which is not "
        "enough. Try to load the model with a larger context length, or provide a shorter input."
    )
    return Error(status, {"error": message})


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

    def route(self, method: str, path: str, body: Any) -> Response | None:
        if method != "GET":
            return None
        if path == "/v1/models":
            data = [
                {"id": model, "object": "model", "owned_by": "organization_owner"}
                for model in self.models
            ]
            return json_response({"object": "list", "data": data})
        if path == "/api/v0/models":
            data = [self._rest_model(i, model) for i, model in enumerate(self.models)]
            return json_response({"object": "list", "data": data})
        prefix = "/api/v0/models/"
        if path.startswith(prefix):
            for i, model in enumerate(self.models):
                if model == path[len(prefix) :]:
                    return json_response(self._rest_model(i, model))
            return json_response({"error": "Model not found"}, 404)
        return None

    def _rest_model(self, index: int, model: str) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "id": model,
            "object": "model",
            "type": "llm",
            "publisher": "lmstudio-community",
            "arch": "qwen2",
            "compatibility_type": "gguf",
            "quantization": "Q4_K_M",
            # The first model is the loaded one; the others are only downloaded.
            "state": "loaded" if index == 0 else "not-loaded",
            "max_context_length": self.trained_context_length,
        }
        if index == 0:
            entry["loaded_context_length"] = self.loaded_context_length
        entry["capabilities"] = ["tool_use"]
        return entry

    def unknown(self, method: str, path: str) -> Response:
        message = f"Unexpected endpoint or method. ({method} {path})"
        return json_response({"error": message}, 200)

    def error(self, status: int, message: str, error_type: str = "invalid_request_error") -> Error:
        return Error(status, {"error": message})

    def context_overflow(self, prompt_tokens: int, context_length: int) -> Error:
        return context_overflow(prompt_tokens, context_length)

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
