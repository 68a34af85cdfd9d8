"""How a configured backend becomes a connection: its base URL, auth header, headers and query."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.backends.presets import (
    KINDS,
    LOCAL_PORTS,
    PRESETS,
    Preset,
    is_local_url,
    normalise_base_url,
)
from gateway.config import BackendConfig

__all__ = ["Connection", "connection_for"]


@dataclass(frozen=True, slots=True)
class Connection:
    """How to reach one backend: the OpenAI-level base URL (…/v1) and what every request
    carries besides the body."""

    url: str
    auth_header: str = "authorization"
    auth_scheme: str | None = "Bearer"
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    remote: bool = False
    preset: Preset | None = None

    def auth_value(self, key: str) -> str:
        return f"{self.auth_scheme} {key}" if self.auth_scheme else key


def connection_for(backend: BackendConfig) -> Connection:
    """The connection a configured backend describes; ValueError says what is missing."""
    preset = PRESETS.get(backend.kind)
    if backend.kind not in KINDS:
        raise ValueError(
            f"backend {backend.id}: unknown kind '{backend.kind}'; one of: {', '.join(KINDS)}"
        )
    url = backend.url or (preset.base_url if preset else None)
    if not url and backend.kind in LOCAL_PORTS:
        url = f"http://127.0.0.1:{LOCAL_PORTS[backend.kind]}/v1"
    if not url:
        hint = preset.url_hint if preset else "the server's URL, e.g. http://127.0.0.1:1234/v1"
        raise ValueError(f"backend {backend.id}: set url to {hint}")
    base = normalise_base_url(url)
    if preset is None:
        # A local server (or an unknown one): the key, if any, as a bearer token.
        header = (backend.auth_header or "authorization").lower()
        scheme = "Bearer" if header == "authorization" else None
        return Connection(base, header, scheme, dict(backend.headers), {}, not is_local_url(base))
    header = (backend.auth_header or preset.auth_header).lower()
    scheme = preset.auth_scheme if header == preset.auth_header else None
    if header == "authorization" and scheme is None:
        scheme = "Bearer"
    params: dict[str, str] = {}
    if preset.api_version or backend.api_version:
        params["api-version"] = backend.api_version or preset.api_version or ""
    headers = {**preset.headers, **backend.headers}
    return Connection(base, header, scheme, headers, params, True, preset)
