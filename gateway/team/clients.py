"""The client list: `clients.toml` beside config.toml, names, key hashes and limits.

A file, not the usage database: it is small, read at every change and never per request, an
operator can read it, back it up or mount it read-only into every replica's container, and
`lmgate clients add` on any machine that shares it takes effect without a restart (the gateway
looks at its modification time at most once a second). It holds no key, only SHA-256 hashes.
"""

from __future__ import annotations

import logging
import re
import time
import tomllib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import tomli_w

from gateway.atomicfile import write_atomic
from gateway.team.keys import key_hash, new_key, same_hash

__all__ = [
    "CLIENTS_NAME",
    "Client",
    "ClientBook",
    "ClientsError",
    "add_client",
    "clients_path",
    "read_clients",
    "remove_client",
]

log = logging.getLogger("lmgate.team")

CLIENTS_NAME = "clients.toml"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


class ClientsError(Exception):
    """The list cannot be read or the change cannot be made; the message says why."""


@dataclass(frozen=True, slots=True)
class Client:
    name: str
    key_sha256: str
    daily_tokens: int | None = None  # input + output tokens per UTC day
    rpm: int | None = None  # requests to /v1/messages per minute
    admin: bool = False  # may read /metrics
    created_at: str = ""


def clients_path(config_path: Path) -> Path:
    return config_path.with_name(CLIENTS_NAME)


def read_clients(path: Path) -> list[Client]:
    """The clients in `path`; none when it does not exist."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ClientsError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
        return [_client(item) for item in data.get("client", [])]
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, TypeError, KeyError, ValueError) as exc:
        raise ClientsError(f"{path} is not a valid client list: {exc}") from None


def _client(item: Any) -> Client:
    if not isinstance(item, dict):
        raise TypeError("each [[client]] must be a table")
    digest = str(item["key_sha256"])
    if len(digest) != 64:
        raise ValueError(f"client {item.get('name')!r}: key_sha256 is not a SHA-256")
    return Client(
        name=str(item["name"]),
        key_sha256=digest,
        daily_tokens=_positive(item.get("daily_tokens")),
        rpm=_positive(item.get("rpm")),
        admin=bool(item.get("admin", False)),
        created_at=str(item.get("created_at", "")),
    )


def _positive(value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"limits are whole numbers above 0, not {value!r}")
    return value


def _write(path: Path, clients: list[Client]) -> None:
    items = [{k: v for k, v in asdict(c).items() if v is not None} for c in clients]
    write_atomic(path, tomli_w.dumps({"client": items}))


def add_client(
    path: Path,
    name: str,
    *,
    daily_tokens: int | None = None,
    rpm: int | None = None,
    admin: bool = False,
) -> tuple[Client, str]:
    """Add `name` with a new key; returns the client and the key (shown once, never stored)."""
    if not _NAME.match(name):
        raise ClientsError(
            f"{name!r} is not a client name: letters, digits and . _ @ -, up to 64, "
            "starting with a letter or digit"
        )
    for limit in (daily_tokens, rpm):
        if limit is not None and limit < 1:
            raise ClientsError("--daily-tokens and --rpm are whole numbers above 0")
    clients = read_clients(path)
    if any(c.name == name for c in clients):
        raise ClientsError(f"a client named {name!r} exists; remove it first to issue a new key")
    key = new_key()
    client = Client(
        name=name,
        key_sha256=key_hash(key),
        daily_tokens=daily_tokens,
        rpm=rpm,
        admin=admin,
        created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    _write(path, [*clients, client])
    return client, key


def remove_client(path: Path, name: str) -> bool:
    """Remove `name`; False when there is no such client."""
    clients = read_clients(path)
    kept = [c for c in clients if c.name != name]
    if len(kept) == len(clients):
        return False
    _write(path, kept)
    return True


class ClientBook:
    """The list as the gateway reads it: reloaded when the file changes (looked at no more than
    once per `recheck` seconds), the last good list kept when a change cannot be read."""

    def __init__(
        self,
        path: Path,
        *,
        recheck: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.recheck = recheck
        self._clock = clock
        self._checked = float("-inf")
        self._stamp: tuple[int, int] | None = None
        self._by_hash: dict[str, Client] = {}

    def _current(self) -> dict[str, Client]:
        now = self._clock()
        if now - self._checked < self.recheck:
            return self._by_hash
        self._checked = now
        try:
            info = self.path.stat()
            stamp: tuple[int, int] | None = (info.st_mtime_ns, info.st_size)
        except FileNotFoundError:
            stamp = None
        except OSError:
            return self._by_hash
        if stamp != self._stamp:
            try:
                self._by_hash = {c.key_sha256: c for c in read_clients(self.path)}
                self._stamp = stamp
            except ClientsError as exc:
                log.warning("keeping the previous client list: %s", exc)
        return self._by_hash

    def __bool__(self) -> bool:
        return bool(self._current())

    def find(self, presented: bytes) -> Client | None:
        """The client whose key this is. The table is keyed by the key's hash, so what a lookup's
        timing could tell is about a hash, never the key; the match is confirmed in constant
        time all the same."""
        digest = key_hash(presented)
        client = self._current().get(digest)
        if client is None or not same_hash(client.key_sha256, digest):
            return None
        return client

    def budget_of(self, name: str) -> int | None:
        """The daily budget of the client named `name` (None: none, or no such client)."""
        for client in self._current().values():
            if client.name == name:
                return client.daily_tokens
        return None

    def any_budget(self) -> bool:
        return any(c.daily_tokens is not None for c in self._current().values())
