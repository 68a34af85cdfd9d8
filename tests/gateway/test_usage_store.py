"""The request history in SQLite: kept across a reopen, bounded in rows and bodies, totals per
model over time and per session, exported as JSON Lines and CSV."""

from __future__ import annotations

import csv
import json
import stat
from pathlib import Path
from typing import Any

from gateway.events import RequestRecord
from gateway.usage_store import EXPORT_FIELDS, UsageStore

T0 = 1_800_000_000.0


def record(n: int, **fields: Any) -> RequestRecord:
    defaults: dict[str, Any] = {
        "request_id": f"req_{n:04d}",
        "method": "POST",
        "path": "/v1/messages",
        "started_at": T0 + n,
        "session": "sess-a",
        "client_model": "claude-sonnet-4-6",
        "backend": "lmstudio",
        "backend_model": "coder",
        "stream": True,
        "status": 200,
        "latency_ms": 2100.0,
        "ttft_ms": 100.0,
        "input_tokens": 1000,
        "output_tokens": 400,
        "cached_tokens": 800,
        "request_class": "main",
        "stop_reason": "end_turn",
    }
    return RequestRecord(**{**defaults, **fields})


def test_the_history_survives_a_reopen_with_its_figures_and_bodies(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    store = UsageStore(path)
    body = {"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "hé"}]}
    store.add([record(1, request_body=body, response_body={"ok": True}), record(2, status=500)])
    store.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = UsageStore(path)
    first, second = again.recent(10)
    assert first.request_id == "req_0001" and second.status == 500
    assert first.request_body == body and first.response_body == {"ok": True}
    assert (first.input_tokens, first.output_tokens, first.cached_tokens) == (1000, 400, 800)
    assert first.stream is True and first.ttft_ms == 100.0 and second.request_body is None
    assert [r.request_id for r in again.recent(1)] == ["req_0002"]


def test_rows_and_bodies_stay_within_their_bounds(tmp_path: Path) -> None:
    store = UsageStore(tmp_path / "h.sqlite3", max_rows=10, max_body_rows=3)
    for n in range(25):
        store.add([record(n, request_body={"n": n})])
    assert store.count() == 10
    kept = store.recent(100)
    assert [r.request_id for r in kept] == [f"req_{n:04d}" for n in range(15, 25)]
    assert [r.request_body is not None for r in kept] == [False] * 7 + [True] * 3
    small = UsageStore(tmp_path / "b.sqlite3", max_body_bytes=100)
    small.add([record(n, request_body={"text": "x" * 40}) for n in range(5)])
    assert sum(r.request_body is not None for r in small.recent(10)) == 1


def test_usage_per_model_over_time_and_per_session(tmp_path: Path) -> None:
    store = UsageStore(tmp_path / "h.sqlite3")
    store.add(
        [
            record(0),
            record(30, output_tokens=200, latency_ms=1100.0),
            record(70, backend="ollama", backend_model="qwen3:8b", session="sess-b"),
            record(80, status=502, output_tokens=None, input_tokens=None, session="sess-b"),
            record(90, latency_ms=3.0, ttft_ms=1.0, output_tokens=133),  # too quick for a rate
        ]
    )
    buckets = store.per_model(T0, 60)
    lines = [(u.model, u.bucket - T0, u.requests, u.errors, u.output_tokens) for u in buckets]
    assert lines == [
        ("lmstudio/coder", 0, 2, 0, 600),
        ("lmstudio/coder", 60, 2, 1, 133),
        ("ollama/qwen3:8b", 60, 1, 0, 400),
    ]
    # 600 tokens over 2.0 s + 1.0 s of generating.
    assert buckets[0].tokens_per_s == 200.0
    assert buckets[1].tokens_per_s is None
    totals = store.totals(T0)
    assert [(u.model, u.requests, u.errors, u.input_tokens) for u in totals] == [
        ("lmstudio/coder", 4, 1, 3000),
        ("ollama/qwen3:8b", 1, 0, 1000),
    ]
    sessions = store.sessions(T0)
    assert [(s.session, s.requests, s.errors, s.output_tokens) for s in sessions] == [
        ("sess-a", 3, 0, 733),
        ("sess-b", 2, 1, 400),
    ]
    assert store.per_model(T0 + 1000, 60) == []


def test_the_history_exports_as_json_lines_and_csv(tmp_path: Path) -> None:
    store = UsageStore(tmp_path / "h.sqlite3")
    store.add([record(1, request_body={"secret": "not exported"}), record(2, error="a, b")])
    assert store.export_jsonl(tmp_path / "out.jsonl") == 2
    lines = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    assert list(first) == list(EXPORT_FIELDS)
    assert first["request_id"] == "req_0001" and first["status"] == 200
    assert first["stream"] is True and "secret" not in lines[0]
    assert store.export_csv(tmp_path / "out.csv") == 2
    with (tmp_path / "out.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[1]["error"] == "a, b" and rows[1]["request_id"] == "req_0002"
    assert list(rows[0]) == list(EXPORT_FIELDS)
