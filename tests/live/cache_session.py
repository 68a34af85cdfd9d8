"""A Claude Code session of several turns against a real server, turn by turn: how many prompt
tokens the server processed and read from its cache (its own counts, from the answer's usage:
llama-server's `cache_read_input_tokens` natively, `prompt_tokens_details.cached_tokens` on chat
completions, which LM Gate maps to the former) and the time to the first token. Shared by the
live suite and the benchmark.

The base is the small 2.1.197 capture (the model is tiny and runs on the CPU). Claude Code's
first system block, the billing header, carries a `cch=` that changes on every request (the
capture was anonymised without it): each turn gets a new one here, as Claude Code's do.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import anthropic

from tests.claude_session import ClaudeCodeSession, sdk_stream

__all__ = ["BASE", "TURNS", "TurnFigures", "run_session"]

BASE = "claude-code-2.1.197-bare-bash-roundtrip-turn2"
TURNS = 4
_FOLLOW_UPS = ("and now?", "say it again", "once more")


@dataclass(frozen=True)
class TurnFigures:
    prompt: int  # the whole prompt, in the server's tokens
    processed: int  # prompt tokens the server evaluated
    cached: int  # prompt tokens it read from its cache
    ttft_ms: float


def run_session(url: str, model: str, tag: str, turns: int = TURNS) -> list[TurnFigures]:
    """`turns` streamed turns to the Messages API at `url` (LM Gate, or the server's own);
    `tag` starts the system prompt, so that a session never reuses another one's cache."""
    session = ClaudeCodeSession(BASE, model=model)
    system = session.body["system"]
    system[1]["text"] = f"Session {tag}.\n{system[1]['text']}"
    billing = system[0]["text"]
    session.body["max_tokens"] = 32
    figures: list[TurnFigures] = []
    for n in range(turns):
        body = session.request()
        body["system"][0]["text"] = f"{billing} cch={(n * 40503 + 7) % 0xFFFFF:05x};"
        # A connection per turn: llama-server closes kept-alive connections after a few requests,
        # and a client that reuses one just closed gets no answer (a turn, not a retry, is timed).
        with anthropic.Anthropic(base_url=url, api_key="x", max_retries=0, timeout=300) as client:
            content, turn = _turn(client, body, session.headers)
        figures.append(turn)
        session.answered(content)
        session.user(_FOLLOW_UPS[n % len(_FOLLOW_UPS)])
        session.note(f"<total_tokens>{190_000 - 50 * n} tokens left</total_tokens>")
    return figures


def _turn(
    client: anthropic.Anthropic, body: dict[str, Any], headers: dict[str, str]
) -> tuple[list[dict[str, Any]], TurnFigures]:
    started = time.perf_counter()
    first: float | None = None
    with sdk_stream(client, body, headers) as stream:
        for event in stream:
            if first is None and event.type == "content_block_delta":
                first = time.perf_counter()
        message = stream.get_final_message()
    usage = message.usage
    cached = usage.cache_read_input_tokens or 0
    figures = TurnFigures(
        prompt=usage.input_tokens + cached,
        processed=usage.input_tokens,
        cached=cached,
        ttft_ms=((first or time.perf_counter()) - started) * 1000,
    )
    return [block.model_dump(exclude_none=True) for block in message.content], figures
