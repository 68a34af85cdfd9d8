"""The gateway's settings: one typed model, one TOML file in the platform's config dir.

Precedence: command-line flags > config file > defaults. Secrets never live here: the gateway
token and API keys are in the OS keyring (`keystore.py`) or the environment.
"""

from __future__ import annotations

import logging
import os
import time
import tomllib
from pathlib import Path
from typing import Any, Literal

import tomli_w
from platformdirs import user_config_path, user_log_path
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gateway.atomicfile import backup_path, write_atomic
from gateway.backends.presets import KINDS

__all__ = [
    "Backup",
    "BackendConfig",
    "ConfigLoad",
    "GatewayConfig",
    "EFFORTS",
    "REVIEW_MODES",
    "ROUTE_NAMES",
    "BreakerConfig",
    "LongContextRoute",
    "ReviewConfig",
    "RouteConfig",
    "RoutesConfig",
    "ThinkingRoute",
    "TeamConfig",
    "Timeouts",
    "default_config_path",
    "default_log_dir",
    "find_backup",
    "load_config",
    "recovery_message",
    "save_config",
]

log = logging.getLogger("lmgate.config")

Protocol = Literal["auto", "openai", "anthropic", "ollama"]
ReviewMode = Literal["classifier", "rules", "off"]
REVIEW_MODES: tuple[ReviewMode, ...] = ("classifier", "rules", "off")
APP_NAME = "lmgate"
_LEGACY_TMP = ".tmp"


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", validate_assignment=True)


class Timeouts(_Model):
    connect: float = Field(5.0, gt=0)
    first_byte: float = Field(600.0, gt=0)
    idle: float = Field(300.0, gt=0)
    # An answer read whole (not streamed) must be complete this long after the backend took the
    # request: a backend that trickles a byte now and then beats the idle timeout, not this.
    deadline: float = Field(600.0, gt=0)


class ReviewConfig(_Model):
    """Auto mode's review of tool calls (Claude Code's `safeguards`, gateway/api/reviewer.py).

    `classifier`: the rules first, then a model for what they leave undecided; `rules`: the
    rules alone (a reply they cannot fully judge is answered `unsupported`, so Claude Code asks
    the user); `off`: every reply is answered `unsupported`."""

    mode: ReviewMode = "classifier"
    # The classifier: a role ("small", "big", "opus") or a model as `big` takes one.
    model: str = "small"
    timeout: float = Field(30.0, gt=0)


Effort = Literal["low", "medium", "high", "xhigh", "max"]
EFFORTS: tuple[Effort, ...] = ("low", "medium", "high", "xhigh", "max")
# The scenario routes, in the order a request is matched against them (gateway/scenarios.py).
ROUTE_NAMES = ("long_context", "images", "thinking", "subagent", "background")


class RouteConfig(_Model):
    """A scenario route: its targets in order, the later ones the fallbacks of the first. A
    target is a role ("big", "small", "opus"), a model, or "backend_id:model", as `big` takes."""

    targets: list[str] = Field(min_length=1)

    @field_validator("targets")
    @classmethod
    def _no_blank(cls, value: list[str]) -> list[str]:
        targets = [t.strip() for t in value]
        if any(not t for t in targets):
            raise ValueError("a route target is empty")
        return targets


class LongContextRoute(RouteConfig):
    """Requests whose prompt is longer than `threshold` tokens; each target is taken only when
    its loaded context window holds the prompt."""

    threshold: int = Field(60_000, ge=1)


class ThinkingRoute(RouteConfig):
    """Requests that ask the model to think: `thinking.type` "enabled" (a budget), or thinking
    on with an effort of at least `min_effort` (Claude Code's `/effort`, ultrathink)."""

    min_effort: Effort = "xhigh"


class BreakerConfig(_Model):
    """A backend that fails `failures` times in a row is skipped for `cooldown` s, then one
    request probes it (gateway/breaker.py)."""

    failures: int = Field(3, ge=1)
    cooldown: float = Field(30.0, gt=0)


