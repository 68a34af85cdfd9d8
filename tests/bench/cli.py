"""`python -m tests.bench [--quick] [--only NAME…] [--soak-seconds N] [--fault-seconds N]
[--json PATH]`: start the fake backend and the gateway (one per transport) in their own processes
on their own cores, run the workloads against both, print the report."""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import orjson

from tests.bench.coldstart import measure_cold_start
from tests.bench.desktop import measure_desktop, measure_desktop_browse
from tests.bench.faults import measure_faults
from tests.bench.features import PAGES, measure_features
from tests.bench.keys import client_key, measure_keys
from tests.bench.load import measure_soak, measure_streams64
from tests.bench.prefix import measure_prefix
from tests.bench.processes import Child, Cores, bench_env, plan_cores, spawn
from tests.bench.report import render_report
from tests.bench.review import measure_review
from tests.bench.tokens import measure_tokens
from tests.bench.workloads import (
    Targets,
    measure_fixtures,
    measure_latency,
    measure_stream,
    measure_throughput,
)
from tests.paths import REPO

__all__ = ["SECTIONS", "main"]

SECTIONS = (
    "latency",
    "throughput",
    "stream",
    "fixtures",
    "streams64",
    "soak",
    "faults",
    "coldstart",
    "desktop",
    "tokens",
    "fakes",
    "review",
    "prefix",
    "routing",
    "keys",
    "features",
)
# Sections that only run when asked for (--only): prefix needs the live suite's llama.cpp build.
ON_REQUEST = ("prefix",)
FLOWS = ("latency", "throughput", "stream", "fixtures", "streams64", "features")
TRANSPORTS = ("aiohttp", "httpx")
SOAK_SECONDS = 120.0
# The fault soak: ten minutes for the real figure (issue #11), seconds for --quick.
FAULT_SECONDS = 600.0
QUICK_FAULT_SECONDS = 20.0


@dataclass(frozen=True)
class Settings:
    latency_reps: int
    latency_count: int
    throughput_reps: int
    throughput_total: int
    stream_reps: int
    fixture_reps: int
    cold_runs: int
    # Seconds idle before the idle RSS readings (headless and desktop).
    idle: float
    # Chunks per stream of the 64 paced streams (20 ms apart).
    streams64_chunks: int
    # Seconds between the end of a load and the RSS reading "after" it.
    settle: float
    # Repetitions of each count in the tokens section (the best is kept).
    token_runs: int
    # Normal requests timed in each phase of the fault soak (idle, huge lines, slow clients).
    fault_samples: int
    # Tool-call turns per variant in the review section (a multiple of 5).
    review_turns: int = 50
    # The features section: rounds, and requests per side in each round.
    feature_reps: int = 5
    feature_count: int = 40


