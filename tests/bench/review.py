"""What auto mode's review adds to a streamed tool-call turn: the same turn without `safeguards`,
with them and the rules deciding (no model call), and with them and the call left to a review
model on the fake backend (one more backend round trip). The suite's FakeBackend and a gateway
run in this process; each figure is the median of `turns`, the ratio against the plain turn of
the same call. The rules alone are also timed on the labelled set (tests/gateway/review)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from gateway.config import BackendConfig, GatewayConfig
from gateway.events import EventBus
from gateway.review.context import read_context
from gateway.review.rules import judge
from gateway.runner import GatewayServer
from tests.fakes import FakeBackend, Respond, Text, ToolCall, ToolCalls
from tests.fakes.replies import Reply

__all__ = ["measure_review"]

LABELLED = Path(__file__).resolve().parents[1] / "gateway" / "review" / "labelled_tool_calls.json"
SAFEGUARDS = [
    {
        "type": "dangerous_tool_use",
        "classifier_context": {
            "permission_mode": "auto",
            "platform": "linux",
            "live_cwd": "/home/user/project",
            "home_dir": "/home/user",
        },
    }
]
DECIDED = ToolCall("Bash", {"command": "git status"})  # the rules pass it
UNDECIDED = ToolCall("Bash", {"command": "npm test"})  # left to the review model


def _review_model() -> Respond:
    def make(body: Any) -> Reply:
        user = body["messages"][-1]["content"]
        text = user if isinstance(user, str) else "".join(p["text"] for p in user)
        calls = orjson.loads(text.split("Tool calls to classify:\n", 1)[1])
        verdicts = {c["id"]: {"flagged": False, "explanation": "Runs the tests."} for c in calls}
        return Text(orjson.dumps({"verdicts": verdicts}).decode())

    return Respond(make)


def _turns(
    client: httpx.Client,
    url: str,
    backend: FakeBackend,
    call: ToolCall,
    *,
    safeguards: bool,
    turns: int,
) -> list[float]:
    payload: dict[str, Any] = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 256,
        "stream": True,
        "messages": [{"role": "user", "content": "run it"}],
        "tools": [{"name": "Bash", "input_schema": {"type": "object"}}],
    }
    if safeguards:
        payload["safeguards"] = SAFEGUARDS
    asks_model = safeguards and call is UNDECIDED
    times: list[float] = []
    for _ in range(turns):
        backend.script(ToolCalls([call], text="Running it."))
        if asks_model:
            backend.script(_review_model())
        started = time.perf_counter()
        response = client.post(f"{url}/v1/messages", json=payload)
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200 or (
            safeguards and b"safeguard_results" not in response.content
        ):
            raise RuntimeError(f"the review turn failed: {response.text[:300]}")
        if asks_model and b'"not_flagged"' not in response.content:
            raise RuntimeError(f"the review model's verdict is missing: {response.text[-300:]}")
    return times


def measure_review(turns: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    with FakeBackend("lmstudio") as backend:
        config = GatewayConfig(
            port=0,
            backends=[BackendConfig(id="fake", url=backend.url)],
            discover=False,
            big="fake-model",
            small="fake-model",
        )
        server = GatewayServer(config, bus=EventBus())
        server.start()
        try:
            with httpx.Client(timeout=30) as client:
                _turns(client, server.url, backend, DECIDED, safeguards=True, turns=3)  # warm-up
                for name, call in (("rules", DECIDED), ("classifier", UNDECIDED)):
                    # Interleaved rounds, so that a change in the machine's load hits both.
                    plain: list[float] = []
                    reviewed: list[float] = []
                    for _ in range(5):
                        plain += _turns(
                            client, server.url, backend, call, safeguards=False, turns=turns // 5
                        )
                        reviewed += _turns(
                            client, server.url, backend, call, safeguards=True, turns=turns // 5
                        )
                    base, with_review = statistics.median(plain), statistics.median(reviewed)
                    figures[f"{name}.plain_turn_ms"] = base
                    figures[f"{name}.reviewed_turn_ms"] = with_review
                    figures[f"{name}.added_ms"] = with_review - base
                    figures[f"{name}.ratio"] = with_review / base
        finally:
            server.stop()
    labelled = orjson.loads(LABELLED.read_bytes())
    context = read_context(labelled["safeguard"])
    calls = labelled["calls"]
    started = time.perf_counter()
    rounds = 20
    for _ in range(rounds):
        for call in calls:
            judge(call["tool"], call["input"], context)
    figures["rules.per_call_us"] = (time.perf_counter() - started) / (rounds * len(calls)) * 1e6
    return figures
