"""What `lmgate backends`, `doctor` and `keys` do, apart from argument parsing (gateway.cli).

They read the same config as `serve`, run one catalogue refresh in `asyncio.run`, and never
import Qt. Keys go through gateway.keystore only and are never printed.
"""

from __future__ import annotations

import asyncio
import getpass
import logging
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TextIO

import httpx

from gateway.backends.catalogue import CatalogueSnapshot
from gateway.backends.doctor import Diagnosis, diagnose
from gateway.config import GatewayConfig

__all__ = [
    "catalogue_once",
    "doctor",
    "format_diagnosis",
    "keyring_problem",
    "keys_command",
    "port_state",
    "read_secret",
]


def catalogue_once(
    config: GatewayConfig,
    *,
    api_keys: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> CatalogueSnapshot:
    """One refresh outside a server: probe everything once, close every client, return what was
    found. Quick when nothing answers (short connect timeouts)."""
    from gateway.backends.registry import Registry

    async def once() -> CatalogueSnapshot:
        registry = Registry(config, api_keys=api_keys, transport="httpx", environ=environ)
        try:
            return await registry.refresh()
        finally:
            await registry.stop()

    # The commands print the catalogue themselves; the registry's "backend is down" log lines
    # (meant for the server's log file) would only repeat it on stderr.
    quiet = logging.getLogger("lmgate.backends")
    was, quiet.disabled = quiet.disabled, True
    try:
        return asyncio.run(once())
    finally:
        quiet.disabled = was


def doctor(config: GatewayConfig, api_keys: Mapping[str, str]) -> Diagnosis:
    snapshot = catalogue_once(config, api_keys=api_keys)
    return diagnose(
        config,
        snapshot,
        keyring_problem=keyring_problem(),
        keyed=frozenset(api_keys),
        port_state=port_state(config),
    )


def format_diagnosis(diagnosis: Diagnosis) -> str:
    lines = []
    for finding in diagnosis.findings:
        lines.append(f"{finding.level}: {finding.message}")
        if finding.fix:
            lines.append(f"    fix: {finding.fix}")
    errors, warnings = diagnosis.errors, diagnosis.warnings
    if errors or warnings:
        lines.append(f"{_count(errors, 'error')}, {_count(warnings, 'warning')}")
    else:
        lines.append("All good: Claude Code can use this setup.")
    return "\n".join(lines)


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def keyring_problem() -> str | None:
    """Why the OS keyring cannot hold keys, or None when it can."""
    from gateway.keystore import KeyringUnavailable, default_keystore

    try:
        default_keystore().names()
    except KeyringUnavailable as exc:
        return exc.message
    return None


def port_state(config: GatewayConfig) -> str:
    """ "free", "lmgate" (an LM Gate already answers there) or "taken"."""
    host = config.host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, config.port))
        except OSError:
            pass
        else:
            return "free"
    try:
        answer = httpx.get(f"{config.base_url}/", timeout=1.0, trust_env=False).json()
    except (httpx.HTTPError, ValueError):
        return "taken"
    return "lmgate" if isinstance(answer, dict) and answer.get("name") == "LM Gate" else "taken"


def read_secret(prompt: str) -> str:
    """A prompt without echo on a terminal; one line of stdin when piped."""
    if sys.stdin.isatty():
        return getpass.getpass(prompt).strip()
    return sys.stdin.readline().strip()


def keys_command(
    action: str,
    backend: str | None,
    *,
    configured: Sequence[str],
    read: Callable[[str], str] = read_secret,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """`lmgate keys set|delete|list [BACKEND]`. Exit status 2 for a usage error, 1 when the
    keyring cannot be used (the message names the environment-variable alternative)."""
    from gateway.keystore import INDEX_NAME, TOKEN_NAME, KeyringUnavailable, default_keystore

    out, err = out or sys.stdout, err or sys.stderr
    if action != "list" and not backend:
        print(
            f"lmgate: keys {action} needs a backend id, e.g. `lmgate keys {action} openai`",
            file=err,
        )
        return 2
    if backend in (TOKEN_NAME, INDEX_NAME):
        print(f"lmgate: '{backend}' is not a backend id", file=err)
        return 2
    store = default_keystore()
    try:
        if action == "list":
            names = [n for n in store.names() if n != TOKEN_NAME]
            if backend:
                stored = backend in names and bool(store.get(backend))
                print(f"{backend}: {'a key is stored' if stored else 'no key is stored'}", file=out)
                return 0 if stored else 1
            for name in names:
                print(name, file=out)
            if not names:
                print("No API keys are stored.", file=err)
            return 0
        assert backend is not None
        if action == "delete":
            store.delete(backend)
            print(f"The API key of {backend} is deleted.", file=out)
            return 0
        value = read(f"API key for {backend}: ")
        if not value:
            print("lmgate: no key was given; nothing was stored", file=err)
            return 2
        store.set(backend, value)
    except KeyringUnavailable as exc:
        print(f"lmgate: {exc.message}", file=err)
        return 1
    print(f"The API key of {backend} is stored in the OS keyring.", file=out)
    if backend not in configured:
        print(f"note: no backend '{backend}' is in the config yet; the key waits for it", file=err)
    return 0
