"""The gateway under test in its own process (`python -m tests.bench.gateway_proc URL`).

What `lmgate serve` runs (GatewayServer: uvicorn on a worker thread, the headless log file on the
bus) with the transport chosen, and without printing a line per request to a terminal. Prints its
port on stdout and stops when stdin closes or on SIGTERM.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway.config import BackendConfig, GatewayConfig, TeamConfig
from gateway.events import EventBus
from gateway.logfile import attach_log_file
from gateway.memory import freeze_startup
from gateway.runner import GatewayServer
from gateway.team.gate import TeamFiles
from tests.bench.fake import MODEL
from tests.bench.lifeline import stop_event

__all__ = ["bench_config", "main"]


def bench_config(
    backend_url: str, model: str = MODEL, faults: bool = False, routing: bool = False
) -> GatewayConfig:
    """Defaults everywhere (body capture included) but the backend and the model choices; with
    `faults`, the short timeouts of the fault run (tests/bench/faults.py); with `routing`, every
    scenario route set (a long-context one counts each prompt), a role fallback, and the backend
    twice (two replicas of the model, each the other's fallback): what routing adds."""
    config = GatewayConfig(
        port=0,
        backends=[BackendConfig(id="bench", url=backend_url)],
        big=model,
        small=model,
        aliases={"local-big-model": "big"},
    )
    if faults:
        from tests.bench.faults import FAULT_TIMEOUTS, HEADER_TIMEOUT

        config = config.model_copy(
            update={
                "timeouts": config.timeouts.model_copy(update=FAULT_TIMEOUTS),
                "header_timeout": HEADER_TIMEOUT,
            }
        )
    if routing:
        targets = {"targets": [model, "big"]}
        config = GatewayConfig.model_validate(
            {
                **config.model_dump(),
                "backends": [
                    {"id": "bench", "url": backend_url, "fallbacks": ["bench2"]},
                    {"id": "bench2", "url": backend_url, "fallbacks": ["bench"]},
                ],
                "routes": {
                    "long_context": {"threshold": 100_000, **targets},
                    "images": targets,
                    "thinking": targets,
                    "subagent": targets,
                    "background": targets,
                    "fallbacks": {"big": [f"bench2:{model}"]},
                },
            }
        )
    return config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.gateway_proc")
    parser.add_argument("backend_url")
    parser.add_argument("--transport", choices=("aiohttp", "httpx"), default="aiohttp")
    parser.add_argument("--model", default=MODEL, help="the backend's model")
    parser.add_argument("--faults", action="store_true", help="the fault run's short timeouts")
    parser.add_argument("--routing", action="store_true", help="every route and fallback set")
    parser.add_argument(
        "--clients",
        metavar="PATH",
        help="team mode: require the client keys listed in PATH (a clients.toml)",
    )
    args = parser.parse_args(argv)
    bus = EventBus()
    config = bench_config(args.backend_url, args.model, args.faults, args.routing)
    files = None
    if args.clients:
        config = config.model_copy(update={"team": TeamConfig(require_client_keys=True)})
        files = TeamFiles(Path(args.clients))
    server = GatewayServer(config, bus=bus, transport=args.transport, team_files=files)
    server.start()
    detach = attach_log_file(bus)
    freeze_startup()  # as `lmgate serve` does
    stopped = stop_event()
    print(server.port, flush=True)
    try:
        while not stopped.wait(0.5):
            if not server.running:
                print("the gateway stopped unexpectedly", file=sys.stderr)
                return 1
    finally:
        server.stop()
        detach()
    return 0


if __name__ == "__main__":
    sys.exit(main())