class RoutesConfig(_Model):
    """Routes besides big/small/opus, each optional, and the fallbacks of every route."""

    long_context: LongContextRoute | None = None
    images: RouteConfig | None = None  # requests with images → a vision model
    thinking: ThinkingRoute | None = None
    subagent: RouteConfig | None = None  # Claude Code's subagents (x-claude-code-agent-id)
    background: RouteConfig | None = None  # haiku-class side requests: titles, summaries, probes
    # Role ("big", "small", "opus") → the targets tried after it, in order.
    fallbacks: dict[str, list[str]] = Field(default_factory=dict)
    breaker: BreakerConfig = Field(default_factory=BreakerConfig)

    @field_validator("fallbacks")
    @classmethod
    def _roles(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = sorted(set(value) - {"big", "small", "opus"})
        if unknown:
            raise ValueError(f"fallbacks are set per role (big, small, opus), not {unknown}")
        return value

    def configured(self) -> list[tuple[str, RouteConfig]]:
        """The scenario routes that are set, in matching order."""
        found = ((name, getattr(self, name)) for name in ROUTE_NAMES)
        return [(name, route) for name, route in found if route is not None]


class TeamConfig(_Model):
    """Team mode (gateway/team/): client keys live in clients.toml beside this file."""

    # Ask for a client key on loopback too (off loopback it is asked whenever a client exists).
    require_client_keys: bool = False
    # Shared by every replica: threads, limit counters, usage. Also LMGATE_REDIS_URL (keeps a
    # password out of this file) and `lmgate serve --redis`. None: this process and SQLite.
    redis_url: str | None = None


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
    # Backend ids tried in order when this one fails before the first byte (a connection
    # failure, a 5xx, an overload): the same model if they list it, else their first model.
    fallbacks: list[str] = Field(default_factory=list)

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
    # A backend's stream line (an SSE line or event, an NDJSON line) longer than this ends the
    # stream with an error: the rest is neither read nor held.
    max_stream_line_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    # A client must have sent a request's headers this long after it connected (or began
    # the request, on a kept-alive connection), or it is disconnected.
    header_timeout: float = Field(5.0, gt=0)
    # Open client connections; past them a request gets 529 overloaded_error.
    max_connections: int = Field(512, ge=1)
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
    # The desktop app's look ("system" follows the OS's light or dark scheme) and its tray
    # messages (a backend down or back, a needed model unloaded, requests failing); both are
    # the app's alone.
    theme: Literal["system", "light", "dark"] = "system"
    notifications: bool = True
    # Context length to load a model with from the app, by "backend:model" (none: the
    # backend's default).
    load_context: dict[str, int] = Field(default_factory=dict)
    # Named setups the app switches between (backends and models), by name: each holds the
    # values of `app.profiles.PROFILE_FIELDS` as they were saved.
    profiles: dict[str, dict[str, Any]] = Field(default_factory=dict)
    review: ReviewConfig = Field(default_factory=ReviewConfig)
    routes: RoutesConfig = Field(default_factory=RoutesConfig)
    team: TeamConfig = Field(default_factory=TeamConfig)

    @property
    def base_url(self) -> str:
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}"


class ConfigLoad(BaseModel):
    """What `load_config` found: the config, and a message when the file had to be set aside
    or replaced by its backup."""

    config: GatewayConfig
    path: Path
    problem: str | None = None
    # The copy the config was read from when the file itself was missing or unreadable.
    recovered_from: Path | None = None


class Backup(BaseModel):
    """A copy of the config file that a save left beside it, and whether it can be used."""

    path: Path
    config: GatewayConfig | None = None
    error: str | None = None  # why it cannot be used, when `config` is None
    saved_at: float = 0.0


def default_config_path() -> Path:
    # platformdirs honours XDG_CONFIG_HOME on Linux.
    return user_config_path(APP_NAME, appauthor=False) / "config.toml"


def default_log_dir() -> Path:
    return user_log_path(APP_NAME, appauthor=False)


