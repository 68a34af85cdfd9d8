"""Context windows: count the prompt before it is forwarded, refuse what cannot fit, and cap
`max_tokens` to what remains.

Claude Code asks for 32,000 output tokens on every turn; a local model loaded with a 32k window
cannot give them, and backends answer that differently (a 400, a 500, or Ollama's silent
truncation). So the gateway decides first, with the same BPE counter as `count_tokens`:
  - the prompt alone exceeds the window by more than the counter's error → 400
    "prompt is too long: N tokens > M maximum" at once (Claude Code compacts on that wording);
  - the prompt fits but prompt + max_tokens does not → max_tokens is capped to what remains,
    and the record says so. Never "prompt is too long" for a prompt that fits, or Claude Code
    compacts forever.
The counter is o200k_base; the models behind local servers use their own tokenizers (Llama 3,
Qwen, Gemma: within about ±15% of o200k on English prose and code; small-vocabulary models such as
Mistral's count up to ~25% more). REJECT_MARGIN and CAP_MARGIN encode that documented error.

Counting is cached: Claude Code's system prompt and tools (~17k tokens) are the same on every turn
and a conversation only grows, so the system+tools prefix and each message are counted once and
found again by the hash of their JSON. A cached count costs a hash, not a tokenization.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import orjson

from gateway.errors import PromptTooLong
from gateway.schemas.anthropic import CountTokensRequest, Message, MessagesRequest
from gateway.tokens import count_tokens
from gateway.translate.documents import PdfReader

__all__ = ["CAP_MARGIN", "REJECT_MARGIN", "PromptCounter", "WindowFit", "fit_window"]

REJECT_MARGIN = 0.25
CAP_MARGIN = 0.10
MIN_OUTPUT = 256


@dataclass(frozen=True, slots=True)
class WindowFit:
    prompt_tokens: int
    max_tokens: int
    capped_from: int | None = None
    reason: str | None = None  # why it was capped, for the request record


def fit_window(
    prompt_tokens: int,
    max_tokens: int,
    window: int | None,
    *,
    output_ceiling: int | None = None,
) -> WindowFit:
    """Decide for one request. `window` None (unknown) checks nothing but the output ceiling."""
    limit = max_tokens
    reason = None
    if output_ceiling is not None and limit > output_ceiling:
        limit, reason = output_ceiling, f"the provider's output ceiling is {output_ceiling}"
    if window:
        if prompt_tokens > window * (1 + REJECT_MARGIN):
            raise PromptTooLong(prompt_tokens, window)
        room = window - math.ceil(prompt_tokens * (1 + CAP_MARGIN))
        if limit > room:
            floor = min(max_tokens, MIN_OUTPUT)
            limit = max(room, floor)
            reason = f"the model's window is {window} and the prompt is about {prompt_tokens}"
    if limit == max_tokens:
        return WindowFit(prompt_tokens, max_tokens)
    return WindowFit(prompt_tokens, limit, max_tokens, reason)


class PromptCounter:
    """`count_tokens` with the system+tools prefix and every message cached by content hash."""

    def __init__(self, max_entries: int = 4096, *, pdf: PdfReader | None = None) -> None:
        self._cache: OrderedDict[tuple[int, int], int] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()
        self.pdf = pdf  # how a PDF is read (the gateway's PdfTexts), or the default

    def count(self, req: MessagesRequest) -> int:
        system, tools = req.get("system"), req.get("tools")
        total = self._cached(
            {"system": system, "tools": tools},
            lambda: count_tokens(
                CountTokensRequest(model="", messages=[], system=system, tools=tools),
                pdf=self.pdf,
            ),
        )
        for message in req["messages"]:
            total += self._cached(message, partial(_count_message, message, self.pdf))
        return total

    def _cached(self, part: object, compute: Callable[[], int]) -> int:
        raw = orjson.dumps(part)
        key = (hash(raw), len(raw))
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        value = compute()
        with self._lock:
            self._cache[key] = value
            if len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return value


def _count_message(message: Message, pdf: PdfReader | None) -> int:
    return count_tokens(CountTokensRequest(model="", messages=[message]), pdf=pdf)
