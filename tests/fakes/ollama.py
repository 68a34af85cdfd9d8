"""Ollama as its server answers, not as would be convenient.

Sources of truth:
- Native API (ollama/ollama docs/api.md, docs.ollama.com/api): GET / → "Ollama is running",
  GET /api/version, GET /api/tags, GET /api/ps (with `context_length`, the context the model
  was loaded with, 4096 by default below 24 GiB of VRAM: docs/context-length.mdx), POST
  /api/show (details, model_info with `<arch>.context_length`, capabilities).
- OpenAI compatibility (ollama/ollama openai/openai.go, docs/openai.md): chunks carry
  `system_fingerprint: "fp_ollama"` and `role: "assistant"` in every delta, no `logprobs`;
  reasoning comes as `reasoning` (not `reasoning_content`); tool calls arrive whole, each with
  an `index`, never with arguments in pieces; usage is sent (as an extra chunk with no choices)
  only when the request sets `stream_options.include_usage`; errors are
  {"error": {"message", "type", "param", "code"}}; an unknown model is a 404
  "model \"x\" not found, try pulling it first".
- Loading (server/sched.go, tests/fakes/ollama_sched.py): a generation request for a model not
  in memory loads it, and one whose runner options (num_ctx, num_batch, num_gpu…) differ from
  the loaded model's reloads it; each load takes `load_seconds` before the answer starts, and
  /api/ps shows the model's context, size and expiry as they now are.
- Unknown paths: Go's plain-text "404 page not found".
- A prompt longer than the loaded context is silently truncated, not refused
  (ollama/ollama#3839): the reply's `prompt_tokens` is capped at the context length. The
  OpenAI and Anthropic endpoints ignore `num_ctx`; only `/api/chat` takes `options.num_ctx`
  (docs/context-length.mdx), served in tests/fakes/ollama_chat.py.
- Anthropic compatibility (docs/api/anthropic-compatibility.mdx, since 0.14): POST /v1/messages
  with errors in Anthropic's envelope; not supported: /v1/messages/count_tokens (here Go's 404),
  `tool_choice` (ignored), `metadata`. Stream shape (anthropic/anthropic.go, StreamConverter):
  message_start with input_tokens 0, a ping, thinking without a signature, a tool call's input
  whole in one delta, message_delta with input and output tokens and no stop_sequence. Before
  0.32.2 text followed by thinking reuses the text block's index and the next text streams at an
  index never started (ollama#17101, fixed by ollama#17225).
"""

from __future__ import annotations

import math
import string
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from tests.fakes.flavour import AnthropicStyle, Flavour, Response, json_response, random_id
from tests.fakes.ollama_sched import Scheduler
from tests.fakes.replies import Error, ToolCall

__all__ = ["Ollama", "load_duration"]

# By default a version whose protocol (gateway.backends.protocols) is "openai", without
# /v1/messages. Pass `version` to test the decision itself.
_VERSION = "0.2.8"
_MESSAGES_SINCE = (0, 14, 0)
_DISTINCT_INDEXES_SINCE = (0, 32, 2)
_MODIFIED_AT = "2026-10-01T12:00:00.000000000Z"
_DIGEST = "a8b0c51577010a279d933d14c2a8ab4b268079d44c5c8830c0a93900f1827c67"


def _tagged(model: str) -> str:
    return model if ":" in model else f"{model}:latest"


def load_duration(seconds: float) -> int:
    """`load_duration` in nanoseconds: the load, or the moment it takes to find the model
    loaded."""
    return round(seconds * 1e9) if seconds > 0 else 1334875


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for part in text.lstrip("v").split("-")[0].split("."):
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts)