FULL = Settings(7, 200, 5, 3200, 30, 15, 5, 10.0, 250, 2.0, 7, 500)
QUICK = Settings(
    3, 40, 2, 320, 3, 2, 1, 1.0, 50, 0.5, 2, 100, review_turns=10, feature_reps=2, feature_count=5
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench",
        description="Measure what the gateway adds to a fast OpenAI-compatible backend.",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run (under a minute)")
    parser.add_argument(
        "--only", nargs="+", choices=SECTIONS, metavar="NAME", help=f"one of {', '.join(SECTIONS)}"
    )
    parser.add_argument(
        "--transport",
        nargs="+",
        choices=TRANSPORTS,
        default=list(TRANSPORTS),
        metavar="NAME",
        help=f"the gateways to compare: {', '.join(TRANSPORTS)} (default: {' '.join(TRANSPORTS)})",
    )
    parser.add_argument(
        "--soak-seconds",
        type=float,
        metavar="N",
        help=f"how long the soak runs (default {SOAK_SECONDS:g}); with --quick, asks for the soak",
    )
    parser.add_argument(
        "--fault-seconds",
        type=float,
        metavar="N",
        help=f"how long the fault soak's mix runs (default {FAULT_SECONDS:g}; "
        f"{QUICK_FAULT_SECONDS:g} with --quick)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    return parser


def chosen_sections(args: argparse.Namespace) -> list[str]:
    """--only, else every section; --quick leaves the soak out unless it is asked for."""
    if args.only:
        return list(args.only)
    soak = not args.quick or args.soak_seconds is not None
    return [s for s in SECTIONS if (s != "soak" or soak) and s not in ON_REQUEST]


def compile_bytecode() -> float:
    """PYTHONDONTWRITEBYTECODE is set in this environment and uv installs without compiling, so
    every start would compile FastAPI, pydantic & co. again: compile once, like a wheel install."""
    started = time.perf_counter()
    paths = ["gateway", "app", "tests", sysconfig.get_paths()["purelib"]]
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j", "0", *paths],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        check=False,
    )
    return time.perf_counter() - started


def _progress(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


async def _workloads(
    sections: Sequence[str],
    fake: Child,
    gateways: dict[str, Child],
    settings: Settings,
    prefix: str = "",
) -> dict[str, float]:
    figures: dict[str, float] = {}
    for section in sections:
        # Transports take turns within a section, so a change in the machine's load hits both.
        for transport, gateway in gateways.items():
            _progress(f"{prefix}{section} through {transport}")
            targets = Targets(fake.port, gateway.port, gateway.cpu_seconds, gateway.pid)
            if section == "streams64":
                result = await measure_streams64(
                    targets, chunks=settings.streams64_chunks, settle=settings.settle
                )
            elif section == "latency":
                result = await measure_latency(
                    targets, reps=settings.latency_reps, count=settings.latency_count
                )
            elif section == "throughput":
                result = await measure_throughput(
                    targets, reps=settings.throughput_reps, total=settings.throughput_total
                )
            elif section == "features":
                result = await measure_features(
                    targets, reps=settings.feature_reps, count=settings.feature_count
                )
            elif section == "stream":
                result = await measure_stream(
                    targets, reps=settings.stream_reps, fake_cpu=fake.cpu_seconds
                )
            else:
                result = await measure_fixtures(targets, reps=settings.fixture_reps)
            figures |= {f"{prefix}{transport}.{section}.{k}": v for k, v in result.items()}
    return figures


def _gateway(
    variant: str,
    fake: Child,
    cores: Cores,
    env: dict[str, str],
    logs: Path,
    role: str = "",
    extra: Sequence[str] = (),
) -> Child:
    transport, _, what_if = variant.partition("+")
    args = ["tests.bench.gateway_proc", f"{fake.url}/v1", "--transport", transport, *extra]
    if what_if:
        args.append(f"--{what_if}")
    name = f"gateway-{variant.replace('+', '-')}{role}-for-{fake.name}"
    return spawn(name, args, cores=cores.gateway, env=env, logs=logs)


def run(
    sections: Sequence[str],
    transports: Sequence[str],
    settings: Settings,
    cores: Cores,
    soak_seconds: float = SOAK_SECONDS,
    fault_seconds: float = FAULT_SECONDS,
) -> dict[str, float]:
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="lmgate-bench-") as home:
        logs = Path(home)
        env = bench_env(logs)
        with spawn("fake", ["tests.bench.fake"], cores=cores.fake, env=env, logs=logs) as fake:
            flows = [s for s in sections if s in FLOWS]
            gateways = {t: _gateway(t, fake, cores, env, logs) for t in transports if flows}
            try:
                figures |= asyncio.run(_workloads(flows, fake, gateways, settings))
            finally:
                for gateway in gateways.values():
                    gateway.stop()
            if "routing" in sections:
                figures |= _routing(transports[0], fake, settings, cores, env, logs)
            if "soak" in sections:
                # One transport (the first, the default one): the soak looks for leaks over time.
                _progress(f"soak through {transports[0]} for {soak_seconds:g} s")
                with _gateway(transports[0], fake, cores, env, logs, "-soak") as gateway:
                    targets = Targets(fake.port, gateway.port, gateway.cpu_seconds, gateway.pid)
                    soak = asyncio.run(
                        measure_soak(targets, seconds=soak_seconds, settle=settings.settle)
                    )
                figures |= {f"soak.{k}": v for k, v in soak.items()}
            if "keys" in sections:
                figures |= _keys(transports[0], fake, settings, cores, env, logs)
            if "desktop" in sections:
                _progress("desktop app")
                desktop = measure_desktop(
                    f"{fake.url}/v1",
                    idle=settings.idle,
                    cores=cores.gateway,
                    env=env,
                    scratch=logs / "desktop",
                )
                figures |= {f"desktop.{k}": v for k, v in desktop.items()}
                _progress("desktop app, browsed and after 1,000 requests")
                browsed = measure_desktop_browse(
                    f"{fake.url}/v1", cores=cores.gateway, env=env, scratch=logs / "desktop-browse"
                )
                figures |= {f"desktop.{k}": v for k, v in browsed.items()}
            if "coldstart" in sections:
                _progress("cold start")
                cold = measure_cold_start(
                    f"{fake.url}/v1",
                    runs=settings.cold_runs,
                    idle=settings.idle,
                    cores=cores.gateway,
                    env=env,
                )
                figures |= {f"coldstart.{k}": v for k, v in cold.items()}
        if "faults" in sections:
            _progress(f"fault soak through {transports[0]} for {fault_seconds:g} s")
            figures |= _fault_soak(transports[0], settings, cores, env, logs, fault_seconds)
        if "tokens" in sections:
            _progress("token counter against the reference")
            figures |= {f"tokens.{k}": v for k, v in measure_tokens(settings.token_runs).items()}
        if "fakes" in sections:
            figures |= _compare_fakes(transports[0], settings, cores, env, logs)
        if "review" in sections:
            _progress("auto-mode review of a tool-call turn")
            figures |= {f"review.{k}": v for k, v in measure_review(settings.review_turns).items()}
        if "prefix" in sections:
            _progress("prompt-cache reuse per turn on a real llama.cpp server")
            figures |= measure_prefix()
    return figures


def _keys(
    transport: str, fake: Child, settings: Settings, cores: Cores, env: dict[str, str], logs: Path
) -> dict[str, float]:
    """The same gateway without and with client keys, side by side."""
    _progress(f"client keys through {transport}")
    clients, key = client_key(logs)
    with (
        _gateway(transport, fake, cores, env, logs, "-plain") as plain,
        _gateway(transport, fake, cores, env, logs, "-keys", ("--clients", str(clients))) as keyed,
    ):
        found = asyncio.run(
            measure_keys(
                Targets(fake.port, plain.port, plain.cpu_seconds, plain.pid),
                Targets(fake.port, keyed.port, keyed.cpu_seconds, keyed.pid),
                key,
                reps=settings.latency_reps,
                count=settings.latency_count,
                total=settings.throughput_total,
            )
        )
    return {f"keys.{k}": v for k, v in found.items()}


def _fault_soak(
    transport: str,
    settings: Settings,
    cores: Cores,
    env: dict[str, str],
    logs: Path,
    seconds: float,
) -> dict[str, float]:
    """Hostile backends (tests/bench/faults.py, a process of its own) and clients beside normal
    traffic, against a gateway with the fault run's short timeouts."""
    with spawn(
        "fault-backend", ["tests.bench.faults"], cores=cores.fake, env=env, logs=logs
    ) as bad:
        args = ["tests.bench.gateway_proc", f"{bad.url}/v1", "--transport", transport]
        args += ["--model", "fake-model", "--faults"]
        with spawn("gateway-faults", args, cores=cores.gateway, env=env, logs=logs) as gateway:
            found = asyncio.run(
                measure_faults(
                    gateway.port, gateway.pid, seconds=seconds, samples=settings.fault_samples
                )
            )
    return {f"faults.{k}": v for k, v in found.items()}


def _routing(
    transport: str,
    fake: Child,
    settings: Settings,
    cores: Cores,
    env: dict[str, str],
    logs: Path,
) -> dict[str, float]:
    """The small request at c=1 and c=32 through a gateway with every route, fallback and two
    replicas set, and through the same gateway without them: the ratios are what routing adds."""
    gateways = {
        "plain": _gateway(transport, fake, cores, env, logs, "-plain"),
        "routing": _gateway(f"{transport}+routing", fake, cores, env, logs),
    }
    try:
        found = asyncio.run(
            _workloads(("latency", "throughput"), fake, gateways, settings, "routing.")
        )
    finally:
        for gateway in gateways.values():
            gateway.stop()
    for key in ("latency.gateway_p50_ms", "latency.gateway_cpu_ms", "throughput.gateway_p50_ms"):
        found[f"routing.ratio.{key}"] = (
            found[f"routing.routing.{key}"] / found[f"routing.plain.{key}"]
        )
    found["routing.ratio.throughput.gateway_rps"] = (
        found["routing.routing.throughput.gateway_rps"]
        / found["routing.plain.throughput.gateway_rps"]
    )
    return found


def _compare_fakes(
    variant: str, settings: Settings, cores: Cores, env: dict[str, str], logs: Path
) -> dict[str, float]:
    """The direct baseline with each fake, and what the gateway (`variant`) adds over it."""
    settings = replace(
        settings,
        latency_count=min(settings.latency_count, 100),
        latency_reps=min(settings.latency_reps, 3),
        throughput_total=min(settings.throughput_total, 1600),
        throughput_reps=min(settings.throughput_reps, 3),
    )
    figures: dict[str, float] = {}
    for kind in ("lean", "fakebackend"):
        args = ["tests.bench.fake", "--kind", kind]
        with spawn(f"fake-{kind}", args, cores=cores.fake, env=env, logs=logs) as fake:
            with _gateway(variant, fake, cores, env, logs) as gateway:
                found = asyncio.run(
                    _workloads(
                        ("latency", "throughput", "stream"),
                        fake,
                        {kind: gateway},
                        settings,
                        "fakes.",
                    )
                )
        keep = (
            "direct_p50_ms",
            "added_p50_ms",
            "direct_rps",
            "gateway_rps",
            "direct_events_per_s",
            "events_share",
            "fake_cpu_per_chunk_ms",
        )
        figures |= {k: v for k, v in found.items() if k.endswith(keep)}
    return figures


def _meta(
    cores: Cores,
    compile_s: float,
    load: tuple[float, ...],
    settings: Settings,
    quick: bool,
    sections: Sequence[str],
    soak: str,
) -> dict[str, str]:
    meta = {
        "mode": "quick (smoke figures: few repetitions)" if quick else "full",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}",
        "placement": cores.describe(),
        "load average (1/5/15 min) at start": "/".join(f"{x:.1f}" for x in load),
        "load average at end": "/".join(f"{x:.1f}" for x in os.getloadavg()),
        "bytecode": f"compiled first ({compile_s:.1f} s): PYTHONDONTWRITEBYTECODE="
        f"{os.environ.get('PYTHONDONTWRITEBYTECODE', '')} here and uv installs without .pyc "
        "files, and without them a cold start takes 2-3 times as long",
        "backend": "lean raw-asyncio fake (llama-server wire shapes, one send per SSE event)",
        "client": "asyncio protocols + httptools, keep-alive, same code for both targets",
        "memory": f"VmRSS of the process; idle figures after {settings.idle:g} s idle; the fake "
        "lists no context window, so the gateway never counts a prompt and its BPE tables stay "
        "unloaded until a count_tokens call",
    }
    if "streams64" in sections:
        meta["64 paced streams"] = (
            f"{settings.streams64_chunks} chunks each, 20 ms apart (a model at 50 tokens/s), "
            "all sent at once, to the backend and then through the gateway; RSS read every 50 ms"
        )
    if "features" in sections:
        meta["features"] = (
            "each feature against the same request without it, through the gateway process "
            "(medians, interleaved rounds): rules = auto mode's rules layer reviewing a tool "
            "call (safeguards; no review model asked); thread = a thread continue of 8 "
            "exchanges against the whole conversation sent; pdf = a "
            f"{PAGES}-page PDF document, read for the first time and resent (read once)"
        )
    if "soak" in sections:
        meta["soak"] = soak
    if "faults" in sections:
        meta["fault soak"] = (
            "a raw backend answering each request with the fault it names (50 MB stream lines, "
            "streams cut or broken, trickled answers, silence after the headers) and clients that "
            "leave mid-stream or dribble their headers, beside normal requests and streams; the "
            "gateway with an idle timeout of 2 s, a deadline of 8 s, a header timeout of 2 s; "
            "normal-request p99 idle, during 50 MB lines and beside 200 slow clients; then a "
            "round with 200 "
            "concurrent streams and the weighted mix from 8 clients"
        )
    return meta


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = QUICK if args.quick else FULL
    sections = chosen_sections(args)
    soak_seconds = SOAK_SECONDS if args.soak_seconds is None else args.soak_seconds
    fault_seconds = args.fault_seconds
    if fault_seconds is None:
        fault_seconds = QUICK_FAULT_SECONDS if args.quick else FAULT_SECONDS
    cores = plan_cores()
    os.sched_setaffinity(0, cores.client)
    load = os.getloadavg()
    _progress("compiling bytecode")
    compile_s = compile_bytecode()
    started = time.perf_counter()
    figures = run(sections, args.transport, settings, cores, soak_seconds, fault_seconds)
    soak = f"{soak_seconds:g} s through {args.transport[0]} on a fresh gateway after a warm-up, "
    soak += "8 connections: small requests (text / tool call), 200-chunk and paced streams, "
    soak += "the Claude Code fixtures streamed and not"
    meta = _meta(cores, compile_s, load, settings, args.quick, sections, soak)
    meta["duration"] = f"{time.perf_counter() - started:.0f} s"
    print(render_report(figures, meta, args.transport))
    if args.json:
        Path(args.json).write_bytes(
            orjson.dumps({"meta": meta, "figures": figures}, option=orjson.OPT_INDENT_2)
        )
    return 0