def load_config(path: Path | None = None) -> ConfigLoad:
    """Read the config file. A missing file gives defaults; a corrupt one is renamed aside
    (`config.toml.corrupt-N`), with `problem` saying so. A missing, unreadable or corrupt file
    whose backup (`config.toml.bak`) is whole gives the backup's settings, never defaults, and
    `problem` says so. An unreadable file without a usable backup raises the OSError."""
    path = path or default_config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return _recover(path, f"the config file {path} is missing")
    except OSError as exc:
        recovered = _recover(path, f"the config file {path} cannot be read ({exc.strerror})")
        if recovered.recovered_from is None:
            raise
        return recovered
    try:
        data: dict[str, Any] = tomllib.loads(raw.decode("utf-8"))
        return ConfigLoad(config=GatewayConfig.model_validate(data), path=path)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, ValidationError) as exc:
        aside = _set_aside(path)
        why = f"the config file {path} could not be read ({_first_line(exc)}); "
        return _recover(path, why + f"it was moved to {aside.name}", lost=True)


def find_backup(path: Path) -> Backup | None:
    """The copy of `path` to fall back on: its `.bak` (what the last save replaced) or the
    `config.toml.tmp` that a save killed under an earlier LM Gate left whole, the newest usable
    one first; an unusable one (with its error) when none can be used; None when there is none."""
    found: list[Backup] = []
    for candidate in (backup_path(path), path.with_name(path.name + _LEGACY_TMP)):
        try:
            saved_at = candidate.stat().st_mtime
            data = tomllib.loads(candidate.read_bytes().decode("utf-8"))
            found.append(
                Backup(path=candidate, config=GatewayConfig.model_validate(data), saved_at=saved_at)
            )
        except FileNotFoundError:
            continue
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError, ValidationError) as exc:
            found.append(Backup(path=candidate, error=_first_line(exc)))
    usable = sorted((b for b in found if b.config is not None), key=lambda b: -b.saved_at)
    if usable:
        return usable[0]
    return found[0] if found else None


def recovery_message(path: Path, why: str, backup: Backup | None) -> str | None:
    """What to tell the user when `path` could not be used (`why`), given `find_backup`'s
    answer; None when there is nothing to say (no file and never a backup: a first start).
    When the backup cannot be used either, the caller says what it does instead."""
    if backup is None:
        return None
    if backup.config is None:
        return f"{why}, and its backup {backup.path.name} cannot be read either ({backup.error})"
    saved = time.strftime("%Y-%m-%d %H:%M", time.localtime(backup.saved_at))
    return (
        f"{why}; LM Gate is using the settings in its backup {backup.path.name} (saved "
        f"{saved}), not defaults. Check them, then keep them by copying the backup to "
        f"{path.name} (or by saving any change in the app); delete the backup to start from "
        "defaults instead"
    )


def save_config(config: GatewayConfig, path: Path | None = None) -> Path:
    """Write crash-safely (`atomicfile.write_atomic`), user-only, keeping the previous file as
    `.bak`: at every instant of the save the file holds either the old or the new settings."""
    path = path or default_config_path()
    data = config.model_dump(mode="json", exclude_none=True)
    write_atomic(path, tomli_w.dumps(data))
    # The temporary name an earlier LM Gate used: now older than the file, and never needed again.
    path.with_name(path.name + _LEGACY_TMP).unlink(missing_ok=True)
    return path


def _recover(path: Path, why: str, *, lost: bool = False) -> ConfigLoad:
    backup = find_backup(path)
    message = recovery_message(path, why, backup)
    if backup is not None and backup.config is not None:
        log.warning("%s", message)
        return ConfigLoad(
            config=backup.config, path=path, problem=message, recovered_from=backup.path
        )
    if message is not None:
        message += "; defaults are in use"
    elif lost:
        message = f"{why} and defaults are in use"
    if message is not None:
        log.warning("%s", message)
    return ConfigLoad(config=GatewayConfig(), path=path, problem=message)


def _set_aside(path: Path) -> Path:
    n = 1
    while (aside := path.with_name(f"{path.name}.corrupt-{n}")).exists():
        n += 1
    os.replace(path, aside)
    return aside


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
