"""The request history in SQLite (the standard library's): what the app's Requests and Usage
pages show survives a restart, bounded in rows and in body bytes, with bodies only for requests
captured while capture was on. Totals per model over time and per Claude Code session, and the
history as JSON Lines or CSV.

Thread-safe: one connection behind a lock; callers write from a worker thread in batches.
The app writes it (app/history.py) and so does `lmgate serve` (gateway/team/ledger.py, without
bodies); `lmgate usage` reads it. Each row names the client key it came with (team mode).
"""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.atomicfile import make_private_dirs
from gateway.events import RequestRecord

__all__ = [
    "EXPORT_FIELDS",
    "HISTORY_NAME",
    "ModelUsage",
    "SessionUsage",
    "UsageLine",
    "UsageStore",
]

# The file beside config.toml.
HISTORY_NAME = "history.sqlite3"

# The columns kept per request, in export order; bodies come after them where kept.
EXPORT_FIELDS = (
    "request_id",
    "started_at",
    "path",
    "session",
    "client",
    "request_class",
    "client_model",
    "backend",
    "backend_model",
    "stream",
    "status",
    "latency_ms",
    "ttft_ms",
    "queue_ms",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "stop_reason",
    "error",
)
_TEXT = frozenset(
    {"request_id", "path", "session", "client", "request_class", "client_model", "backend"}
    | {"backend_model", "stop_reason", "error"}
)
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS requests (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
    + ", ".join(f"{n} {'TEXT' if n in _TEXT else 'REAL'}" for n in EXPORT_FIELDS)
    + ", request_body BLOB, response_body BLOB);"
    " CREATE INDEX IF NOT EXISTS requests_started ON requests (started_at);"
)
_COLUMNS = ", ".join(EXPORT_FIELDS)
# Columns added since the first schema: a file an earlier version wrote gets them on open.
_ADDED = {"client": "TEXT"}
# What `usage_by` groups on: the model as the per-model figures name it.
_MODEL = "COALESCE(backend || '/' || backend_model, client_model, '?')"
_GROUPS = {"client": ("client",), "model": (_MODEL,), "both": ("client", _MODEL)}
# One body above this is not kept (the record's figures still are).
_MAX_ONE_BODY = 2 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ModelUsage:
    model: str  # "backend/model", or the model asked when no backend answered
    bucket: float  # the bucket's start, epoch seconds (0 for a total)
    requests: int
    errors: int
    input_tokens: int
    output_tokens: int
    tokens_per_s: float | None  # over the requests that generated for a while


@dataclass(frozen=True, slots=True)
class UsageLine:
    """Requests to /v1/messages of one client key, one model or one of each (team mode);
    `client` None: sent without a client key."""

    client: str | None
    model: str | None
    requests: int
    errors: int
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True, slots=True)
class SessionUsage:
    session: str
    requests: int
    errors: int
    input_tokens: int
    output_tokens: int
    first: float
    last: float


