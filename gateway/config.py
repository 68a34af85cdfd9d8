"""The gateway's settings: one typed model, one TOML file in the platform's config dir.

Precedence: command-line flags > config file > defaults. Secrets never live here: the gateway
token and API keys are in the OS keyring (`keystore.py`) or the environment.
"""

from __future__ import annotations

import logging
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

import tomli_w
from platformdirs import user_config_path, user_log_path
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gateway.backends.presets import KINDS

__all__ = [
    "BackendConfig",
    "ConfigLoad",
    "GatewayConfig",
    "REVIEW_MODES",
    "ReviewConfig",
    "Timeouts",
    "default_config_path",
    "default_log_dir",
    "load_config",
    "save_config",
]

log = logging.getLogger("lmgate.config")

Protocol = Literal["auto", "openai", "anthropic", "ollama"]
ReviewMode = Literal["classifier", "rules", "off"]
REVIEW_MODES: tuple[ReviewMode, ...] = ("classifier", "rules", "off")
APP_NAME = "lmgate"


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", validate_assignment=True)


class Timeouts(_Model):
    connect: float = Field(5.0, gt=0)
    first_byte: float = Field(600.0, gt=0)
    idle: float = Field(300.0, gt=0)


class ReviewConfig(_Model):
    """Auto mode's review of tool calls (Claude Code's `safeguards`, gateway/api/reviewer.py).

    `classifier`: the rules first, then a model for what they leave undecided; `rules`: the
    rules alone (a reply they cannot fully judge is answered `unsupported`, so Claude Code asks
    the user); `off`: every reply is answered `unsupported`."""

    mode: ReviewMode = "classifier"
    # The classifier: a role ("small", "big", "opus") or a model as `big` takes one.
    model: str = "small"
    timeout: float = Field(30.0, gt=0)


class BackendConfig(_Model):
    """One upstream server. `url` is an OpenAI-compatible base, with or without `/v1`; left out,
    it is the preset's (`kind`) base URL."""

    id: str = "default"
    url: str | None = None
    # "auto" (identify the server) or a server kind / remote preset id (gateway.backends.presets).
    kind: str = "auto"
    protocol: Protocol = "auto"
    # Name of an environment variable holding this backend's API key (headless use);
    # otherwise the key, if any, is read from the keyring under the backend id.
    api_key_env: str | None = None
    # The header that carries the key (a custom provider); None → the preset's.
    auth_header: str | None = None
    # Extra headers sent with every request (a custom provider's own requirements).
    headers: dict[str, str] = Field(default_factory=dict)
    # The provider's output ceiling: max_tokens above it is lowered to it.
    max_output_tokens: int | None = Field(None, gt=0)
    can_stream: bool = True
    retries: int | None = Field(None, ge=0)  # None → 2 for a remote provider, 0 for a local one
    concurrency: int | None = Field(None, ge=1)  # requests in flight at once; None → no limit
    api_version: str | None = None  # Azure OpenAI's `api-version` query
    enabled: bool = True

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in KINDS:
            raise ValueError(f"unknown kind '{value}'; one of: {', '.join(KINDS)}")
        return value


class GatewayConfig(_Model):
    host: str = "127.0.0.1"
    port: int = Field(8082, ge=0, le=65535)
    # Extra names accepted in the Host header besides loopback and `host` itself.
    allowed_hosts: list[str] = Field(default_factory=list)
    backends: list[BackendConfig] = Field(default_factory=list)
    # Probe the usual local places (LM Studio, Ollama, llama.cpp, vLLM, SGLang, Jan) for servers.
    discover: bool = True
    # Where to look, server kind → root URLs; None → the default places (and OLLAMA_HOST).
    discovery_targets: dict[str, list[str]] | None = None
    # Model choices: a backend model name, or "backend_id:model". None → the backend's first model.
    big: str | None = None
    small: str | None = None
    opus: str | None = None
    # Client model name → route target ("big", "small", "opus" or a model as above).
    aliases: dict[str, str] = Field(default_factory=dict)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    max_body_bytes: int = Field(32 * 1024 * 1024, gt=0)
    # A stream is committed (200 + message_start) once the backend sends no content for this long.
    commit_after: float = Field(1.0, ge=0)
    ping_interval: float = Field(5.0, gt=0)
    # Requests that may wait for a busy backend before the answer is 529 overloaded.
    queue_depth: int = Field(8, ge=0)
    capture_bodies: bool = True
    capture_count: int = Field(50, ge=0)
    capture_max_bytes: int = Field(20 * 1024 * 1024, ge=0)
    log_level: str = "info"
    # Catalogue refresh: every `health_interval` s while a window shows it, else `idle_interval`.
    health_interval: float = Field(10.0, gt=0)
    idle_interval: float = Field(60.0, gt=0)
    # The desktop app starts in the tray, without its window (the headless mode ignores it).
    start_hidden: bool = False
    review: ReviewConfig = Field(default_factory=ReviewConfig)

    @property
    def base_url(self) -> str:
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}"


class ConfigLoad(BaseModel):
    """What `load_config` found: the config, and a message when the file had to be set aside."""

    config: GatewayConfig
    path: Path
    problem: str | None = None


def default_config_path() -> Path:
    # platformdirs honours XDG_CONFIG_HOME on Linux.
    return user_config_path(APP_NAME, appauthor=False) / "config.toml"


def default_log_dir() -> Path:
    return user_log_path(APP_NAME, appauthor=False)


def load_config(path: Path | None = None) -> ConfigLoad:
    """Read the config file. A missing file gives defaults; a corrupt one is renamed aside
    (`config.toml.corrupt-N`) and defaults are used, with `problem` saying so."""
    path = path or default_config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return ConfigLoad(config=GatewayConfig(), path=path)
    try:
        data: dict[str, Any] = tomllib.loads(raw.decode("utf-8"))
        return ConfigLoad(config=GatewayConfig.model_validate(data), path=path)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, ValidationError) as exc:
        aside = _set_aside(path)
        problem = f"the config file {path} could not be read ({_first_line(exc)}); "
        problem += f"it was moved to {aside.name} and defaults are in use"
        log.warning("%s", problem)
        return ConfigLoad(config=GatewayConfig(), path=path, problem=problem)


def save_config(config: GatewayConfig, path: Path | None = None) -> Path:
    """Write atomically (temp file + rename), user-only, keeping the previous file as `.bak`."""
    path = path or default_config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = config.model_dump(mode="json", exclude_none=True)
    text = tomli_w.dumps(data)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    if path.exists():
        backup = path.with_name(path.name + ".bak")
        os.replace(path, backup)
        os.chmod(backup, 0o600)
    os.replace(tmp, path)
    return path


def _set_aside(path: Path) -> Path:
    n = 1
    while (aside := path.with_name(f"{path.name}.corrupt-{n}")).exists():
        n += 1
    os.replace(path, aside)
    return aside


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