class Ollama(Flavour):
    name = "ollama"
    reasoning_field: ClassVar[str] = "reasoning"

    def __init__(
        self,
        models: Sequence[str],
        context_length: int | None,
        *,
        loaded: Sequence[str] | None = None,
        version: str | None = None,
        capabilities: dict[str, list[str]] | None = None,
    ) -> None:
        """`capabilities`: model → /api/show's list, default ["completion", "tools"]."""
        # Ollama names every model `name:tag`; a bare name means the `latest` tag.
        tagged = [_tagged(m) for m in models]
        self.scheduler = Scheduler(
            context_length or self.default_context_length, self.trained_context_length
        )
        super().__init__(
            tagged,
            context_length,
            loaded=None if loaded is None else [_tagged(m) for m in loaded],
            version=version or _VERSION,
        )
        self.capabilities = {_tagged(k): v for k, v in (capabilities or {}).items()}
        assert self.version is not None
        self.messages_api = _version(self.version) >= _MESSAGES_SINCE

    # The models in memory are the scheduler's runners.
    @property
    def loaded(self) -> list[str]:
        return list(self.scheduler.loaded())

    @loaded.setter
    def loaded(self, models: list[str]) -> None:
        self.scheduler.runners.clear()
        for model in models:
            self.scheduler.preload(model, self.context_length)

    @property
    def load_seconds(self) -> float:
        return self.scheduler.load_seconds

    @load_seconds.setter
    def load_seconds(self, seconds: float) -> None:
        self.scheduler.load_seconds = seconds

    @property
    def loads(self) -> dict[str, int]:
        """Every load of each model since the fake started, reloads included."""
        return dict(self.scheduler.loads)

    @property
    def reloads(self) -> dict[str, int]:
        """The loads that replaced a model already in memory (other runner options)."""
        return dict(self.scheduler.reloads)

    def context_of(self, model: str) -> int:
        runner = self.scheduler.loaded().get(model)
        return runner.context if runner is not None else self.loaded_context_length

    def admit(self, dialect: str, body: Any) -> float:
        name = body.get("model") if isinstance(body, dict) else None
        found = self._find(name if isinstance(name, str) else None)
        if found is None or not isinstance(body, dict):
            return 0.0
        if dialect != "ollama":
            # The OpenAI and Anthropic endpoints set no runner option and no keep_alive.
            return self.scheduler.admit(found, None).wait
        return self.scheduler.admit(found, body.get("options"), body.get("keep_alive")).wait

    def _find(self, model: str | None) -> str | None:
        if not model:
            return None
        wanted = model if ":" in model else f"{model}:latest"
        return wanted if wanted in self.models else None

    def route(self, method: str, path: str, body: Any) -> Response | None:
        if path == "/" and method in ("GET", "HEAD"):
            return Response(200, b"Ollama is running", "text/plain; charset=utf-8")
        if method == "GET" and path == "/api/version":
            return json_response({"version": self.version})
        if method == "GET" and path == "/api/tags":
            return json_response({"models": [self._tag(m) for m in self.models]})
        if method == "GET" and path == "/api/ps":
            return json_response({"models": [self._running(m) for m in self.loaded]})
        if method == "POST" and path == "/api/generate":
            return self._generate(body)
        if method == "POST" and path == "/api/show":
            name = body.get("model") if isinstance(body, dict) else None
            found = self._find(name if isinstance(name, str) else None)
            if found is None:
                return json_response({"error": f"model '{name}' not found"}, 404)
            return json_response(self._show(found))
        if method == "GET" and path == "/v1/models":
            data = [
                {"id": m, "object": "model", "created": 1759320000, "owned_by": "library"}
                for m in self.models
            ]
            return json_response({"object": "list", "data": data})
        return None

    def _generate(self, body: Any) -> Response | None:
        """/api/generate with no prompt (docs/api.md): loads the model (`options.num_ctx` its
        context, docs/context-length.mdx), or unloads it with `keep_alive` 0. A prompt is not
        served here."""
        if not isinstance(body, dict) or body.get("prompt"):
            return None
        name = body.get("model")
        found = self._find(name if isinstance(name, str) else None)
        if found is None:
            return json_response({"error": f"model '{name}' not found"}, 404)
        answer: dict[str, Any] = {
            "model": found,
            "created_at": _MODIFIED_AT,
            "response": "",
            "done": True,
        }
        if body.get("keep_alive") in (0, "0", "0s", "0m"):
            self.scheduler.unload(found)
            return json_response({**answer, "done_reason": "unload"})
        admission = self.scheduler.admit(found, body.get("options"), body.get("keep_alive"))
        answer["load_duration"] = load_duration(admission.wait)
        return Response(200, json_response(answer).body, delay=admission.wait)

    def _running(self, model: str) -> dict[str, Any]:
        runner = self.scheduler.loaded()[model]
        left = runner.expires_at - time.monotonic()
        # A keep_alive below 0 is Go's longest duration: some 292 years from now.
        expires = datetime.now(UTC) + timedelta(days=292 * 365 if math.isinf(left) else 0)
        if not math.isinf(left):
            expires += timedelta(seconds=max(0.0, left))
        running = {
            **self._tag(model),
            "size": runner.size,
            "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%S.%f000Z"),
            "size_vram": 0,
            "context_length": runner.context,
        }
        del running["modified_at"]
        return running

    def _tag(self, model: str) -> dict[str, Any]:
        return {
            "name": model,
            "model": model,
            "modified_at": _MODIFIED_AT,
            "size": 492523008,
            "digest": _DIGEST,
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": "qwen2",
                "families": ["qwen2"],
                "parameter_size": "494.03M",
                "quantization_level": "Q4_K_M",
            },
        }

    def _show(self, model: str) -> dict[str, Any]:
        tag = self._tag(model)
        return {
            "modelfile": f'# Modelfile generated by "ollama show"\nFROM {model}\n',
            "parameters": 'stop                           "<|im_end|>"',
            "template": "{{ .Prompt }}",
            "details": tag["details"],
            "model_info": {
                "general.architecture": "qwen2",
                "general.parameter_count": 494032768,
                "qwen2.context_length": self.trained_context_length,
            },
            "capabilities": self.capabilities.get(model, ["completion", "tools"]),
            "modified_at": _MODIFIED_AT,
        }

    def unknown(self, method: str, path: str) -> Response:
        return Response(404, b"404 page not found", "text/plain")

    def error(self, status: int, message: str, error_type: str = "invalid_request_error") -> Error:
        return Error(
            status, {"error": {"message": message, "type": error_type, "param": None, "code": None}}
        )

    def context_overflow(self, prompt_tokens: int, context_length: int) -> Error | None:
        return None

    def dialect(self, method: str, path: str) -> str | None:
        if method == "POST" and path == "/api/chat":
            return "ollama"
        return super().dialect(method, path)

    def anthropic_style(self) -> AnthropicStyle:
        assert self.version is not None
        return AnthropicStyle(
            counts_at_start=False,
            ping=True,
            tool_pieces=False,
            input_in_delta=True,
            stop_sequence=False,
            reused_index=_version(self.version) < _DISTINCT_INDEXES_SINCE,
        )

    def check_model(self, model: str | None) -> Error | None:
        if self._find(model) is not None:
            return None
        return self.error(
            404, f'model "{model}" not found, try pulling it first', "not_found_error"
        )

    def new_completion_id(self) -> str:
        return "chatcmpl-" + random_id(3, string.digits)

    def new_tool_call_id(self) -> str:
        return "call_" + random_id(8, string.ascii_lowercase + string.digits)

    def fingerprint(self, model: str) -> str | None:
        return "fp_ollama"

    def role_delta(self) -> dict[str, Any] | None:
        return None

    def delta(self, fields: dict[str, Any]) -> dict[str, Any]:
        return {"role": "assistant", "content": "", **fields}

    def final_delta(self) -> dict[str, Any]:
        return {"role": "assistant", "content": ""}

    def tool_call_deltas(
        self, calls: Sequence[ToolCall], ids: Sequence[str], pieces: int
    ) -> list[dict[str, Any]]:
        whole = [
            {
                "id": call_id,
                "index": index,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments_json},
            }
            for index, (call, call_id) in enumerate(zip(calls, ids, strict=True))
        ]
        return [{"tool_calls": whole}]

    def empty_content(self) -> str | None:
        return ""
