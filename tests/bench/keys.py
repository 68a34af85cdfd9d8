"""What client keys cost a small request: the same gateway with and without team mode (a key
required, checked and charged against a limit and a budget too large to reach), at c=1 and c=32,
the two taking turns so that a change in the machine's load hits both."""

from __future__ import annotations

import statistics
from pathlib import Path

from gateway.team.clients import add_client
from tests.bench.workloads import Figures, Targets, measure_latency, measure_throughput

__all__ = ["client_key", "measure_keys"]


def client_key(folder: Path) -> tuple[Path, str]:
    """A clients.toml with one client whose limits the bench never reaches; its key."""
    path = folder / "clients.toml"
    _, key = add_client(path, "bench", daily_tokens=10**12, rpm=10**9)
    return path, key


async def measure_keys(
    plain: Targets, keyed: Targets, key: str, *, reps: int, count: int, total: int
) -> Figures:
    headers = {"x-api-key": key}
    runs: dict[str, list[Figures]] = {
        "c1.plain": [],
        "c1.keys": [],
        "c32.plain": [],
        "c32.keys": [],
    }
    for _ in range(reps):
        runs["c1.plain"].append(await measure_latency(plain, reps=1, count=count))
        runs["c1.keys"].append(await measure_latency(keyed, reps=1, count=count, headers=headers))
        runs["c32.plain"].append(await measure_throughput(plain, reps=1, total=total))
        runs["c32.keys"].append(
            await measure_throughput(keyed, reps=1, total=total, headers=headers)
        )

    def median(run: str, key: str) -> float:
        return statistics.median(row[key] for row in runs[run])

    figures = {
        "c1.plain_gateway_p50_ms": median("c1.plain", "gateway_p50_ms"),
        "c1.keys_gateway_p50_ms": median("c1.keys", "gateway_p50_ms"),
        "c1.plain_cpu_ms": median("c1.plain", "gateway_cpu_ms"),
        "c1.keys_cpu_ms": median("c1.keys", "gateway_cpu_ms"),
        "c32.plain_rps": median("c32.plain", "gateway_rps"),
        "c32.keys_rps": median("c32.keys", "gateway_rps"),
        "c32.plain_cpu_ms": median("c32.plain", "gateway_cpu_ms"),
        "c32.keys_cpu_ms": median("c32.keys", "gateway_cpu_ms"),
    }
    figures["c1.p50_ratio"] = figures["c1.keys_gateway_p50_ms"] / figures["c1.plain_gateway_p50_ms"]
    figures["c1.cpu_ratio"] = figures["c1.keys_cpu_ms"] / figures["c1.plain_cpu_ms"]
    figures["c32.rps_ratio"] = figures["c32.keys_rps"] / figures["c32.plain_rps"]
    figures["c32.cpu_ratio"] = figures["c32.keys_cpu_ms"] / figures["c32.plain_cpu_ms"]
    return figures
