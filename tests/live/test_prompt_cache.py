"""A Claude Code session of several turns through LM Gate into a REAL llama.cpp server: every
turn after the first is served from the server's prompt cache but for its new tokens (the
server's own counts), on both protocols, and LM Gate loses no more of the cache than the same
session sent straight to the server's own /v1/messages does.

(This llama.cpp build neutralises the rotating `cch=` of Claude Code's billing header on its
Messages API itself, ggml-org/llama.cpp#21793, so the straight session is cached too; on its chat
completions, and on servers without that fix, the header is what LM Gate's stripping saves.)"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gateway.config import BackendConfig
from gateway.events import EventBus
from gateway.runner import GatewayServer
from tests.live.cache_session import TURNS, TurnFigures, run_session
from tests.live.llama_server import MODEL_ALIAS, LlamaServer
from tests.records import RecordSink

pytestmark = [pytest.mark.live, pytest.mark.timeout(900)]
Gateway = Callable[..., GatewayServer]
# Tokens of the previous prompt a turn may re-process: llama-server re-evaluates the previous
# turn's last few (5 with this template: the end of the user's turn and the generation prompt),
# sent straight or through LM Gate alike.
SLACK = 8


def _show(name: str, turns: list[TurnFigures]) -> None:
    for n, turn in enumerate(turns, 1):
        print(
            f"{name} turn {n}: prompt {turn.prompt}, processed {turn.processed}, "
            f"cached {turn.cached}, first token {turn.ttft_ms:.0f} ms"
        )


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_each_turn_reprocesses_only_its_new_tokens(
    protocol: str, llama_server: LlamaServer, gateway_server: Gateway
) -> None:
    bus = EventBus()
    seen = RecordSink(bus)
    backend = BackendConfig(id="llama", url=llama_server.url, protocol=protocol)
    server = gateway_server(
        llama_server.url, backends=[backend], big=MODEL_ALIAS, small=MODEL_ALIAS, bus=bus
    )
    direct = run_session(llama_server.root_url, MODEL_ALIAS, f"straight ({protocol} run)")
    turns = run_session(server.url, "claude-sonnet-4-6", f"through LM Gate ({protocol})")
    _show("llama-server /v1/messages", direct)
    _show(f"LM Gate {protocol}", turns)
    for n in range(1, TURNS):
        new = turns[n].prompt - turns[n - 1].prompt
        lost = turns[n - 1].prompt - turns[n].cached
        lost_direct = direct[n - 1].prompt - direct[n].cached
        assert 0 < new < turns[n - 1].prompt, turns
        assert 0 <= lost <= SLACK, (n + 1, turns)
        assert turns[n].processed == new + lost, (n + 1, turns)
        assert lost <= lost_direct, (n + 1, turns, direct)
    records = [r for r in seen.wait(TURNS) if r.path == "/v1/messages"]
    # The record carries the server's counts, and the gateway changed nothing early.
    assert [r.cached_tokens for r in records] == [t.cached for t in turns]
    assert [r.prefix_note for r in records] == [None] * TURNS
