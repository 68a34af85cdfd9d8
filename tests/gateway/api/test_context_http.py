"""Context fitting over HTTP: Claude Code asks for 32,000 output tokens on every turn; what a
model's window cannot hold is capped (and recorded), and a prompt far beyond the window is
refused with the wording Claude Code compacts on, before anything reaches the backend."""

from __future__ import annotations

import random
import re
import threading
import time

import httpx
import pytest

from tests.fakes.flavour import estimate_tokens
from tests.gateway.api.client import Gateway, Start, body, last_record, message_of, post, start_pair

PROTOCOLS = {"openai": {"rest": "v0"}, "anthropic": {"rest": "both"}}
PATHS = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages"}
# What the fake counts as the prompt on each endpoint.
FAKE_COUNTS = {"openai": ("messages", "tools"), "anthropic": ("system", "messages", "tools")}
CAPPED = re.compile(
    r"max_tokens capped from 32000 to (\d+): the model's window is 32768 and the prompt is "
    r"about (\d+)"
)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_max_tokens_is_capped_to_what_the_window_leaves(
    protocol: str, stream: bool, fake_backend: Start, gateway_server: Gateway
) -> None:
    fake, server, records = start_pair(
        fake_backend,
        gateway_server,
        "lmstudio",
        fake={**PROTOCOLS[protocol], "context_length": 32768},
    )
    prompt = "lorem " * 2000  # 2,006 tokens
    message_of(post(server, body(prompt, stream=stream, max_tokens=32000)))
    (sent,) = fake.chat_requests
    assert sent.path == PATHS[protocol]
    record = last_record(records)
    assert record.extra["protocol"] == protocol
    (change,) = [c for c in record.changes if c.startswith("max_tokens capped")]
    match = CAPPED.fullmatch(change)
    assert match is not None, change
    capped, counted = int(match[1]), int(match[2])
    assert counted == 2006 and sent.body["max_tokens"] == capped
    # What remains of the window once the prompt (with the counter's margin) is in it.
    assert 32768 - 2 * counted < capped < 32768 - counted


def test_a_request_that_fits_is_left_alone(fake_backend: Start, gateway_server: Gateway) -> None:
    fake, server, records = start_pair(
        fake_backend, gateway_server, "lmstudio", fake={"context_length": 65536}
    )
    message_of(post(server, body("hi", max_tokens=32000)))
    assert fake.chat_requests[0].body["max_tokens"] == 32000
    assert not any("max_tokens" in c for c in last_record(records).changes)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_prompt_far_beyond_the_window_is_refused_before_the_backend(
    protocol: str, stream: bool, fake_backend: Start, gateway_server: Gateway
) -> None:
    fake, server, records = start_pair(
        fake_backend,
        gateway_server,
        "lmstudio",
        fake={**PROTOCOLS[protocol], "context_length": 8192},
    )
    response = post(server, body("lorem " * 20000, stream=stream, max_tokens=32000))
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "prompt is too long: 20006 tokens > 8192 maximum",
        },
    }
    assert response.headers["x-should-retry"] == "false"
    assert fake.chat_requests == []
    record = last_record(records)
    assert record.status == 400 and record.error is not None and "8192" in record.error


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_prompt_within_the_counters_margin_is_left_to_the_backend(
    protocol: str, fake_backend: Start, gateway_server: Gateway
) -> None:
    """The gateway's counter is not the model's tokenizer: a prompt over the window by less
    than the counter's error goes to the backend, which knows (never "prompt is too long" for a
    prompt that may fit, or Claude Code compacts forever). Its refusal is worded for Claude
    Code all the same."""
    fake, server, records = start_pair(
        fake_backend,
        gateway_server,
        "lmstudio",
        fake={**PROTOCOLS[protocol], "context_length": 8192},
    )
    response = post(server, body("lorem " * 9000, max_tokens=32000))
    (sent,) = fake.chat_requests
    assert sent.body["max_tokens"] == 256  # the floor: the window is full already
    assert response.status_code == 400, response.text
    theirs = estimate_tokens(sent.body, *FAKE_COUNTS[protocol])
    expected = f"prompt is too long: {theirs} tokens > 8192 maximum"
    assert response.json()["error"]["message"] == expected


@pytest.mark.alone
def test_counting_a_large_new_prompt_leaves_the_event_loop_serving(
    fake_backend: Start, gateway_server: Gateway
) -> None:
    # Counting is pure Python: a large prompt never seen before takes a while, and meanwhile
    # every other request (a stream's chunks, /health) must still be served.
    fake, server, records = start_pair(
        fake_backend, gateway_server, "lmstudio", fake={"context_length": 8_388_608}
    )
    message_of(post(server, body("warm up: the tables are loaded now")))
    words = [f"w{n:x}q" for n in range(400_000)]
    random.Random(3).shuffle(words)
    prompt = " ".join(words)  # 3 MB of distinct words: each is merged, none is cached
    worst = 0.0
    done = threading.Event()

    def poll() -> None:
        nonlocal worst
        with httpx.Client(base_url=server.url, timeout=30) as client:
            while not done.is_set():
                started = time.perf_counter()
                assert client.get("/health").status_code == 200
                worst = max(worst, time.perf_counter() - started)
                time.sleep(0.01)

    poller = threading.Thread(target=poll)
    poller.start()
    started = time.perf_counter()
    try:
        message_of(post(server, body(prompt)))
    finally:
        done.set()
        poller.join(30)
    took = time.perf_counter() - started
    assert last_record(records).status == 200
    # The count took most of a second or more; /health never waited for it.
    assert took > 0.3, f"{took:.2f} s: too quick to show anything"
    assert worst < took / 3, f"/health waited {worst:.2f} s while the request took {took:.2f} s"
