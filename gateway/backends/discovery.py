"""Where local model servers are looked for, and which one answers at a place.

The default places are each server's documented default port on 127.0.0.1, plus Ollama's
`OLLAMA_HOST`; `GatewayConfig.discovery_targets` replaces them (tests point "LM Studio's port" at
a fake). A place is probed with the kind expected there first, then the others, so a llama-server
on LM Studio's port is still found as what it is; a place that identifies as nothing is skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from gateway.backends.presets import LOCAL_PORTS
from gateway.backends.probes import PROBES, Client, Found, Headers, ProbeCache
from gateway.loopback import is_loopback

__all__ = [
    "DEFAULT_PORTS",
    "Target",
    "default_targets",
    "identify",
    "is_own_address",
    "parse_ollama_host",
    "same_place",
    "server_root",
    "targets_from",
]

DEFAULT_PORTS = LOCAL_PORTS
# The order in which a place is asked what it is. Jan's answer (a plain OpenAI model list) tells
# nothing by itself, so it is only believed on Jan's own port.
_ORDER = ("ollama", "llamacpp", "lmstudio", "sglang", "vllm")
_UNSPECIFIED = ("", "0.0.0.0", "::")


@dataclass(frozen=True, slots=True)
class Target:
    kind: str  # the server expected at this place
    root: str  # scheme://host:port, no path


def default_targets(environ: Mapping[str, str]) -> list[Target]:
    targets = [Target(kind, f"http://127.0.0.1:{port}") for kind, port in DEFAULT_PORTS.items()]
    ollama = parse_ollama_host(environ.get("OLLAMA_HOST", ""))
    if ollama is not None and not any(same_place(ollama, t.root) for t in targets):
        targets.insert(2, Target("ollama", ollama))
    return targets


def targets_from(table: Mapping[str, list[str]]) -> list[Target]:
    return [Target(kind, server_root(url)) for kind, urls in table.items() for url in urls]


def parse_ollama_host(value: str) -> str | None:
    """OLLAMA_HOST as Ollama reads it (envconfig.Host): `host`, `host:port`, `:port`,
    `scheme://host:port[/path]`; the port defaults to 11434 (80/443 after a scheme). A bind-all
    address is reached on loopback. None when unset."""
    text = value.strip().strip("\"'").strip()
    if not text:
        return None
    scheme, sep, hostport = text.partition("://")
    default_port = "11434"
    if not sep:
        scheme, hostport = "http", text
    elif scheme == "http":
        default_port = "80"
    elif scheme == "https":
        default_port = "443"
    hostport = hostport.split("/", 1)[0]
    split = _split_host_port(hostport)
    if split is None:
        host, port = hostport.strip("[]") or "127.0.0.1", default_port
    else:
        host, port = split
    if not port.isdigit() or int(port) > 65535:
        port = default_port
    if host in _UNSPECIFIED:
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


def _split_host_port(hostport: str) -> tuple[str, str] | None:
    if hostport.startswith("["):
        end = hostport.find("]")
        if end != -1 and hostport[end + 1 : end + 2] == ":":
            return hostport[1:end], hostport[end + 2 :]
        return None
    if hostport.count(":") == 1:
        host, _, port = hostport.partition(":")
        return host, port
    return None


def server_root(url: str) -> str:
    """`http://127.0.0.1:1234/v1` → `http://127.0.0.1:1234` (the default port made explicit)."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}:{port}"


def _place(url: str) -> tuple[str, int]:
    parts = urlsplit(server_root(url))
    host = (parts.hostname or "").lower()
    if host in _UNSPECIFIED or is_loopback(host):
        host = "loopback"
    return host, parts.port or 0


def same_place(a: str, b: str) -> bool:
    """Whether two URLs reach the same server (127.0.0.1, ::1 and localhost are one place)."""
    return _place(a) == _place(b)


def is_own_address(root: str, host: str, port: int) -> bool:
    """Whether `root` is the gateway itself, listening on `host`:`port`. Listening on every
    address, any place on that port may be it."""
    place_host, place_port = _place(root)
    if place_port != port:
        return False
    own = host.strip("[]").lower()
    if own in _UNSPECIFIED:
        return True
    return (
        place_host == _place(f"http://[{own}]:{port}" if ":" in own else f"http://{own}:{port}")[0]
    )


async def identify(
    client: Client, root: str, *, prefer: str | None, headers: Headers, cache: ProbeCache
) -> Found | None:
    """What answers at `root`, asked the `prefer`red kind first. Raises Unreachable when
    nothing answers at all."""
    kinds = [prefer] if prefer else []
    kinds += [kind for kind in _ORDER if kind != prefer]
    for kind in kinds:
        found = await PROBES[kind](client, root, headers, cache)
        if found is not None:
            return found
    return None
