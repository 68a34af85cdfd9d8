"""Context windows: refuse only what cannot fit, cap max_tokens to what remains, count fast."""

from __future__ import annotations

import time

import orjson
import pytest

from gateway.context import CAP_MARGIN, MIN_OUTPUT, REJECT_MARGIN, PromptCounter, fit_window
from gateway.errors import PromptTooLong
from gateway.schemas.anthropic import parse_messages_request
from gateway.tokens import count_tokens, warm_up
from tests.paths import load_fixture


def test_fits_untouched() -> None:
    fit = fit_window(10_000, 32_000, 65_536)
    assert (fit.max_tokens, fit.capped_from, fit.reason) == (32_000, None, None)


def test_caps_max_tokens_to_what_remains() -> None:
    fit = fit_window(20_000, 32_000, 32_768)
    assert fit.capped_from == 32_000
    assert fit.max_tokens == 32_768 - int(20_000 * (1 + CAP_MARGIN))
    assert "32768" in (fit.reason or "")


def test_a_prompt_that_may_fit_is_never_refused() -> None:
    """Within the counter's error the backend decides; the output gets the minimum."""
    fit = fit_window(int(32_768 * (1 + REJECT_MARGIN)) - 1, 32_000, 32_768)
    assert fit.max_tokens == MIN_OUTPUT


def test_a_prompt_that_cannot_fit_is_prompt_too_long() -> None:
    with pytest.raises(PromptTooLong) as info:
        fit_window(50_000, 32_000, 32_768)
    assert info.value.message == "prompt is too long: 50000 tokens > 32768 maximum"
    assert info.value.status == 400


def test_small_max_tokens_keeps_its_value_at_the_floor() -> None:
    assert fit_window(32_000, 100, 32_768).max_tokens == 100


def test_unknown_window_checks_only_the_output_ceiling() -> None:
    assert fit_window(10**6, 32_000, None).max_tokens == 32_000
    fit = fit_window(1_000, 32_000, None, output_ceiling=8_192)
    assert (fit.max_tokens, fit.capped_from) == (8_192, 32_000)
    assert "output ceiling" in (fit.reason or "")


@pytest.mark.alone
def test_cached_count_equals_the_count_tokens_answer_and_is_fast() -> None:
    warm_up()
    body = load_fixture("claude-code-2.1.197-print-bash-roundtrip-turn2")["body"]
    request = parse_messages_request(orjson.dumps(body))
    counter = PromptCounter()
    assert counter.count(request) == count_tokens(request)
    best = min(_timed(counter, request) for _ in range(20))
    print(f"cached prompt count of the 75 KB fixture: {best * 1000:.3f} ms")
    assert best < 0.0003  # the hot-path budget: 0.3 ms
    grown = {**request, "messages": [*request["messages"], {"role": "user", "content": "next"}]}
    assert counter.count(grown) == count_tokens(grown)  # type: ignore[arg-type]


def _timed(counter: PromptCounter, request: object) -> float:
    started = time.perf_counter()
    counter.count(request)  # type: ignore[arg-type]
    return time.perf_counter() - started
