"""The benchmark's quick mode end to end, so that it cannot silently rot: every figure printed and
written. Marked `bench`: the default run deselects it (`uv run pytest -m bench` runs it)."""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.bench.cli import ON_REQUEST, SECTIONS, build_parser, chosen_sections
from tests.bench.report import COLD, DESKTOP, FAULTS, HEADLINES, SOAK
from tests.paths import REPO

pytestmark = pytest.mark.bench

FAKE_FIGURES = (
    "latency.direct_p50_ms",
    "throughput.direct_rps",
    "stream.direct_events_per_s",
    "stream.fake_cpu_per_chunk_ms",
)

REVIEW_FIGURES = ("plain_turn_ms", "reviewed_turn_ms", "added_ms", "ratio")
ROUTING_FIGURES = (
    "latency.gateway_p50_ms",
    "latency.gateway_cpu_ms",
    "throughput.gateway_p50_ms",
    "throughput.gateway_rps",
)
FEATURES = ("rules", "thread", "pdf_first_read", "pdf_resent")
FEATURE_FIGURES = ("plain_ms", "with_ms", "added_ms", "ratio")


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def test_quick_leaves_the_soak_out_unless_asked() -> None:
    assert chosen_sections(_args()) == [s for s in SECTIONS if s not in ON_REQUEST]
    # The real llama.cpp server's section runs only when asked for.
    assert "prefix" not in chosen_sections(_args()) and ON_REQUEST == ("prefix",)
    assert chosen_sections(_args("--only", "prefix")) == ["prefix"]
    assert "soak" not in chosen_sections(_args("--quick"))
    assert "soak" in chosen_sections(_args("--quick", "--soak-seconds", "5"))
    assert chosen_sections(_args("--quick", "--only", "soak")) == ["soak"]


@pytest.mark.timeout(600)
def test_quick_run_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.bench",
            "--quick",
            "--soak-seconds",
            "4",
            "--fault-seconds",
            "5",
            "--json",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    figures = orjson.loads(out.read_bytes())["figures"]
    expected = [f"{t}.{h.key}" for t in ("aiohttp", "httpx") for h in HEADLINES]
    expected += [f"coldstart.{h.key}" for h in COLD]
    expected += [f"desktop.{h.key}" for h in DESKTOP]
    expected += [f"soak.{h.key}" for h in SOAK]
    expected += [f"faults.{h.key}" for h in FAULTS]
    expected += [f"fakes.{f}.{k}" for f in ("lean", "fakebackend") for k in FAKE_FIGURES]
    expected += [f"review.{v}.{k}" for v in ("rules", "classifier") for k in REVIEW_FIGURES]
    expected += [f"routing.ratio.{k}" for k in ROUTING_FIGURES]
    expected += [f"keys.{k}" for k in ("c1.p50_ratio", "c1.cpu_ratio", "c32.rps_ratio")]
    expected += [
        f"{t}.features.{f}.{k}"
        for t in ("aiohttp", "httpx")
        for f in FEATURES
        for k in FEATURE_FIGURES
    ]
    expected += [f"{t}.features.pdf_first_read.per_page_ms" for t in ("aiohttp", "httpx")]
    missing = [key for key in expected if key not in figures]
    assert not missing, f"figures missing from the JSON: {missing}"
    broken = {k: v for k, v in figures.items() if not math.isfinite(v)}
    assert not broken
    assert figures["aiohttp.throughput.gateway_rps"] > 0
    assert figures["coldstart.python_m_gateway.idle_rss_mb"] > 10
    # The BPE tables are ~28 MB: a count_tokens call must show them loaded.
    tokens = figures["coldstart.python_m_gateway.tokens_rss_mb"]
    assert tokens > figures["coldstart.python_m_gateway.idle_rss_mb"] + 20
    for transport in ("aiohttp", "httpx"):
        assert figures[f"{transport}.streams64.valid_streams"] == 64
        before = figures[f"{transport}.streams64.rss_before_mb"]
        assert figures[f"{transport}.streams64.rss_peak_mb"] >= before > 10
    assert figures["soak.requests"] > 0
    assert figures["soak.errors"] == 0
    assert figures["desktop.clean_exit"] == 1
    # A first read of a PDF costs more than the same PDF resent (read once, by content).
    first = figures["aiohttp.features.pdf_first_read.added_ms"]
    assert first > figures["aiohttp.features.pdf_resent.added_ms"]
    assert figures["desktop.idle_rss_mb"] > figures["coldstart.python_m_gateway.idle_rss_mb"]
    labels = [h.label for h in (*HEADLINES, *COLD, *DESKTOP, *SOAK)]
    for line in [*labels, "load average", "bytecode", "64 paced streams", "soak"]:
        assert line in run.stdout, f"the report lacks {line!r}"
