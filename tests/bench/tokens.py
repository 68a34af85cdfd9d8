"""The token counter (gateway/bpe.py, pure Python) against the reference (bpe-openai, Rust), each
in a fresh interpreter: the time and memory to load the vocabulary, and the time to count the
text of every Claude Code fixture, the same strings through both, best of `runs`."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.paths import REPO

__all__ = ["measure_tokens"]

# Run in a fresh interpreter; prints one JSON object. {setup} is not measured, {load} is: the
# time and memory to have the vocabulary in memory.
_PROBE = """
import gc, json, random, time, warnings
warnings.simplefilter("ignore", DeprecationWarning)

def rss_mb():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 1e6

from tests.paths import fixture_names, load_fixture
texts = []
for name in fixture_names():
    body = load_fixture(name)["body"]
    system = body.get("system") or []
    texts += [system] if isinstance(system, str) else [b["text"] for b in system]
    texts += [json.dumps(tool, separators=(",", ":")) for tool in body.get("tools") or []]
    for message in body["messages"]:
        content = message["content"]
        blocks = [{{"type": "text", "text": content}}] if isinstance(content, str) else content
        texts += [b["text"] for b in blocks if b.get("type") == "text"]
largest = max(texts, key=len)
junk = "".join(random.Random(1).choice("abcdefghijklmnopqrstuvwxyz") for _ in range(40_000))
{setup}
gc.collect()
before = rss_mb()
started = time.perf_counter()
{load}
load_s = time.perf_counter() - started
gc.collect()
loaded_mb = rss_mb() - before

def best(work):
    times = []
    for _ in range({runs}):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times) * 1000

total = sum(count(t) for t in texts)
figures = {{
    "load_s": load_s,
    "rss_mb": loaded_mb,
    "fixture_texts": len(texts),
    "fixture_chars": sum(map(len, texts)),
    "fixture_tokens": total,
    "count_all_ms": best(lambda: [count(t) for t in texts]),
    "count_largest_ms": best(lambda: count(largest)),
    "largest_chars": len(largest),
    "junk_ms": best(lambda: count(junk)),
}}
print(json.dumps(figures))
"""

# The gateway has imported gateway.tokens (and pydantic with it) long before the first count;
# bpe-openai loads its vocabularies when it is imported.
_GATEWAY = ("from gateway import tokens", "tokens.warm_up(); count = tokens.count_text")
_REFERENCE = (
    "",
    "import bpe_openai; encoding = bpe_openai.get_encoding('o200k_base')\n"
    "count = lambda text: len(encoding.encode_ordinary(text))",
)


def _probe(setup_and_load: tuple[str, str], runs: int) -> dict[str, float]:
    setup, load = setup_and_load
    code = _PROBE.format(setup=setup, load=load, runs=runs)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:
        raise RuntimeError(f"token probe failed:\n{done.stderr[-3000:]}")
    found: dict[str, float] = json.loads(done.stdout)
    return found


def measure_tokens(runs: int) -> dict[str, float]:
    """gateway.* and reference.* figures, and the ratios gateway / reference."""
    ours, theirs = _probe(_GATEWAY, runs), _probe(_REFERENCE, runs)
    if ours["fixture_tokens"] != theirs["fixture_tokens"]:
        raise RuntimeError(f"counts differ: {ours['fixture_tokens']} ≠ {theirs['fixture_tokens']}")
    figures = {f"gateway.{k}": v for k, v in ours.items()}
    figures |= {f"reference.{k}": v for k, v in theirs.items()}
    for key in ("load_s", "rss_mb", "count_all_ms", "count_largest_ms"):
        figures[f"ratio.{key}"] = ours[key] / theirs[key]
    return figures
