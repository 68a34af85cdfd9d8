"""The environment that points Claude Code at the gateway, rendered for the user's shell."""

from __future__ import annotations

import os
import re
import sys
from typing import TYPE_CHECKING

from gateway.config import GatewayConfig
from gateway.errors import GatewayError
from gateway.routing import ROLE_MODELS, resolve

if TYPE_CHECKING:
    from gateway.backends.catalogue import CatalogueSnapshot

__all__ = [
    "COMPACT_WINDOW_MINIMUM",
    "NO_TOKEN",
    "SHELLS",
    "SMALL_WINDOW_MODEL",
    "claude_env",
    "compact_window",
    "default_shell",
    "render",
]

# Claude Code asks the user to log in to Anthropic when no credential is set, so a gateway that
# needs no token still gets a value; it is not a secret.
NO_TOKEN = "lmgate-no-token"
SHELLS = ("bash", "zsh", "fish", "powershell", "cmd")

# Claude Code raises CLAUDE_CODE_AUTO_COMPACT_WINDOW to this floor: 2.1.197 silently
# (`Math.max(1e5, value)`), 2.1.332 with a warning on stderr ("treats it as the 100k minimum").
COMPACT_WINDOW_MINIMUM = 100_000
# Below the floor, only the model's own window can be smaller: CLAUDE_CODE_MAX_CONTEXT_TOKENS,
# which both 2.1.197 and 2.1.332 read for a model they do not recognize, and 2.1.197 only when
# its name does not start with "claude-". The router sends any name containing "sonnet" to the
# big model.
SMALL_WINDOW_MODEL = "lmgate-sonnet"
# Claude Code keeps min(max output, 20k) + 13k tokens free below the window before it compacts
# (2.1.332's /context: "Autocompact buffer: 33k"); a 32k window would compact on every turn.
_OUTPUT_SHARE = 8
_MIN_OUTPUT = 1024

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# cmd expands %VAR% (and !VAR! under delayed expansion) even inside quotes, and a quote inside
# `set "K=v"` ends the quoting early: there is no safe way to carry these.
_CMD_UNSAFE = re.compile(r'["%!\r\n]')
# PowerShell treats the typographic single quotes as quote characters too.
_PS_QUOTES = re.compile("['\u2018\u2019\u201a\u201b]")


def claude_env(
    config: GatewayConfig, *, token: str | None, auto_compact_window: int | None = None
) -> dict[str, str]:
    """The variables to export before starting `claude`, in the order they are shown."""
    env = {
        "ANTHROPIC_BASE_URL": config.base_url,
        "ANTHROPIC_AUTH_TOKEN": token or NO_TOKEN,
        # Without it Claude Code sends its background requests (titles, summaries) to the main
        # model; the router sends any name containing "haiku" to the small model.
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": ROLE_MODELS["small"],
        # The attribution line opens the system prompt and changes between requests, which
        # defeats a local server's prefix cache.
        "CLAUDE_CODE_ATTRIBUTION_HEADER": "0",
        # A 32k-token answer at 15 tokens/s takes 35 minutes; the default 10 minutes cuts it off.
        "API_TIMEOUT_MS": "3000000",
        # Lets `/model` list the backend's models through the gateway's `/v1/models`.
        "CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY": "1",
    }
    if auto_compact_window is not None:
        env.update(_window_env(auto_compact_window))
    return env


def _window_env(window: int) -> dict[str, str]:
    """The backend's real context window, so Claude Code compacts before the model overflows."""
    if window >= COMPACT_WINDOW_MINIMUM:
        return {"CLAUDE_CODE_AUTO_COMPACT_WINDOW": str(window)}
    return {
        "ANTHROPIC_MODEL": SMALL_WINDOW_MODEL,
        "CLAUDE_CODE_MAX_CONTEXT_TOKENS": str(window),
        "CLAUDE_CODE_MAX_OUTPUT_TOKENS": str(max(_MIN_OUTPUT, window // _OUTPUT_SHARE)),
    }


def compact_window(config: GatewayConfig, snapshot: CatalogueSnapshot) -> int | None:
    """The big model's loaded context window (what CLAUDE_CODE_AUTO_COMPACT_WINDOW should say);
    None when the catalogue does not know it."""
    try:
        route = resolve(ROLE_MODELS["big"], config, snapshot.index())
    except GatewayError:
        return None
    model = snapshot.model(route.backend_id, route.model)
    return model.context_window if model is not None else None


def render(env: dict[str, str], shell: str) -> str:
    """Lines that set `env` in `shell` (one of SHELLS), each value quoted for that shell."""
    if shell not in SHELLS:
        raise ValueError(f"unknown shell '{shell}'; choose one of: {', '.join(SHELLS)}")
    lines = []
    for name, value in env.items():
        if not _NAME.fullmatch(name):
            raise ValueError(f"'{name}' is not a valid environment variable name")
        lines.append(_line(name, value, shell))
    return "\n".join(lines)


def _line(name: str, value: str, shell: str) -> str:
    if shell in ("bash", "zsh"):
        return f"export {name}='" + value.replace("'", "'\\''") + "'"
    if shell == "fish":
        # Inside fish single quotes only \\ and \' are escapes.
        return f"set -gx {name} '" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if shell == "powershell":
        return f"$env:{name} = '" + _PS_QUOTES.sub(lambda m: m.group() * 2, value) + "'"
    if _CMD_UNSAFE.search(value):
        raise ValueError(
            f"the value of {name} contains a character cmd cannot carry safely "
            '(", %, !, or a line break); use PowerShell instead'
        )
    # The quotes around K=v keep & | < > ^ and trailing spaces literal.
    return f'set "{name}={value}"'


def default_shell() -> str:
    """The user's shell, guessed from the platform and $SHELL; bash syntax when unsure."""
    if sys.platform == "win32":
        return "powershell"
    name = os.path.basename(os.environ.get("SHELL", "")).lower()
    if name in ("zsh", "fish"):
        return name
    if name in ("pwsh", "powershell"):
        return "powershell"
    # bash, sh, dash, ksh and anything unknown read `export K='v'` alike.
    return "bash"