class UsageStore:
    def __init__(
        self,
        path: Path | str,
        *,
        max_rows: int = 100_000,
        max_body_rows: int = 200,
        max_body_bytes: int = 50 * 1024 * 1024,
    ) -> None:
        self.path = Path(path)
        self.max_rows = max_rows
        self.max_body_rows = max_body_rows
        self.max_body_bytes = max_body_bytes
        if str(path) != ":memory:":
            make_private_dirs(self.path.parent)
        self._lock = threading.Lock()
        # Imported here: a gateway with no history to write never loads SQLite (~1 MB resident).
        import sqlite3

        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA cache_size=-1024")  # 1 MB of pages: the app stays light
        self._db.executescript(_SCHEMA)
        have = {row[1] for row in self._db.execute("PRAGMA table_info(requests)")}
        for column, kind in _ADDED.items():
            if column not in have:
                self._db.execute(f"ALTER TABLE requests ADD COLUMN {column} {kind}")
        if str(path) != ":memory:":
            self.path.chmod(0o600)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- writing ------------------------------------------------------------------------------

    def add(self, records: Iterable[RequestRecord]) -> int:
        """Keep `records` (a batch), then drop what is past the bounds. Returns how many."""
        batch = list(records)
        # Only the newest `max_body_rows` could keep their bodies: the rest are not encoded.
        first_body = len(batch) - self.max_body_rows
        rows = [_row(r, bodies=i >= first_body) for i, r in enumerate(batch)]
        if not rows:
            return 0
        marks = ", ".join("?" * (len(EXPORT_FIELDS) + 2))
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                f"INSERT INTO requests ({_COLUMNS}, request_body, response_body) VALUES ({marks})",
                rows,
            )
            self._prune()
            self._db.execute("COMMIT")
        return len(rows)

    def _prune(self) -> None:
        (newest,) = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM requests").fetchone()
        self._db.execute("DELETE FROM requests WHERE seq <= ?", (newest - self.max_rows,))
        self._db.execute(
            "UPDATE requests SET request_body = NULL, response_body = NULL WHERE seq <= ? "
            "AND (request_body IS NOT NULL OR response_body IS NOT NULL)",
            (newest - self.max_body_rows,),
        )
        # The byte bound: drop the oldest bodies until the rest fit.
        total = 0
        cut = None
        for seq, size in self._db.execute(
            "SELECT seq, COALESCE(LENGTH(request_body), 0) + COALESCE(LENGTH(response_body), 0) "
            "FROM requests WHERE request_body IS NOT NULL OR response_body IS NOT NULL "
            "ORDER BY seq DESC"
        ):
            total += size
            if total > self.max_body_bytes:
                cut = seq
                break
        if cut is not None:
            self._db.execute(
                "UPDATE requests SET request_body = NULL, response_body = NULL WHERE seq <= ?",
                (cut,),
            )

    def clear(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM requests")

    # --- reading ------------------------------------------------------------------------------

    def count(self) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT COUNT(*) FROM requests").fetchone()
        return int(n)

    def recent(self, limit: int) -> list[RequestRecord]:
        """The newest `limit` requests, oldest first, as records (bodies where kept)."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS}, request_body, response_body FROM requests "
                "ORDER BY started_at DESC, seq DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [_record(row) for row in reversed(rows)]

    def per_model(self, since: float, bucket: float) -> list[ModelUsage]:
        """Per model and per `bucket` seconds since `since`, oldest bucket first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT COALESCE(backend || '/' || backend_model, client_model, '?'), "
                "CAST((started_at - ?) / ? AS INTEGER), COUNT(*), "
                "SUM(status >= 400 OR status = 0), SUM(COALESCE(input_tokens, 0)), "
                "SUM(COALESCE(output_tokens, 0)), "
                "SUM(CASE WHEN latency_ms - COALESCE(ttft_ms, 0) >= 100 AND output_tokens >= 4 "
                "THEN output_tokens END), "
                "SUM(CASE WHEN latency_ms - COALESCE(ttft_ms, 0) >= 100 AND output_tokens >= 4 "
                "THEN latency_ms - COALESCE(ttft_ms, 0) END) "
                "FROM requests WHERE started_at >= ? GROUP BY 1, 2 ORDER BY 2, 1",
                (since, bucket, since),
            ).fetchall()
        return [
            ModelUsage(
                model=str(model),
                bucket=since + int(index) * bucket,
                requests=int(n),
                errors=int(errors or 0),
                input_tokens=int(tokens_in or 0),
                output_tokens=int(tokens_out or 0),
                tokens_per_s=(rate_tokens / (rate_ms / 1000)) if rate_tokens and rate_ms else None,
            )
            for model, index, n, errors, tokens_in, tokens_out, rate_tokens, rate_ms in rows
        ]

    def totals(self, since: float) -> list[ModelUsage]:
        """One line per model since `since`, the busiest first."""
        by_model: dict[str, list[ModelUsage]] = {}
        for usage in self.per_model(since, max(time.time() - since, 1.0) + 1):
            by_model.setdefault(usage.model, []).append(usage)
        lines = [
            ModelUsage(
                model,
                0.0,
                sum(u.requests for u in parts),
                sum(u.errors for u in parts),
                sum(u.input_tokens for u in parts),
                sum(u.output_tokens for u in parts),
                parts[0].tokens_per_s if len(parts) == 1 else None,
            )
            for model, parts in by_model.items()
        ]
        return sorted(lines, key=lambda u: (-u.requests, u.model))

    def usage_by(self, since: float, by: str = "both") -> list[UsageLine]:
        """Requests to /v1/messages since `since`, per client key, per model or per both
        (`by`), the most tokens first."""
        group = _GROUPS[by]
        keys = ", ".join(group)
        with self._lock:
            rows = self._db.execute(
                f"SELECT {keys}, COUNT(*), SUM(status >= 400 OR status = 0), "
                "SUM(COALESCE(input_tokens, 0)), SUM(COALESCE(output_tokens, 0)) "
                "FROM requests WHERE started_at >= ? AND path = '/v1/messages' "
                f"GROUP BY {keys}",
                (since,),
            ).fetchall()
        lines = []
        for row in rows:
            named = dict(zip(("client", "model") if by == "both" else (by,), row, strict=False))
            n, errors, tokens_in, tokens_out = row[len(group) :]
            lines.append(
                UsageLine(
                    named.get("client"),
                    named.get("model"),
                    int(n),
                    int(errors or 0),
                    int(tokens_in or 0),
                    int(tokens_out or 0),
                )
            )
        return sorted(
            lines,
            key=lambda u: (-(u.input_tokens + u.output_tokens), u.client or "", u.model or ""),
        )

    def sessions(self, since: float) -> list[SessionUsage]:
        """Per Claude Code session (its session id header), the latest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT session, COUNT(*), SUM(status >= 400 OR status = 0), "
                "SUM(COALESCE(input_tokens, 0)), SUM(COALESCE(output_tokens, 0)), "
                "MIN(started_at), MAX(started_at) FROM requests "
                "WHERE started_at >= ? AND session IS NOT NULL AND session != '' "
                "GROUP BY session ORDER BY MAX(started_at) DESC",
                (since,),
            ).fetchall()
        return [
            SessionUsage(str(s), int(n), int(e or 0), int(i or 0), int(o or 0), first, last)
            for s, n, e, i, o, first, last in rows
        ]

    # --- export -------------------------------------------------------------------------------

    def _export_rows(self) -> Iterator[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM requests ORDER BY seq").fetchall()
        for row in rows:
            item = dict(zip(EXPORT_FIELDS, row, strict=True))
            item["stream"] = bool(item["stream"])
            for name in ("status", "input_tokens", "output_tokens", "cached_tokens"):
                if item[name] is not None:
                    item[name] = int(item[name])
            yield item

    def export_jsonl(self, path: Path) -> int:
        """One JSON object per request, oldest first (no bodies). Returns how many."""
        lines = [json.dumps(item, ensure_ascii=False) for item in self._export_rows()]
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        return len(lines)

    def export_csv(self, path: Path) -> int:
        """A header line, then one line per request, oldest first (no bodies)."""
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(EXPORT_FIELDS), lineterminator="\n")
        writer.writeheader()
        count = 0
        for item in self._export_rows():
            writer.writerow(item)
            count += 1
        path.write_text(out.getvalue(), encoding="utf-8")
        return count


def _row(record: RequestRecord, *, bodies: bool = True) -> Sequence[Any]:
    values: list[Any] = [getattr(record, name) for name in EXPORT_FIELDS]
    values[EXPORT_FIELDS.index("stream")] = 1 if record.stream else 0
    if not bodies:
        return [*values, None, None]
    return [*values, _body(record.request_body), _body(record.response_body)]


def _body(value: Any) -> bytes | None:
    if value is None:
        return None
    try:
        data = json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError):
        return None
    return data if len(data) <= _MAX_ONE_BODY else None


def _record(row: Sequence[Any]) -> RequestRecord:
    fields = dict(zip(EXPORT_FIELDS, row[: len(EXPORT_FIELDS)], strict=True))
    request_body, response_body = row[len(EXPORT_FIELDS) :]
    return RequestRecord(
        request_id=str(fields["request_id"]),
        method="POST",
        path=str(fields["path"] or ""),
        started_at=float(fields["started_at"] or 0.0),
        session=fields["session"],
        client=fields["client"],
        client_model=fields["client_model"],
        backend=fields["backend"],
        backend_model=fields["backend_model"],
        stream=bool(fields["stream"]),
        status=int(fields["status"] or 0),
        latency_ms=float(fields["latency_ms"] or 0.0),
        ttft_ms=fields["ttft_ms"],
        queue_ms=fields["queue_ms"],
        request_class=fields["request_class"],
        input_tokens=_int(fields["input_tokens"]),
        output_tokens=_int(fields["output_tokens"]),
        cached_tokens=_int(fields["cached_tokens"]),
        stop_reason=fields["stop_reason"],
        error=fields["error"],
        request_body=json.loads(request_body) if request_body else None,
        response_body=json.loads(response_body) if response_body else None,
    )


def _int(value: Any) -> int | None:
    return None if value is None else int(value)
