"""Prompt-cache reuse turn by turn on a REAL llama.cpp server (the live suite's, built once and
cached): the same Claude Code session through LM Gate (chat completions, and the native Messages
API) and straight to the server's own /v1/messages; per turn, the prompt tokens the server
processed and read from its cache (its own counts) and the time to the first token."""

from __future__ import annotations

import tempfile
from pathlib import Path

from gateway.config import BackendConfig, GatewayConfig
from gateway.events import EventBus
from gateway.runner import GatewayServer
from tests.live.cache_session import TURNS, run_session
from tests.live.llama_server import MODEL_ALIAS, running_llama_server

__all__ = ["measure_prefix"]


def measure_prefix(turns: int = TURNS) -> dict[str, float]:
    figures: dict[str, float] = {}
    with (
        tempfile.TemporaryDirectory(prefix="lmgate-bench-llama-") as scratch,
        running_llama_server(Path(scratch)) as llama,
    ):
        runs = {"direct": (llama.root_url, MODEL_ALIAS)}
        servers: list[GatewayServer] = []
        try:
            for protocol in ("openai", "anthropic"):
                config = GatewayConfig(
                    port=0,
                    backends=[BackendConfig(id="llama", url=llama.url, protocol=protocol)],
                    discover=False,
                    big=MODEL_ALIAS,
                    small=MODEL_ALIAS,
                )
                server = GatewayServer(config, bus=EventBus())
                server.start()
                servers.append(server)
                runs[f"lmgate_{protocol}"] = (server.url, "claude-sonnet-4-6")
            for name, (url, model) in runs.items():
                for n, turn in enumerate(run_session(url, model, f"bench {name}", turns), 1):
                    figures[f"prefix.{name}.turn{n}.prompt"] = turn.prompt
                    figures[f"prefix.{name}.turn{n}.processed"] = turn.processed
                    figures[f"prefix.{name}.turn{n}.cached"] = turn.cached
                    figures[f"prefix.{name}.turn{n}.ttft_ms"] = turn.ttft_ms
        finally:
            for server in servers:
                server.stop()
    return figures
