"""`lmgate clients` and `lmgate usage`: what an operator types, printed as tables."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from gateway.team.clients import ClientsError, add_client, read_clients, remove_client
from gateway.usage_store import HISTORY_NAME, UsageLine

__all__ = ["clients_command", "parse_since", "usage_command"]

_SPAN = re.compile(r"^(\d+(?:\.\d+)?)([mhd])$")
_UNITS = {"m": 60, "h": 3600, "d": 86_400}


def parse_since(text: str, now: float | None = None) -> float:
    """`30m`, `24h`, `7d`, `today` (since 00:00 UTC), or a date or time in ISO 8601 (UTC when
    it names no zone); epoch seconds."""
    now = time.time() if now is None else now
    text = text.strip().lower()
    if text == "today":
        return now // 86_400 * 86_400
    span = _SPAN.match(text)
    if span:
        return now - float(span.group(1)) * _UNITS[span.group(2)]
    try:
        moment = datetime.fromisoformat(text.upper() if "t" in text else text)
    except ValueError:
        raise ValueError(
            f"--since {text!r}: give 30m, 24h, 7d, today, or a date such as 2026-05-01"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def clients_command(
    path: Path,
    action: str,
    name: str | None,
    *,
    daily_tokens: int | None = None,
    rpm: int | None = None,
    admin: bool = False,
) -> int:
    try:
        if action == "list":
            return _list(path)
        if name is None:
            print(f"lmgate: clients {action} needs a NAME", file=sys.stderr)
            return 2
        if action == "add":
            client, key = add_client(path, name, daily_tokens=daily_tokens, rpm=rpm, admin=admin)
            print(key)
            print(
                f"client {client.name} added ({_limits(client.daily_tokens, client.rpm)}"
                f"{', admin' if client.admin else ''}). The key above is shown once: give it "
                "to the client now (ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN).",
                file=sys.stderr,
            )
            return 0
        if not remove_client(path, name):
            print(f"lmgate: no client named {name!r} in {path}", file=sys.stderr)
            return 1
        print(f"client {name} removed: its key is refused from now on", file=sys.stderr)
        return 0
    except ClientsError as exc:
        print(f"lmgate: {exc}", file=sys.stderr)
        return 1


def _limits(daily_tokens: int | None, rpm: int | None) -> str:
    parts = [
        f"{daily_tokens} tokens a day" if daily_tokens else "no daily budget",
        f"{rpm} requests a minute" if rpm else "no rate limit",
    ]
    return ", ".join(parts)


def _list(path: Path) -> int:
    clients = read_clients(path)
    if not clients:
        print(f"no clients (add one with `lmgate clients add NAME`; list: {path})")
        return 0
    rows = [("NAME", "DAILY TOKENS", "RPM", "ADMIN", "CREATED")]
    rows += [
        (
            c.name,
            str(c.daily_tokens or "-"),
            str(c.rpm or "-"),
            "yes" if c.admin else "",
            c.created_at,
        )
        for c in clients
    ]
    _table(rows)
    return 0


def usage_command(
    config_path: Path, *, by: str, since: float, redis_url: str | None, as_json: bool
) -> int:
    if redis_url:
        lines = asyncio.run(_redis_usage(redis_url, since, by))
        where = "the shared store (Redis)"
    else:
        history = config_path.with_name(HISTORY_NAME)
        if not history.exists():
            lines, where = [], str(history)
        else:
            from gateway.usage_store import UsageStore

            store = UsageStore(history)
            try:
                lines = store.usage_by(since, by)
            finally:
                store.close()
            where = str(history)
    if as_json:
        print(json.dumps([_item(line, by) for line in lines], indent=2))
        return 0
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(since))
    print(f"usage of /v1/messages since {stamp}, from {where}")
    heads = {"client": ("CLIENT",), "model": ("MODEL",), "both": ("CLIENT", "MODEL")}[by]
    rows = [(*heads, "REQUESTS", "ERRORS", "INPUT TOKENS", "OUTPUT TOKENS")]
    for line in lines:
        names = {
            "client": (line.client or "(no key)",),
            "model": (line.model or "?",),
            "both": (line.client or "(no key)", line.model or "?"),
        }[by]
        rows.append((*names, *_figures(line)))
    total = UsageLine(
        None,
        None,
        sum(u.requests for u in lines),
        sum(u.errors for u in lines),
        sum(u.input_tokens for u in lines),
        sum(u.output_tokens for u in lines),
    )
    rows.append(("total", *[""] * (len(heads) - 1), *_figures(total)))
    _table(rows, numeric_from=len(heads))
    return 0


async def _redis_usage(url: str, since: float, by: str) -> list[UsageLine]:
    from gateway.team.redis_shared import RedisLedger, connect

    redis = connect(url)
    try:
        return await RedisLedger(redis).usage_by(since, by)
    finally:
        await redis.aclose()


def _figures(line: UsageLine) -> tuple[str, str, str, str]:
    return (
        str(line.requests),
        str(line.errors),
        str(line.input_tokens),
        str(line.output_tokens),
    )


def _item(line: UsageLine, by: str) -> dict[str, object]:
    item: dict[str, object] = {}
    if by in ("client", "both"):
        item["client"] = line.client
    if by in ("model", "both"):
        item["model"] = line.model
    item.update(
        requests=line.requests,
        errors=line.errors,
        input_tokens=line.input_tokens,
        output_tokens=line.output_tokens,
    )
    return item


def _table(rows: Sequence[tuple[str, ...]], numeric_from: int | None = None) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [
            cell.rjust(width)
            if numeric_from is not None and i >= numeric_from
            else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())
