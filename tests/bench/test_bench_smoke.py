"""The benchmark's quick mode end to end, so that it cannot silently rot: every figure printed and
written. Marked `bench`: the default run deselects it (`uv run pytest -m bench` runs it)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.bench.report import COLD, HEADLINES
from tests.paths import REPO

pytestmark = pytest.mark.bench

FAKE_FIGURES = (
    "latency.direct_p50_ms",
    "throughput.direct_rps",
    "stream.direct_events_per_s",
    "stream.fake_cpu_per_chunk_ms",
)


@pytest.mark.timeout(600)
def test_quick_run_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    run = subprocess.run(
        [sys.executable, "-m", "tests.bench", "--quick", "--json", str(out)],
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
    expected += [f"fakes.{f}.{k}" for f in ("lean", "fakebackend") for k in FAKE_FIGURES]
    missing = [key for key in expected if key not in figures]
    assert not missing, f"figures missing from the JSON: {missing}"
    broken = {k: v for k, v in figures.items() if not math.isfinite(v)}
    assert not broken
    assert figures["aiohttp.throughput.gateway_rps"] > 0
    assert figures["coldstart.python_m_gateway.idle_rss_mb"] > 10
    for line in [h.label for h in (*HEADLINES, *COLD)] + ["load average", "bytecode"]:
        assert line in run.stdout, f"the report lacks {line!r}"
